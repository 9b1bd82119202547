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

At one thread, when every artifact's backend can share a timing loop (ONNX Runtime), each
round is instead one fresh process timing the artifact and nasc's fixed reference workload
in alternating samples (:func:`nasc.bench.rounds.rounds_beside_reference`, the protocol of
``nasc bench``).  Why: on a shared host a tiny network runs at one of two speeds about 1.6x
apart per process (measured here: 26 or 44 us for one digits network), which fresh-process
rounds do not average away, while the ratio to the reference in one process held within
8%.  Each run then has ``latency_over_reference`` (median of its rounds' ratios), the figure
that compares across sweeps measured at different times, and its ``latency_ms`` is that ratio
times the reference's median over every round of this remeasurement, labelled as such.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import statistics
from pathlib import Path
from typing import Any, Callable, Sequence

from ..fsio import write_json
from ..interleave import interleaved
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


def how(backend: str, rounds: int, threads: int, reference_ms: float | None = None) -> str:
    """The label of a re-measured latency: backend and protocol, and that it came after the sweep."""
    if reference_ms is None:
        return (f"{backend}, measured after the sweep one artifact at a time: median of {rounds} interleaved "
                f"rounds, each a fresh process timing {REPEATS} repeats on {threads} threads")
    return (f"{backend}, measured after the sweep one artifact at a time beside nasc's reference workload: "
            f"{rounds} interleaved rounds, each one fresh process timing the artifact and the reference in "
            f"alternating ~1 ms samples on {threads} thread(s); latency_over_reference = median over rounds of "
            f"the median sample ratio, latency_ms = that ratio x {reference_ms:.4g} ms (the reference's median "
            f"over every round of this remeasurement)")


def _pairable(artifacts: dict[str, Path], threads: int) -> bool:
    """Whether every artifact can be timed beside the reference in one process."""
    from nasc.backends.manifest import load_artifact
    from nasc.bench.paired import pairable

    return threads == 1 and all(pairable(load_artifact(path, verify=False).backend, threads)
                                for path in artifacts.values())


def _measure(out: Path, artifacts: dict[str, Path], rounds: int, threads: int, paired: bool) -> dict[str, Any]:
    """Each artifact's rounds: ``rounds_ms`` always; with ``paired``, the reference's
    ``reference_rounds_ms`` and the rounds' ``rounds_ratio`` too."""
    from nasc.backends import MeasureProtocol
    from nasc.backends.api import measure

    if paired:
        from nasc.bench.reference import materialize
        from nasc.bench.rounds import rounds_beside_reference

        materialize(out / "reference")
        by_name = rounds_beside_reference(artifacts, out / "reference", rounds, threads)
        return {name: {"rounds_ms": [r.artifact_ms for r in rs], "reference_rounds_ms": [r.reference_ms for r in rs],
                       "rounds_ratio": [r.artifact_over_reference for r in rs]} for name, rs in by_name.items()}
    protocol = MeasureProtocol(repeats=REPEATS, isolate=True, threads=threads)
    samples: dict[str, list[float]] = {name: [] for name in artifacts}
    for name in interleaved({name: rounds for name in artifacts}):
        samples[name].append(measure(artifacts[name], protocol).median_ms)
    return {name: {"rounds_ms": ms} for name, ms in samples.items()}


def remeasured(out: Path, runs: Sequence[Run], rounds: int, backend: str,
               say: Callable[[str], None] = lambda _: None, threads: int = 2) -> list[Run]:
    """``runs`` with their measured latencies replaced by the re-measurement on ``threads``
    threads (module docstring); ``rounds`` 0 leaves them as they are."""
    if rounds < 1:
        return list(runs)
    cache = _cached(out)
    artifacts = {r.task.name: run_dir(out, r.task) / "artifact" for r in runs if r.latency_source == "measured"}
    artifacts = {name: path for name, path in artifacts.items() if (path / "manifest.json").is_file()}
    shas = {name: _manifest_sha(path) for name, path in artifacts.items()}
    paired = _pairable(artifacts, threads)
    timing = "paired" if paired else "separate"
    todo = [name for name, sha in shas.items()
            if cache.get(name, {}).get("manifest_sha256") != sha or len(cache[name].get("rounds_ms", [])) != rounds
            or cache[name].get("threads", 2) != threads or cache[name].get("timing", "separate") != timing]
    if todo:
        say(f"remeasuring {len(todo)} artifact(s) one at a time, {rounds} interleaved rounds"
            + (" beside the reference workload" if paired else ""))
        for name, entry in _measure(out, {n: artifacts[n] for n in todo}, rounds, threads, paired).items():
            cache[name] = {"manifest_sha256": shas[name], "threads": threads, "timing": timing, **entry,
                           "median_ms": statistics.median(entry["rounds_ms"]),
                           **({"over_reference": statistics.median(entry["rounds_ratio"])} if paired else {})}
        write_json(out / REMEASURED, cache)
    if not paired:
        label = how(backend, rounds, threads)
        return [dataclasses.replace(r, latency_ms=float(cache[r.task.name]["median_ms"]), latency_how=label,
                                    compile_latency_ms=r.latency_ms)
                if r.task.name in shas else r for r in runs]
    reference_ms = statistics.median(ms for name in shas for ms in cache[name]["reference_rounds_ms"])
    label = how(backend, rounds, threads, reference_ms)
    return [dataclasses.replace(r, latency_ms=float(cache[r.task.name]["over_reference"]) * reference_ms,
                                latency_over_reference=float(cache[r.task.name]["over_reference"]),
                                latency_how=label, compile_latency_ms=r.latency_ms)
            if r.task.name in shas else r for r in runs]


__all__ = ["REMEASURED", "how", "remeasured"]
