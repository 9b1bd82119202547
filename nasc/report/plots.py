"""The report's pictures, drawn from the run's own logs into ``DIR/plots/``.

* ``alpha.png``: each decision's option probabilities (softmax; a ``choose``'s edge weights)
  over the search's epochs (``search/search.jsonl``);
* ``loss.png``: training and validation loss over the search's epochs, and the retraining's
  loss over its epochs (``train/train.jsonl``);
* ``accuracy_latency.png``: accuracy against latency of the candidates the run saw -- each
  round's arch of the measured-latency loop (measured or recorded latency, the supernet's
  validation accuracy), else the supernet at each epoch (expected latency under α, predicted) --
  and the final arch (retrained test accuracy; its latency measured or predicted);
* ``latency_predicted_measured.png``: what the model predicted against what was measured (each
  round's arch, and the final arch when it was measured here), with
  :func:`nasc.latency.report_plot.scatter`.

A picture without data is not drawn (an old one of that name is removed) and its
:class:`Plot` says why, for ``report.md`` to say so.  matplotlib is imported only here and
only when drawing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..latency.report_plot import pyplot, scatter
from .logs import RunLogs

PLOTS_DIR = "plots"
MAX_DECISIONS = 24
"""α panels drawn at most (a larger space's report says how many were left out)."""


@dataclass(frozen=True)
class Plot:
    """One picture: its file relative to the run's folder when drawn, else why it was not."""

    name: str
    title: str
    file: str | None
    why_not: str = ""
    note: str = ""

    def to_record(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "file": self.file, "why_not": self.why_not, "note": self.note}


@dataclass(frozen=True)
class Points:
    """One panel of the predicted-against-measured scatter (:class:`nasc.latency.report_plot.Panel`)."""

    target: str
    backend: str
    keys: Sequence[str]
    measured_ms: np.ndarray
    predicted_ms: Mapping[str, np.ndarray] = field(default_factory=dict)


def _epoch_axis(ax: Any) -> None:
    """Whole epochs on the x axis."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)


def draw_alpha(report: Mapping[str, Any], logs: RunLogs, path: Path) -> str:
    """α of every decision (at most :data:`MAX_DECISIONS`) over the epochs; returns a note."""
    plt = pyplot()
    decisions = report.get("alpha", {}).get("decisions", {})
    paths = [p for p in decisions if any(p in r.get("alpha", {}) for r in logs.search)][:MAX_DECISIONS]
    cols = min(4, len(paths))
    rows = math.ceil(len(paths) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat[len(paths):]:
        ax.set_visible(False)
    for ax, p in zip(axes.flat, paths):
        d = decisions[p]
        epochs = [r["epoch"] + 1 for r in logs.search if p in r.get("alpha", {})]
        series = np.array([r["alpha"][p] for r in logs.search if p in r.get("alpha", {})])
        for i, label in enumerate(d["labels"][:series.shape[1]]):
            ax.plot(epochs, series[:, i], marker="o" if len(epochs) < 12 else None, markersize=3, label=label)
        ax.set_ylim(0, 1)
        ax.set_title(f"{p} -> {d['chosen']}" if d.get("chosen") else p, fontsize=9)
        ax.set_xlabel("search epoch", fontsize=8)
        _epoch_axis(ax)
        ax.set_ylabel("edge weight" if d.get("kind") == "choose" else "softmax probability", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="best")
    _save(fig, path)
    left = len(decisions) - len(paths)
    return f"{left} more decisions are in report.json's alpha table" if left > 0 else ""


def draw_loss(report: Mapping[str, Any], logs: RunLogs, path: Path) -> str:
    """Search losses (train and validation) and the retraining's loss, side by side."""
    plt = pyplot()
    panels = [p for p in ("search", "train") if getattr(logs, p)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for ax, which in zip(axes[0], panels):
        records = getattr(logs, which)
        epochs = [r["epoch"] + 1 for r in records]
        marker = "o" if len(epochs) < 12 else None
        ax.plot(epochs, [r["train_loss"] for r in records], marker=marker, label="train loss")
        if which == "search":
            ax.plot(epochs, [r["val_loss"] for r in records], marker=marker, label="validation loss")
            ax.set_title("search (supernet)")
        else:
            ax.set_title("retraining (train + validation splits)")
        ax.set_xlabel("epoch")
        _epoch_axis(ax)
        ax.set_ylabel("cross-entropy")
        ax.legend(fontsize=8)
    _save(fig, path)
    return "" if logs.train else "the retraining logged no epochs (train/train.jsonl is missing or empty)"


def _final_point(report: Mapping[str, Any]) -> tuple[float, float, str] | None:
    """The final arch: (latency ms, test accuracy, which latency) -- measured when it was."""
    figures = report.get("latency_figures", {})
    acc = report.get("accuracy", {}).get("fp32")
    figure = figures.get("measured") or figures.get("predicted")
    if acc is None or not figure:
        return None
    return figure["median_ms"], acc, figure["source"]


def draw_accuracy_latency(report: Mapping[str, Any], logs: RunLogs, path: Path) -> str:
    """Accuracy against latency of the candidates seen (module docstring); returns a note."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    notes = []
    rounds = [r for r in logs.rounds if r.get("measured_ms") is not None and logs.round_searches.get(r["round"])]
    if rounds:
        xs = [r["measured_ms"] for r in rounds]
        ys = [logs.round_searches[r["round"]][-1]["val_acc"] for r in rounds]
        ax.scatter(xs, ys, marker="s", label=f"each round's arch: {rounds[0].get('source', 'measured')} latency, "
                   "supernet validation accuracy")
        for r, x, y in zip(rounds, xs, ys):
            ax.annotate(f"r{r['round']}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        probes = sum(len(r.get("probed", [])) for r in logs.rounds)
        if probes:
            notes.append(f"{probes} probe archs the loop measured have no accuracy and are not drawn")
    else:
        epochs = [r for r in logs.search if r.get("expected", {}).get("latency_s") is not None]
        if epochs:
            source = epochs[-1]["expected"].get("latency_source", "predicted")
            ax.plot([r["expected"]["latency_s"] * 1e3 for r in epochs], [r["val_acc"] for r in epochs],
                    marker="o", markersize=3, label="supernet per search epoch: expected latency under alpha "
                    "(predicted), validation accuracy")
            notes.append(f"the supernet's expected latency is {source}")
    final = _final_point(report)
    if final is not None:
        ax.scatter([final[0]], [final[1]], marker="*", s=160, color="C3",
                   label=f"final arch: {final[2]} latency, retrained test accuracy")
    ax.set_xlabel("latency (ms): measured or predicted, as the legend says")
    ax.set_ylabel("accuracy (which one: see the legend)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, loc="best")
    _save(fig, path)
    return "; ".join(notes)


def prediction_panels(report: Mapping[str, Any], logs: RunLogs) -> list[Points]:
    """Predicted-against-measured panels: the loop's rounds, and the final arch when measured here."""
    panels = []
    rounds = [r for r in logs.rounds if r.get("measured_ms") is not None and r.get("predicted_ms") is not None]
    if rounds:
        budget = report.get("latency_budget") or {}
        panels.append(Points(budget.get("target", "budget's target"), f"loop, {rounds[0].get('source', 'measured')}",
                             [f"round {r['round']}" for r in rounds], np.array([r["measured_ms"] for r in rounds]),
                             {"each round's model": np.array([r["predicted_ms"] for r in rounds])}))
    figures = report.get("latency_figures", {})
    measured, predicted = figures.get("measured"), figures.get("predicted")
    if measured and predicted:
        panels.append(Points(figures.get("target", ""), report.get("backend", ""), ["final arch"],
                             np.array([measured["median_ms"]]),
                             {predicted["model"]: np.array([predicted["median_ms"]])}))
    return panels


def draw_predicted_measured(report: Mapping[str, Any], logs: RunLogs, path: Path) -> str:
    scatter(prediction_panels(report, logs), path, ylabel="predicted (ms), before the measurement")
    return "the grey band is +-10% of the measured latency"


@dataclass(frozen=True)
class Spec:
    """A picture: its name and title, whether the run has its data (None) or why not, and how to draw it."""

    name: str
    title: str
    missing: Callable[[Mapping[str, Any], RunLogs], str | None]
    draw: Callable[[Mapping[str, Any], RunLogs, Path], str]


def _no_search(report: Mapping[str, Any], logs: RunLogs) -> str | None:
    return None if logs.search else "the search logged no epoch (search/search.jsonl is missing or empty)"


def _no_alpha(report: Mapping[str, Any], logs: RunLogs) -> str | None:
    if not logs.search:
        return _no_search(report, logs)
    return None if report.get("alpha", {}).get("decisions") else "the space has no decision to search"


def _no_candidates(report: Mapping[str, Any], logs: RunLogs) -> str | None:
    seen = any(r.get("expected", {}).get("latency_s") is not None for r in logs.search) or logs.rounds
    return None if seen or _final_point(report) else "the run holds no latency with an accuracy"


def _no_measurement(report: Mapping[str, Any], logs: RunLogs) -> str | None:
    if prediction_panels(report, logs):
        return None
    why = report.get("latency_figures", {}).get("not_measured", "")
    return "nothing was measured in this run" + (f": {why}" if why else "")


SPECS = (
    Spec("alpha", "Architecture parameters (alpha) per decision over the search", _no_alpha, draw_alpha),
    Spec("loss", "Loss over epochs", _no_search, draw_loss),
    Spec("accuracy_latency", "Accuracy against latency of the candidates seen", _no_candidates,
         draw_accuracy_latency),
    Spec("latency_predicted_measured", "Predicted against measured latency", _no_measurement,
         draw_predicted_measured),
)


def draw_plots(out: Path, report: Mapping[str, Any], logs: RunLogs) -> list[Plot]:
    """Every picture of :data:`SPECS` that the run has data for, into ``out/plots/``."""
    plots = []
    for spec in SPECS:
        rel = f"{PLOTS_DIR}/{spec.name}.png"
        path = out / rel
        why = spec.missing(report, logs)
        if why is not None:
            path.unlink(missing_ok=True)  # a picture of an earlier run would claim this one's data
            plots.append(Plot(spec.name, spec.title, None, why))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        plots.append(Plot(spec.name, spec.title, rel, note=spec.draw(report, logs, path)))
    return plots


__all__ = ["PLOTS_DIR", "Plot", "Points", "SPECS", "draw_plots", "prediction_panels"]
