"""The "budget used" rule: a hard budget is a target to use, not only a ceiling.

A user who writes ``constraint params <= 50K`` expects an architecture near 50K, not
one that uses a sixth of it; the most likely assignment under α is often far below the
bound because nothing pulls it up.  So every hard upper budget (params, flops/MACs,
latency, peak memory) has a *band*, ``[FLOOR * B, B]``, that the discretized
architecture should land in -- unless the search has a latency weight (:func:`fills_budgets`).  When it cannot -- the space has no architecture that
large, or none of the assignments tried lands there -- the summary says which and by
how much, rather than leaving the user to discover an unused budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..ir.space import ConstraintSpec

FLOOR = 0.85  # the band's lower edge, as a share of the bound


def fills_budgets(cfg: dict[str, Any]) -> bool:
    """Whether the band applies to a search of experiment settings ``cfg``: not under a latency
    weight (``search.latency_weight`` > 0), which asks for an architecture cheaper than the
    budgets allow when accuracy permits -- a sweep of that weight is a family along the
    accuracy/latency front, and pulling each member up to its budgets would make them one arch."""
    return not cfg["search"]["latency_weight"]
BUDGET_METRICS = ("params", "flops", "macs", "latency", "peak_memory")


def wastes(value: float, bound: float, cfg: dict[str, Any]) -> bool:
    """Whether ``value`` (within ``bound``) leaves the band unused: below its floor in a search
    that fills budgets (:func:`fills_budgets`); never under a latency weight."""
    return fills_budgets(cfg) and value < FLOOR * bound


def hard_budgets(constraints: list[ConstraintSpec]) -> list[ConstraintSpec]:
    """The space-wide hard upper bounds on a cost: the constraints the band applies to."""
    return [c for c in constraints
            if c.hard and c.scope == "" and c.metric in BUDGET_METRICS and c.op in ("<=", "<")
            and c.bound is not None and c.bound > 0]


def shortfall(value: float, c: ConstraintSpec) -> float:
    """How far below the band a value is, as a share of the bound (0 at or above its floor)."""
    assert c.bound is not None
    return 0.0 if value >= FLOOR * c.bound else (FLOOR * c.bound - value) / c.bound


def reaches_band(largest: float | None, c: ConstraintSpec) -> bool:
    """Whether a space whose largest value of the metric is ``largest`` (None: unknown) can land in the band."""
    return largest is None or shortfall(largest, c) == 0.0


def amount(value: float, metric: str) -> str:
    """A metric's value in the units people read it in (latency in ms, memory in bytes)."""
    if metric == "latency":
        return f"{value * 1e3:.3g} ms"
    if metric == "peak_memory":
        return f"{value:,.0f} bytes"
    return f"{value:,.0f}"


@dataclass(frozen=True)
class BudgetUse:
    """How much of one hard budget the chosen architecture uses, and why not enough when so.

    ``largest`` is the metric's maximum over the whole space when it is known from the
    factor tables (None for peak memory, which is not additive): below the band's floor it
    means no search could have used the budget.
    """

    constraint: ConstraintSpec
    value: float
    largest: float | None
    tried: int
    filled: bool = True  # False: a latency weight made the budget a ceiling (fills_budgets)

    @property
    def bound(self) -> float:
        assert self.constraint.bound is not None
        return self.constraint.bound

    @property
    def used(self) -> float:
        return self.value / self.bound

    @property
    def reachable(self) -> bool:
        """Whether some architecture of the space is large enough to land in the band."""
        return reaches_band(self.largest, self.constraint)

    @property
    def held(self) -> bool:
        return shortfall(self.value, self.constraint) == 0.0

    @property
    def reason(self) -> str | None:
        """Why the band was not held, in words a user can act on (None when it was)."""
        if self.held:
            return None
        c = self.constraint
        if not self.filled:
            return (f"not filled: the search has a latency weight, which makes every budget a ceiling; the "
                    f"choice uses {self.used:.1%} of {c.text}")
        if not self.reachable:
            assert self.largest is not None
            return (f"cannot use the budget: the space's largest architecture has {c.metric} "
                    f"{amount(self.largest, c.metric)}, only {self.largest / self.bound:.1%} of {c.text} "
                    f"(the band starts at {FLOOR:.0%})")
        return (f"no assignment among the {self.tried} most likely by α lands in the band of every hard budget "
                f"(from {FLOOR:.0%} of the bound up to it); the closest feasible one found uses "
                f"{self.used:.1%} of {c.text}")

    def to_record(self) -> dict[str, Any]:
        """The summary's fields for this budget (next to the constraint's value and source)."""
        return {"bound": self.bound, "used": round(self.used, 4), "band": [FLOOR * self.bound, self.bound],
                "band_held": self.held, "reason": self.reason}
