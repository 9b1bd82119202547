"""One stored measurement, timed alone or beside nasc's reference workload.

Why a module of its own: ``nasc profile`` (kernels, archs) and the measuring loop's
:func:`.sources.measure_arch` store local measurements the same way, and a measurement
beside the reference needs the same three things in both -- the check that the two can
share a process, the reference materialized once next to the artifacts, and the record's
``reference_ms`` / ``over_reference`` -- so they live here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError


def check_beside(backend: str, threads: int, remote: bool) -> None:
    """Refuse a measurement beside the reference where the two cannot share one timing
    process: through a tracker, at more than one thread (two runtimes' pools starve each other
    on two cores), or with a backend that cannot be timed in a shared loop."""
    from ..bench.paired import pairable

    if remote:
        raise UsageError("--beside-reference times here, beside nasc's reference workload; a device behind a "
                         "tracker is timed alone")
    if not pairable(backend, threads):
        raise UsageError(f"--beside-reference needs one thread (--threads 1) and a backend that shares a timing "
                         f"loop (onnxruntime, tvm); got {backend} at {threads} thread(s)")


@dataclass(frozen=True)
class Timed:
    """A :class:`nasc.backends.LatencyRecord` and, when timed beside the reference, its label
    (``protocol.beside``) and the stored record's ``reference_ms`` and ``over_reference``."""

    record: Any
    beside: str = ""
    paired: dict[str, float] = field(default_factory=dict)


def timed(artifact: Path, protocol: Any, reference_dir: Path | None = None) -> Timed:
    """One measurement of ``artifact`` with ``protocol`` (a :class:`nasc.backends.MeasureProtocol`):
    alone when ``reference_dir`` is None, else beside the reference workload, materialized in
    ``reference_dir`` the first time (checked against its pinned sha256 each time it is made)."""
    import nasc.backends as nb

    if reference_dir is None:
        return Timed(nb.measure(artifact, protocol))
    from ..bench.paired import beside_reference
    from ..bench.reference import beside_label, materialize

    if not (reference_dir / "manifest.json").is_file():
        materialize(reference_dir)
    pair = beside_reference(artifact, protocol, reference_dir)
    return Timed(pair.records["artifact"], beside_label(),
                 {"reference_ms": pair.records["reference"].median_ms, "over_reference": pair.ratio})


__all__ = ["Timed", "check_beside", "timed"]
