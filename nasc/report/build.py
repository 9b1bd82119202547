"""``report.json``: what a compile produced and how far each figure can be trusted.

Built at the end of ``nasc compile`` from compile's own result (whose keys stay as they
were: scripts read them) and from the run's files -- the search's log and summary, the
retraining's metrics -- plus what only the run knows: the space, the arch, the experiment and
the latency store.  Every latency carries its source: measured (backend, repeats, where) or
predicted (which model, and its error when something of the target was measured).  The
predicted figure is given even when the arch was measured, so that a reader sees how far off
the model is on this very arch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..ir.cost import arch_cost
from ..ir.notation import space_hash
from ..latency.host import host_fingerprint
from ..latency.model import network_latency, prediction_label
from ..latency.resolve import LatencyModels
from ..search.data import dataset_fingerprint, load_dataset
from ..targets import resolve_target
from .budget import EXACT, Figure, budget_status
from .logs import SEARCH_LOG, read_json, read_jsonl

if TYPE_CHECKING:
    from ..api import Compiled
    from ..ir.space import ConstraintSpec, SearchSpace

FORMAT = "nasc-report/1"


@dataclass(frozen=True)
class RunFacts:
    """What the report needs that the run's files do not hold: the searched space, the arch
    it found, the experiment's settings, the target (canonical name), the latency store the
    models come from, and the note saying which board an alias of the target stood for."""

    space: "SearchSpace"
    arch: "Compiled"
    cfg: dict[str, Any]
    target: str
    store: Path | None
    target_note: str | None = None


def measured_figure(latency: dict[str, Any]) -> dict[str, Any] | None:
    """compile's latency when it was measured, with where (this host) and how; None when predicted."""
    if latency.get("source") == "predicted":
        return None
    where = latency.get("where") or (f"this machine ({host_fingerprint()})" if latency.get("source") == "measured"
                                     else "")
    how = ", ".join(part for part in (latency.get("backend"), f"median of {latency['repeats']} repeats"
                                      if latency.get("repeats") else None, latency.get("how"), where) if part)
    return {"median_ms": latency["median_ms"], "p90_ms": latency.get("p90_ms"), "source": latency.get("source"),
            "how": how}


def predicted_figure(arch: "SearchSpace", target: str, store: Path | None,
                     measured_ms: float | None) -> dict[str, Any]:
    """The target's latency model on the arch (the figure compile reports for a target it cannot
    measure), with the model's error on this arch when it was measured."""
    model = LatencyModels(arch, store)(target)
    ms = network_latency(model, arch) * 1e3
    error = ms / measured_ms - 1 if measured_ms else None
    return {"median_ms": ms, "source": "predicted", "model": model.name, "how": prediction_label(model),
            "error_vs_measured": error}


def latency_figures(base: dict[str, Any], arch: "SearchSpace", facts: RunFacts) -> dict[str, Any]:
    """Measured and predicted latency of the arch on the compile's target, each with its source."""
    measured = measured_figure(base["latency"])
    figures: dict[str, Any] = {
        "target": facts.target, "measured": measured,
        "predicted": predicted_figure(arch, facts.target, facts.store, measured["median_ms"] if measured else None)}
    if measured is None:
        figures["not_measured"] = base["latency"].get("how", "")
    return figures


def _latency_on(base: dict[str, Any], figures: dict[str, Any], summary: dict[str, Any], arch: "SearchSpace",
                facts: RunFacts) -> Callable[["ConstraintSpec"], Figure]:
    """The arch's latency figure on any target, best first: measured by this compile, measured
    by the loop on its budget's device, predicted by the search (its summary), predicted now."""
    checks = {c.get("constraint"): c for c in summary.get("constraints", []) if isinstance(c, dict)}
    loop = base.get("latency_budget") or {}

    def on(c: "ConstraintSpec") -> Figure:
        name = resolve_target(c.target or "cpu").name
        measured = figures["measured"]
        if name == facts.target and measured is not None:
            return Figure(measured["median_ms"] / 1e3, measured["source"], measured["how"])
        if loop.get("target") == name and loop.get("median_ms") is not None:
            return Figure(loop["median_ms"] / 1e3, loop["source"],
                          f"{loop.get('how', '')}; round {loop.get('round')} of the measured-latency loop")
        check = checks.get(c.describe())
        if check is not None and check.get("value") is not None:
            return Figure(float(check["value"]), "predicted", f"by the search: {check.get('source', '')}")
        p = predicted_figure(arch, name, facts.store, None)
        return Figure(p["median_ms"] / 1e3, "predicted", p["how"])

    return on


def accuracy_of(base: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """Accuracy before and after the optimization passes: compile's own figures when an opt
    stage gave them, else the retrained arch's test accuracy and no passes."""
    given = base.get("accuracy")
    if isinstance(given, dict):
        return dict(given)
    return {"fp32": base.get("test_accuracy", metrics.get("test_accuracy")),
            "fp32_source": "the retrained arch on the held-out test split (train/metrics.json)",
            "after_passes": None, "after_passes_source": "no optimization passes ran",
            "test_samples": metrics.get("test_samples"), "tolerance_points": None}


def alpha_table(records: list[dict[str, Any]], space: "SearchSpace", chosen: dict[str, str]) -> dict[str, Any]:
    """The last search epoch's α, per decision: its kind, option labels, probabilities (softmax
    over a choice's options; a ``choose``'s edge weights) and the option the arch took."""
    if not records:
        return {"epoch": None, "decisions": {}}
    last = records[-1]
    table: dict[str, Any] = {}
    for path, probs in last.get("alpha", {}).items():
        try:
            d = space.decision(path)
            kind, labels = d.kind, list(d.labels)
        except KeyError:
            kind, labels = "oneof", []
        if len(labels) != len(probs):
            labels = [str(i) for i in range(len(probs))]
        table[path] = {"kind": kind, "labels": labels, "probs": probs, "chosen": chosen.get(path)}
    return {"epoch": last.get("epoch"), "decisions": table}


def provenance(base: dict[str, Any], facts: RunFacts, summary: dict[str, Any]) -> dict[str, Any]:
    """Versions, seeds, the data as used (its fingerprint), the space's and the arch's hashes."""
    from nasc.backends.manifest import library_versions

    cfg = facts.cfg
    seed = int(cfg["seed"])
    data = load_dataset(cfg["dataset"], cfg["split"], seed)
    return {"library_versions": library_versions(),
            "seeds": {"seed": seed, "used_for": "the dataset split, the search (weights, alpha, batch order), "
                      "the retraining and the build's example inputs"},
            "dataset": {"spec": cfg["dataset"], "split": dict(cfg["split"]), "sha256": dataset_fingerprint(data),
                        "samples": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
                        "fingerprint_of": "every split's samples and labels in order, as this seed splits them"},
            "space_hash": space_hash(facts.space), "arch_sha256": summary.get("arch_sha256")}


def build_report(out: Path, base: dict[str, Any], facts: RunFacts) -> dict[str, Any]:
    """compile's result ``base`` with everything above added (see docs/report.md for the fields)."""
    arch = facts.arch.elaborate()
    cost = arch_cost(arch.graph.prune(), arch.ops)
    summary = read_json(out / "search" / "summary.json")
    metrics = read_json(out / "train" / "metrics.json")
    records = read_jsonl(out / "search" / SEARCH_LOG)
    figures = latency_figures(base, arch, facts)
    on = _latency_on(base, figures, summary, arch, facts)
    budgets, others = budget_status(facts.space, cost, on)
    last = records[-1] if records else {}
    report = {**base, "format": FORMAT, "target_note": facts.target_note,
              "accuracy": accuracy_of(base, metrics),
              "search_accuracy": {"val_acc": last.get("val_acc"), "epoch": last.get("epoch"),
                                  "source": "the supernet on the validation split at the search's last epoch "
                                            "(not the arch's accuracy)"} if last else None,
              "cost": {"params": cost.params, "macs": cost.macs, "peak_memory_bytes": cost.peak_memory,
                       "source": EXACT},
              "latency_figures": figures, "budgets": budgets, "other_constraints": others,
              "passes": base.get("passes"), "alpha": alpha_table(records, facts.space, summary.get("decisions", {})),
              "search": {"algo": facts.cfg["search"]["algo"], "epochs": len(records),
                         "stopped_early_at": summary.get("stopped_early_at"), "seconds": summary.get("seconds")},
              "provenance": provenance(base, facts, summary)}
    return report


__all__ = ["FORMAT", "RunFacts", "build_report", "latency_figures", "measured_figure", "predicted_figure"]
