"""``front.png``: a sweep's runs on the accuracy/latency plane, drawn from ``front.json``.

Apart from :mod:`.front` so matplotlib is imported only when the picture is drawn.  Each run
is a small dot; each λ its mean with +-1 standard deviation (over seeds) in both directions;
the non-dominated runs joined as the staircase the hypervolume measures.  The latency axis
says whether the figures were measured or predicted, as the runs' reports do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..latency.report_plot import pyplot


def plot_front(doc: Mapping[str, Any], path: Path) -> None:
    """Draw ``doc`` (a :func:`~.front.front_doc`) into ``path``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    try:
        runs = {r["name"]: r for r in doc["runs"]}
        ax.scatter([r["latency_ms"] for r in runs.values()], [r["accuracy"] for r in runs.values()], s=12,
                   color="0.6", label="runs", zorder=2)
        for row in doc["per_lambda"]:
            acc, lat = row["accuracy"], row["latency_ms"]
            ax.errorbar(lat["mean"], acc["mean"], xerr=lat["std"], yerr=acc["std"], fmt="o", capsize=3, zorder=3,
                        label=f"λ = {row['label']} (mean ± std, {acc['n']} seeds)")
        front = [runs[name] for name in doc["front"]]
        if front:
            xs = [r["latency_ms"] for r in front]
            ys = [r["accuracy"] for r in front]
            ax.step(xs, ys, where="post", color="C3", zorder=4, label="non-dominated")
        ref = doc.get("reference")
        if ref:
            ax.axvline(ref["latency_ms"], color="0.8", linestyle=":", zorder=1)
            ax.axhline(ref["accuracy"], color="0.8", linestyle=":", zorder=1,
                       label=f"reference (hypervolume {doc['hypervolume']:.4g})")
        ax.set_xlabel(f"latency on {doc['target']}, ms ({doc.get('latency_source') or 'no runs'})")
        ax.set_ylabel("test accuracy (artifact)")
        ax.set_title(f"{doc['strategy']}: {Path(doc['space']).name}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
