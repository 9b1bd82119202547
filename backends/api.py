"""The functions the CLI and the frontend call (``nasc build`` / ``nasc measure`` / ``nasc targets``).

Everything takes a ``torch.nn.Module`` and named numpy example inputs; turning an Arch
IR into that module is the frontend's job.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .base import Artifact, BuildError, BuildOptions, LatencyRecord, MeasureProtocol, Target
from .integrity import verify_artifact
from .manifest import load_artifact
from .registry import availability, get_backend
from .targets import get_target


def build(model: Any, example_inputs: Mapping[str, np.ndarray], *, out_dir: Path | str,
          target: str | Target = "cpu", backend: str = "auto", options: BuildOptions | None = None,
          protocol: MeasureProtocol | None = None, candidates: Sequence[str] | None = None) -> Artifact:
    """Build ``model`` for ``target`` with ``backend`` into ``out_dir``; returns the artifact
    whose ``manifest.json`` describes it.  ``backend="auto"`` builds ``candidates`` (default:
    the target's backends) and keeps the fastest under ``protocol``."""
    tgt = get_target(target)
    opts = options or BuildOptions()
    if backend == "auto":
        from .auto import build_auto

        return build_auto(model, example_inputs, tgt, opts, Path(out_dir), protocol,
                          list(candidates) if candidates else None)
    impl = get_backend(backend)
    ok, why = impl.available(tgt)
    if not ok:
        from nasc.errors import BackendUnavailable

        raise BackendUnavailable(f"backend '{backend}' is not available for target '{tgt.name}': {why}")
    return impl.build(model, example_inputs, tgt, opts, Path(out_dir))


def tune_kernels(models: Sequence[tuple[Any, Mapping[str, np.ndarray]]], *, target: str | Target = "cpu",
                 backend: str = "tvm", options: BuildOptions) -> dict[str, Any]:
    """Tune the tasks of many models (module, example inputs) into the target's tuning database
    in one run, building nothing; only backends that tune (TVM) offer it.  Returns the run's
    report (tasks, tuned now, already in the database, seconds)."""
    impl = get_backend(backend)
    tune = getattr(impl, "tune", None)
    if tune is None:
        raise BuildError(f"backend '{backend}' has no tuning database to fill")
    report: dict[str, Any] = tune(list(models), get_target(target), options)
    return report


def measure(artifact: Artifact | Path | str, protocol: MeasureProtocol | None = None, *,
            repeats: int | None = None, verify: bool = True) -> LatencyRecord:
    """Time an artifact (or artifact folder) with its own backend, after checking its files
    against the manifest.  ``verify=False`` (or ``protocol.verify=False``) skips the sha256
    check for artifacts edited on purpose; the record's protocol says so."""
    proto = protocol or MeasureProtocol()
    changes: dict[str, Any] = {"verify": proto.verify and verify}
    if repeats is not None:
        changes["repeats"] = repeats
    proto = replace(proto, **changes)
    art = checked(artifact, proto.verify)
    return get_backend(art.backend).measure(art, proto)


def load_and_run(artifact: Artifact | Path | str, inputs: Mapping[str, np.ndarray], *,
                 verify: bool = True) -> list[np.ndarray]:
    """Outputs of the artifact on ``inputs``, after the same check as :func:`measure`."""
    art = checked(artifact, verify)
    return get_backend(art.backend).load_and_run(art, inputs)


def load_runner(artifact: Artifact | Path | str, *, verify: bool = True
                ) -> Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]:
    """A function running the artifact on one input dict, after the same check as
    :func:`measure`; loaded once, so many calls (a test split, sample by sample at the
    artifact's batch size) cost one load.  A backend without ``runner`` loads on every call."""
    art = checked(artifact, verify)
    backend = get_backend(art.backend)
    make = getattr(backend, "runner", None)
    if make is None:
        return lambda inputs: backend.load_and_run(art, inputs)
    run: Callable[[Mapping[str, np.ndarray]], list[np.ndarray]] = make(art)
    return run


def checked(artifact: Artifact | Path | str, verify: bool) -> Artifact:
    """The artifact, verified against its manifest (layout always, sha256 unless ``verify`` is False)."""
    if isinstance(artifact, Artifact):
        return verify_artifact(artifact, contents=verify)
    return load_artifact(artifact, verify=verify)


def describe_targets() -> list[dict[str, Any]]:
    """What ``nasc targets`` prints: every target of the registry with its aliases and its
    backends (and whether each is usable here); a recorded device has none (latency only)."""
    from nasc.targets import TARGETS, aliases_of

    rows = []
    for spec in TARGETS:
        row: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "description": spec.description,
                               "precisions": list(spec.precisions), "device_arch": spec.device_arch,
                               "backends": {}, "aliases": list(aliases_of(spec.name))}
        if spec.buildable:
            t = get_target(spec.name)
            row.update(description=t.description, device_arch=t.device_arch,
                       backends={n: {"available": ok, "reason": why} for n, (ok, why) in availability(t).items()})
        rows.append(row)
    return rows
