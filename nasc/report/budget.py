"""Budget status: for each constraint of the space, its bound, the arch's value and where that
value comes from, whether it holds and how much of the budget the arch uses.

Params, MACs and peak memory are exact (the cost model on the arch's IR).  A latency is
measured when this run measured the arch on the constraint's target (the artifact here, or
the measured-latency loop on the budget's device), and otherwise predicted -- and then it
says by which model, with that model's error, because a predicted latency that holds is a
claim, not a fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..ir.cost import ArchCost
from ..ir.space import ConstraintSpec, SearchSpace
from ..search.discretize import holds

BUDGET_METRICS = ("params", "flops", "macs", "peak_memory", "latency")
"""Metrics a whole-network constraint bounds with a number (the others are structural)."""
EXACT_HOW = "nasc.ir.cost on the arch's IR"
EXACT = f"exact ({EXACT_HOW})"
UNITS = {"params": "count", "flops": "MACs", "macs": "MACs", "peak_memory": "bytes", "latency": "s"}


@dataclass(frozen=True)
class Figure:
    """A latency in seconds, ``measured`` or ``predicted``, and how (protocol or model with its error)."""

    seconds: float
    source: str
    how: str


def exact_value(metric: str, cost: ArchCost) -> float:
    """The arch's exact value of a cost metric (``flops`` counts multiply-accumulates, as in the search)."""
    values = {"params": cost.params, "flops": cost.macs, "macs": cost.macs, "peak_memory": cost.peak_memory}
    return float(values[metric])


def budget_row(c: ConstraintSpec, cost: ArchCost, latency: Callable[[ConstraintSpec], Figure | None]) -> dict[str, Any]:
    """One constraint's status; ``latency(c)`` is the arch's figure on ``c``'s target (None: none known)."""
    assert c.bound is not None
    row: dict[str, Any] = {"constraint": c.describe(), "metric": c.metric, "kind": "hard" if c.hard else "soft",
                           "op": c.op or "<=", "bound": c.bound, "bound_text": c.text, "unit": UNITS[c.metric],
                           "target": c.target}
    if c.metric == "latency":
        figure = latency(c)
        if figure is None:
            return {**row, "value": None, "source": "no figure", "how": "", "holds": None, "share": None}
        value, source, how = figure.seconds, figure.source, figure.how
    else:
        value, source, how = exact_value(c.metric, cost), "exact", EXACT_HOW
    share = value / c.bound if c.bound else None
    return {**row, "value": value, "source": source, "how": how, "holds": holds(value, c), "share": share}


def budget_status(space: SearchSpace, cost: ArchCost,
                  latency: Callable[[ConstraintSpec], Figure | None]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for the space's budgets (whole-network bounds on a cost metric), and the other
    constraints by their text (structural ones, or bounds on one block, which the search's
    discretization checked)."""
    rows, others = [], []
    for c in space.constraints:
        if c.scope == "" and c.metric in BUDGET_METRICS and c.bound is not None:
            rows.append(budget_row(c, cost, latency))
        else:
            others.append(c.describe())
    return rows, others


__all__ = ["BUDGET_METRICS", "Figure", "budget_row", "budget_status", "exact_value"]
