"""One ``nasc bench`` measurement as a result document, and its verdict against a baseline.

The figure is ``artifact_over_reference``: the artifact's latency over the fixed
reference workload's (:mod:`nasc.bench.reference`), both measured in the same run
(:mod:`nasc.bench.rounds`).  Above 1 the artifact is slower than the reference.  A
uniformly slower or faster machine moves both latencies alike and leaves the ratio;
contention that hits one runtime more than the other (a neighbour pinning one core while
a 2-thread pool waits on it) does not cancel, which is what the tolerance absorbs.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from nasc.backends.hostinfo import cpu_count, cpu_model_name
from nasc.backends.integrity import MANIFEST, sha256_file
from nasc.backends.manifest import library_versions, load_artifact
from nasc.backends.procs import owned_tempdir
from nasc.backends.timing import host_load

from . import reference
from .baseline import Baseline
from .rounds import ARTIFACT, REFERENCE, BenchProtocol, BenchRun, run_rounds

RESULT_FORMAT = "nasc-bench-result/1"
FIGURE = ("artifact_over_reference = the artifact's latency / the reference workload's latency, both measured "
          "in this run (above 1: the artifact is slower than the reference)")


NOISE_FACTOR = 2.0
"""A run whose rounds spread (max - min over median of their ratios) more than this many
tolerances cannot support a verdict at that tolerance: it is inconclusive, not a regression.
Why: on a shared host a network of tens of microseconds runs at one of two levels per fresh
process (measured here: 0.045 against 0.068-0.073 ms for the demo artifact, the reference
steady), and seven rounds then put the median ratio at whichever level most of them drew --
28% above the baseline in one run with no code changed.  A real regression moves every round
and leaves the spread as it was."""


@dataclass(frozen=True)
class Verdict:
    """A figure judged against a baseline: whether it regressed, by how much, whether the run
    was too noisy to tell, and the one line that says so (figure, baseline, tolerance)."""

    regressed: bool
    change_pct: float
    reason: str
    inconclusive: bool = False

    @property
    def word(self) -> str:
        return _word(self.regressed, self.inconclusive)


def _word(regressed: bool, inconclusive: bool) -> str:
    return "inconclusive" if inconclusive else "regression" if regressed else "ok"


def judge(figure: float, baseline: Baseline, tolerance_pct: float, spread: float = 0.0) -> Verdict:
    """Regressed when ``figure`` exceeds the baseline's figure by more than ``tolerance_pct``;
    inconclusive (neither) when the run's own ``spread`` exceeds :data:`NOISE_FACTOR`
    tolerances."""
    change = (figure / baseline.artifact_over_reference - 1) * 100
    noisy = spread * 100 > NOISE_FACTOR * tolerance_pct
    regressed = change > tolerance_pct and not noisy
    direction = "above" if change >= 0 else "below"
    reason = (f"{_word(regressed, noisy)}: artifact_over_reference {figure:.4f} is {abs(change):.1f}% {direction} the "
              f"baseline's {baseline.artifact_over_reference:.4f} (tolerance +{tolerance_pct:g}%, baseline "
              f"{baseline.path})")
    if noisy:
        reason += (f"; but this run's rounds spread {spread:.0%}, more than {NOISE_FACTOR:g} tolerances: the machine "
                   "did not repeat its measurements well enough for a verdict (run again on a steadier machine)")
    return Verdict(regressed, change, reason, noisy)


def compare(result: dict[str, Any], baseline: Baseline, tolerance_pct: float) -> dict[str, Any]:
    """The ``comparison`` section of a result judged against ``baseline``: the verdict and its
    reason, and whether the artifact and the CPU are the baseline's (informative only)."""
    verdict = judge(result["artifact_over_reference"], baseline, tolerance_pct, result["spread"])
    return {"baseline": str(baseline.path), "baseline_date": baseline.date,
            "baseline_artifact_over_reference": baseline.artifact_over_reference, "tolerance_pct": tolerance_pct,
            "change_pct": verdict.change_pct, "verdict": verdict.word,
            "reason": verdict.reason,
            "same_artifact": baseline.artifact_files_sha256 == result["artifact"]["files_sha256"],
            "baseline_cpu": baseline.cpu, "same_cpu": baseline.cpu == result["host"]["cpu"]}


def artifact_identity(art_dir: Path) -> dict[str, Any]:
    """What identifies the artifact: backend, target, precision, inputs and hashes.  Its
    files are checked against the manifest here, before anything else reads them.

    ``files_sha256`` hashes the manifest's list of files with their sha256s: two compiles of
    the same arch and weights give the same files while their manifests differ (the paths
    of the run folder, the build's own timings), so it is what says "the same artifact"."""
    art = load_artifact(art_dir, verify=True)
    listing = "".join(f"{name} {digest}\n" for name, digest in sorted(art.files.items()))
    return {"backend": art.backend, "target": art.target, "precision": art.precision,
            "input_shapes": {k: list(v) for k, v in art.input_shapes.items()}, "entry": art.entry,
            "files_sha256": hashlib.sha256(listing.encode()).hexdigest(),
            "manifest_sha256": sha256_file(art_dir / MANIFEST)}


def _host(load_at_start: float | None) -> dict[str, Any]:
    return {"cpu": cpu_model_name(), "cores": cpu_count(), "machine": platform.machine(),
            "system": platform.system(), "load_1min": {"start": load_at_start, "end": host_load()}}


def _side(run: BenchRun, side: str, identity: dict[str, Any]) -> dict[str, Any]:
    rec = run.records[side]
    return {**identity, "median_ms": run.median_ms(side), "source": rec.source,
            "how": f"{rec.how}, median of the rounds' medians", "per_process": run.per_process[side]}


def conditions(identity: dict[str, Any], protocol: BenchProtocol) -> dict[str, Any]:
    """The sections of a result document known before timing (what a baseline is checked against)."""
    return {"artifact": identity, "reference": reference.identity(), "protocol": protocol.to_dict()}


def measure(art_dir: Path, identity: dict[str, Any], protocol: BenchProtocol,
            progress: TextIO | None = None) -> dict[str, Any]:
    """Time the artifact (``identity``: :func:`artifact_identity`) and the reference in
    interleaved rounds; the result document."""
    load = host_load()
    with owned_tempdir("bench") as tmp:
        ref_art = reference.materialize(tmp / "reference")
        run = run_rounds({ARTIFACT: art_dir, REFERENCE: ref_art.dir}, protocol, progress)
    notes = []
    if identity["backend"] != reference.BACKEND:
        notes.append(f"the reference ran on {reference.BACKEND}, the artifact on {identity['backend']}: the ratio "
                     "also holds the two runtimes' difference")
    return {"format": RESULT_FORMAT, "artifact_over_reference": run.artifact_over_reference, "figure": FIGURE,
            "spread": run.spread, "spread_is": "(max - min) / median of the rounds' artifact_over_reference",
            "artifact": _side(run, ARTIFACT, identity), "reference": _side(run, REFERENCE, reference.identity()),
            "protocol": protocol.to_dict(), "rounds": [r.to_dict() for r in run.rounds], "notes": notes,
            "versions": library_versions(["numpy", "onnx", "onnxruntime", "torch", "apache-tvm", "nasc"]),
            "host": _host(load), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
