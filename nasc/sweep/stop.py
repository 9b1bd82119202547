"""When a sweep stops launching tasks: its compute budget, or diminishing hypervolume returns.

Both rules look at finished tasks only, and only decide whether *another* task starts: a
task in flight is compute already spent and runs to its end, so the seconds a sweep used may
pass the budget by the tasks that were running when it was reached (``front.json`` states the
seconds used beside the budget).

* ``--max-task-seconds S``: the summed wall seconds of the finished tasks (reused ones
  count with the seconds they took when they ran) reached S.
* ``--min-hv-gain F``: the last ``k`` finished tasks (``hv_window``, default 3) added less
  than the fraction F to the hypervolume of the tasks before them.  Both hypervolumes are
  taken under one reference, that of all points so far, so the reference moving as points
  arrive is not mistaken for a gain or a loss.  The rule waits until the tasks before the
  window have a hypervolume above zero (one or two points often have none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .hypervolume import Point, hypervolume, reference_for


@dataclass(frozen=True)
class StopRules:
    max_task_seconds: float | None = None
    min_hv_gain: float | None = None
    hv_window: int = 3


def hv_gain(points: Sequence[Point], window: int, latency_budget_ms: float | None = None) -> float | None:
    """Relative hypervolume gain of the last ``window`` points over those before them (points
    in the order their tasks finished); None while it is not defined."""
    if len(points) <= window:
        return None
    ref = reference_for(points, latency_budget_ms)
    before = hypervolume(points[:-window], ref)
    if before <= 0:
        return None
    return (hypervolume(points, ref) - before) / before


def stop_reason(rules: StopRules, seconds_done: float, points: Sequence[Point],
                latency_budget_ms: float | None = None) -> str | None:
    """Why no further task should start, or None to go on."""
    if rules.max_task_seconds is not None and seconds_done >= rules.max_task_seconds:
        return (f"max-task-seconds: the finished tasks used {seconds_done:.1f} task-seconds of the "
                f"{rules.max_task_seconds:g} allowed")
    if rules.min_hv_gain is not None:
        gain = hv_gain(points, rules.hv_window, latency_budget_ms)
        if gain is not None and gain < rules.min_hv_gain:
            return (f"min-hv-gain: the last {rules.hv_window} finished tasks raised the hypervolume by "
                    f"{gain:.2%}, less than {rules.min_hv_gain:.2%}")
    return None
