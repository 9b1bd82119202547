"""``scatter.png`` of ``nasc latency report``: predicted against measured, log-log.

Apart from :mod:`.report` so that matplotlib (slow to import, and drawing needs a backend
without a display) is loaded only when a picture is drawn.  One panel per target and
backend, one colour per model, the line predicted = measured with the +-10% band around it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from .robust_fit import TOLERANCE



class Panel(Protocol):
    """What one panel draws (:class:`nasc.latency.report.Group` is one): a target and backend,
    the measured latencies of its archs and each model's predictions of them."""

    @property
    def target(self) -> str: ...

    @property
    def backend(self) -> str: ...

    @property
    def keys(self) -> Sequence[str]: ...

    @property
    def measured_ms(self) -> np.ndarray: ...

    @property
    def predicted_ms(self) -> Mapping[str, np.ndarray]: ...


def pyplot() -> Any:
    """``matplotlib.pyplot`` drawing to files only (no display on a build machine)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def scatter(groups: Sequence[Panel], path: Path, ylabel: str = "predicted (ms), cross-validated") -> None:
    """One panel per group: each model's predictions against the measured latencies; ``ylabel``
    says what the predictions are (cross-validated, or made before the measurement)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 5), squeeze=False)
    for ax, g in zip(axes[0], groups):
        values = [g.measured_ms] + [p[np.isfinite(p)] for p in g.predicted_ms.values()]
        positive = np.concatenate(values)
        positive = positive[positive > 0]
        lo, hi = float(positive.min()) / 1.5, float(positive.max()) * 1.5
        line = np.geomspace(lo, hi, 50)
        ax.fill_between(line, line * (1 - TOLERANCE), line * (1 + TOLERANCE), color="0.85", label="±10%")
        ax.plot(line, line, color="0.4", linewidth=0.8)
        for name, predicted in g.predicted_ms.items():
            ok = np.isfinite(predicted) & (predicted > 0)
            ax.scatter(g.measured_ms[ok], predicted[ok], s=12, alpha=0.75, label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("measured (ms)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{g.target}/{g.backend} ({len(g.keys)} archs)")
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["Panel", "pyplot", "scatter"]
