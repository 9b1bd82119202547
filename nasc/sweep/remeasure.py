"""Every run's artifact measured again after the sweep, one at a time, in interleaved rounds.

Why: a task measures its artifact inside its own compile, while the other CPUs run the next
tasks' searches and retrainings.  At tens of microseconds per call, that neighbour moves a
latency by tens of percent (a run of one λ and seed measured 25.8 µs in one sweep and 18.0 µs
in the next), more than the λ values move it -- and a front is only as good as the
comparability of its points.  After the tasks (Ray shut down, nothing else of the sweep
running), each run's artifact is timed in a fresh process, one after the other, for
``rounds`` rounds whose order rotates, as ``nasc bench`` times its pair; a run's latency is
the median of its rounds' medians, stated as such, and the compile's own figure is kept
beside it.

What is remeasured: runs whose report says ``measured`` (on this host).  A recorded or
predicted latency is left as the report states it.  Results are kept in
``DIR/remeasured.json`` per run, keyed by the artifact manifest's sha256, so a resumed sweep
measures only runs it has not measured yet (or whose artifact changed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import statistics
from pathlib import Path
from typing import Any, Callable, Sequence

from ..fsio import write_json
from ..latency.rounds import interleaved
from .front import Run
from .plan import run_dir

REMEASURED = "remeasured.json"
REPEATS = 30


def _manifest_sha(artifact: Path) -> str:
    return hashlib.sha256((artifact / "manifest.json").read_bytes()).hexdigest()


def _cached(out: Path) -> dict[str, Any]:
    try:
        doc = json.loads((out / REMEASURED).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def how(backend: str, rounds: int, threads: int) -> str:
    """The label of a re-measured latency: backend and protocol, and that it came after the sweep."""
    return (f"{backend}, measured after the sweep one artifact at a time: median of {rounds} interleaved rounds, "
            f"each a fresh process timing {REPEATS} repeats on {threads} threads")


def remeasured(out: Path, runs: Sequence[Run], rounds: int, backend: str,
               say: Callable[[str], None] = lambda _: None, threads: int = 2) -> list[Run]:
    """``runs`` with their measured latencies replaced by the re-measurement on ``threads``
    threads (module docstring); ``rounds`` 0 leaves them as they are."""
    from nasc.backends import MeasureProtocol
    from nasc.backends.api import measure

    if rounds < 1:
        return list(runs)
    protocol = MeasureProtocol(repeats=REPEATS, isolate=True, threads=threads)
    cache = _cached(out)
    artifacts = {r.task.name: run_dir(out, r.task) / "artifact" for r in runs if r.latency_source == "measured"}
    shas = {name: _manifest_sha(path) for name, path in artifacts.items() if (path / "manifest.json").is_file()}
    todo = [name for name, sha in shas.items()
            if cache.get(name, {}).get("manifest_sha256") != sha or len(cache[name].get("rounds_ms", [])) != rounds
            or cache[name].get("threads", 2) != threads]
    if todo:
        say(f"remeasuring {len(todo)} artifact(s) one at a time, {rounds} interleaved rounds")
    samples: dict[str, list[float]] = {name: [] for name in todo}
    for name in interleaved({name: rounds for name in todo}):
        samples[name].append(measure(artifacts[name], protocol).median_ms)
    for name in todo:
        cache[name] = {"manifest_sha256": shas[name], "threads": threads, "rounds_ms": samples[name],
                       "median_ms": statistics.median(samples[name])}
    if todo:
        write_json(out / REMEASURED, cache)
    label = how(backend, rounds, protocol.threads)
    return [dataclasses.replace(r, latency_ms=float(cache[r.task.name]["median_ms"]), latency_how=label,
                                compile_latency_ms=r.latency_ms)
            if r.task.name in shas else r for r in runs]


__all__ = ["REMEASURED", "how", "remeasured"]
