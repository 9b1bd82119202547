"""Gathering a sweep's finished runs into ``front.json``.

Every figure is read from the run's own ``report.json``, never recomputed: the accuracy is
the artifact's test accuracy after the passes (what is deployed, the thing whose latency
was measured), the latency is the report's figure with its source label and ``how``, as
the report states them.  Runs whose latency came from different sources (measured here vs
predicted) are not put on one plane: the front is drawn over the runs of the most common
source, and the others are listed as left out, with the reason.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .hypervolume import Point, Reference, hypervolume, non_dominated, reference_for
from .plan import SweepPlan, TaskSpec, lambda_text, run_dir
from .tasks import REPORT, finished

FRONT = "front.json"


@dataclass(frozen=True)
class Run:
    """One finished run as the front sees it."""

    task: TaskSpec
    accuracy: float
    accuracy_source: str
    latency_ms: float
    latency_source: str
    latency_how: str
    params: int
    macs: int
    arch: str
    compile_latency_ms: float | None = None  # the compile's own figure, when the latency was measured again
    latency_over_reference: float | None = None  # timed beside nasc's reference workload (sweep.remeasure)

    @property
    def point(self) -> Point:
        return Point(self.accuracy, self.latency_ms)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.task.name, "lambda": self.task.lam, "seed": self.task.seed, "index": self.task.index,
                "accuracy": self.accuracy, "accuracy_source": self.accuracy_source,
                "latency_ms": self.latency_ms, "latency_source": self.latency_source, "latency_how": self.latency_how,
                "params": self.params, "macs": self.macs, "arch": self.arch,
                **({"latency_ms_in_compile": self.compile_latency_ms} if self.compile_latency_ms is not None else {}),
                **({"latency_over_reference": self.latency_over_reference}
                   if self.latency_over_reference is not None else {})}


def read_run(out: Path, task: TaskSpec) -> Run | None:
    """The run of ``task`` if it finished (None otherwise)."""
    run = run_dir(out, task)
    if not finished(run):
        return None
    doc = json.loads((run / REPORT).read_text())
    lat, acc = doc["latency"], doc.get("accuracy") or {}
    return Run(task, float(acc.get("after_passes", doc["test_accuracy"])),
               str(acc.get("after_passes_source", "the retrained model")), float(lat["median_ms"]),
               str(lat["source"]), _how(doc), int(doc["params"]), int(doc["macs"]),
               str((run / "search" / "arch.nas").relative_to(out)))


def _how(report: dict[str, Any]) -> str:
    """How the report's latency was obtained, in its fullest form (backend, protocol, host)."""
    lat = report["latency"]
    figure = (report.get("latency_figures") or {}).get(lat["source"]) or {}
    return str(figure.get("how") or f"{lat.get('backend', '')}, {lat.get('how', '')}")


def gather(out: Path, tasks: Sequence[TaskSpec]) -> list[Run]:
    """Every finished run of ``tasks``, in task order."""
    return [r for r in (read_run(out, t) for t in tasks) if r is not None]


def comparable(runs: Sequence[Run]) -> tuple[list[Run], list[dict[str, str]], str | None]:
    """The runs of the most common latency source, the others (with why), and that source."""
    if not runs:
        return [], [], None
    source = Counter(r.latency_source for r in runs).most_common(1)[0][0]
    kept = [r for r in runs if r.latency_source == source]
    left = [{"name": r.task.name, "why": f"latency {r.latency_source}, the front's is {source}"}
            for r in runs if r.latency_source != source]
    return kept, left, source


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def per_lambda(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation over seeds of each λ's accuracy and latency."""
    lams = sorted({r.task.lam for r in runs if r.task.lam is not None})
    rows = []
    for lam in lams:
        mine = [r for r in runs if r.task.lam == lam]
        rows.append({"lambda": lam, "label": lambda_text(lam), "seeds": [r.task.seed for r in mine],
                     "accuracy": _mean_std([r.accuracy for r in mine]),
                     "latency_ms": _mean_std([r.latency_ms for r in mine])})
    return rows


def front_doc(plan: SweepPlan, runs: Sequence[Run], reference: Reference | None = None) -> dict[str, Any]:
    """The front of ``runs``: every run, per λ statistics, the non-dominated set and its
    hypervolume under ``reference`` (default: :func:`~.hypervolume.reference_for` of the runs
    compared, with the sweep's latency budget)."""
    kept, left, source = comparable(runs)
    if plan.latency_budget_ms is not None:
        over = [r for r in kept if r.latency_ms > plan.latency_budget_ms]
        left += [{"name": r.task.name, "why": f"latency {r.latency_ms:.4g} ms is over the budget "
                                              f"{plan.latency_budget_ms:g} ms"} for r in over]
        kept = [r for r in kept if r not in over]
    points = [r.point for r in kept]
    ref = reference or (reference_for(points, plan.latency_budget_ms) if points else None)
    doc: dict[str, Any] = {
        "strategy": plan.strategy, "space": plan.space, "target": plan.target,
        "objectives": {"accuracy": "maximize: the artifact's test accuracy after the passes, from each run's report",
                       "latency_ms": "minimize: each run's reported latency, with its source"},
        "latency_source": source,
        "latency_budget_ms": plan.latency_budget_ms,
        "runs": [r.to_dict() for r in runs],
        "left_out": left,
        "per_lambda": per_lambda(kept),
        "front": [kept[i].task.name for i in non_dominated(points)],
        "hypervolume": hypervolume(points, ref) if ref is not None else None,
        "hypervolume_units": "accuracy (share) x ms",
        "reference": ref.to_dict() if ref is not None else None,
    }
    return doc
