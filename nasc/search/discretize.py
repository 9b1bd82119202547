"""Discretization: α -> a decision assignment that satisfies every hard constraint and uses its budgets.

First the argmax of every decision (top-k edges for ``choose``: edge strength is
the edge weight times its best non-``zero`` op probability, as in DARTS; a ``zero``
candidate never wins on a kept edge).  Assignments are enumerated best-first by
total log-probability (Lawler's k-best scheme over per-decision option rankings),
each checked on the exact cost model.  The first one that satisfies every hard
constraint *and* lands in the band of every hard budget (``[0.85 B, B]``, see
:mod:`.budget_use`) is taken: a budget is there to be used.  When none of the
``budget`` assignments tried does, the feasible one closest to the band is taken and
the reason recorded; a band no architecture of the space reaches is reported and does
not steer the choice.  If the space cannot satisfy a constraint at all (its exact
minimum already exceeds the bound), or no assignment tried satisfies every hard
constraint, the error names the constraint.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable

import torch.nn.functional as F

from ..errors import NascError
from ..ir.analysis import bounds, cost_factors, factor_bounds
from ..ir.cost import arch_cost
from ..ir.graph import IRGraph
from ..ir.ops import OpLibrary
from ..ir.space import ConstraintSpec, SearchSpace
from ..lower.supernet import Supernet
from ..latency.model import decided_latency, prediction_label, prior_for
from ..latency.resolve import LatencyResolver
from .objectives import METRIC_OF, node_values
from .budget_use import BudgetUse, hard_budgets, reaches_band, shortfall

GRAPH_METRICS = ("connected", "min_path_ops", "peak_memory")


class DiscretizationError(NascError):
    """No architecture satisfies the hard constraints."""


@dataclass
class Ranking:
    """One decision's options, best first, with their log-probabilities."""

    path: str
    options: list[int]
    logp: list[float]


def rankings(net: Supernet) -> list[Ranking]:
    space = net.space
    g = space.graph
    out: list[Ranking] = []
    for d in net.free:
        a = net.arch.vector(d.id).detach().double()
        if d.kind == "oneof":
            p = F.softmax(a, 0)
            opts = [o for o in range(d.n) if o not in d.excluded]
            logp = {o: math.log(float(p[o]) + 1e-30) for o in opts}
        else:
            # edge strength: edge weight x best non-zero op probability of the edge's mixed node
            w = F.softmax(a, 0)
            node = next(n for n in g if n.kind == "input_choice" and n.decision == d.id)
            strength = []
            for pos, src in enumerate(node.inputs):
                s = float(w[pos])
                m = g.node(src)
                if m.kind == "mixed" and m.decision is not None and m.decision in {x.id for x in net.free}:
                    md = space.decisions[m.decision]
                    pm = F.softmax(net.arch.vector(m.decision).detach().double(), 0)
                    s *= max(float(pm[o]) for o in range(md.n) if o not in md.zero_candidates) \
                        if len(md.zero_candidates) < md.n else 1.0
                strength.append(max(s, 1e-30))
            logp = {o: sum(math.log(strength[j]) for j in combo) for o, combo in enumerate(d.options)}
            opts = list(logp)
        order = sorted(opts, key=lambda o: (-logp[o], o))
        out.append(Ranking(d.path, order, [logp[o] for o in order]))
    return out


def best_first(ranks: list[Ranking]):
    """Yield (assignment, total logp) in decreasing total log-probability."""
    start = tuple(0 for _ in ranks)
    score = lambda state: sum(r.logp[i] for r, i in zip(ranks, state))  # noqa: E731
    heap = [(-score(start), start, 0)]
    while heap:
        neg, state, first = heapq.heappop(heap)
        yield {r.path: r.options[i] for r, i in zip(ranks, state)}, -neg
        for j in range(first, len(ranks)):
            if state[j] + 1 < len(ranks[j].options):
                nxt = state[:j] + (state[j] + 1,) + state[j + 1:]
                heapq.heappush(heap, (-score(nxt), nxt, j))


class ConstraintChecker:
    """Exact checks of hard constraints for a full assignment."""

    def __init__(self, space: SearchSpace, lib: OpLibrary, elaborate: Callable[[dict[str, int]], SearchSpace],
                 latency: LatencyResolver = prior_for) -> None:
        self.space = space
        self.latency = latency  # each target's model (nasc.latency.resolve), the search's own
        self.lib = lib
        self.elaborate = elaborate
        self.hard = [c for c in space.constraints if c.hard]
        self.additive: dict[str, tuple[float, list]] = {}  # metric key -> factor tables, built on first use
        self.by_path = {d.path: d for d in space.decisions}

    @staticmethod
    def _key(c: ConstraintSpec) -> str | None:
        """Additive metrics checkable from factor tables; latency is *predicted* (the target's model)."""
        if c.scope != "" or c.bound is None:
            return None
        if c.metric in ("params", "flops", "macs"):
            return METRIC_OF[c.metric]
        if c.metric == "latency":
            return f"latency@{c.target or 'cpu'}"
        return None

    def value(self, c: ConstraintSpec, assignment: dict[str, int]) -> tuple[float, str] | None:
        """The constraint's metric for an assignment, and its source (exact or predicted)."""
        key = self._key(c)
        if key is None:
            return None
        source = prediction_label(self.latency(c.target)) if c.metric == "latency" else "exact cost model"
        return self.metric(key, assignment, c), source

    def additive_value(self, c: ConstraintSpec, assignment: dict[str, int]) -> float | None:
        """The constraint's metric from the factor tables (None when it is not additive, e.g. peak memory)."""
        key = self._key(c)
        return None if key is None else self.metric(key, assignment, c)

    def extremes(self, c: ConstraintSpec) -> tuple[float, float] | None:
        """Min and max of an additive metric over the space, from the very tables assignments are checked with.

        For a latency model with its own figure for whole architectures (a refitted
        recorded-device model), the range is that of its per-node part: a prediction, like
        every latency here.  None when the metric is not additive (peak memory).
        """
        key = self._key(c)
        if key is None:
            return None
        lo, hi = factor_bounds(self.space, *self.tables(key, c))
        return float(lo), float(hi)

    def infeasible(self) -> ConstraintSpec | None:
        """A budget that even the space's exact minimum violates."""
        for c in self.hard:
            if c.metric in ("params", "flops", "macs") and c.scope == "" and c.bound is not None:
                lo, _ = bounds(self.space, node_values(self.space, self.lib, METRIC_OF[c.metric]))
                if not holds(lo, c):
                    return c
        return None

    def metric(self, m: str, assignment: dict[str, int], c: ConstraintSpec) -> float:
        model = self.latency(c.target) if c.metric == "latency" else None
        decided = None if model is None else decided_latency(model, self.space, assignment)
        if decided is not None:  # a model with a better figure for a whole architecture than its node sum
            return decided
        constant, factors = self.tables(m, c)
        a = {self.by_path[p].id: o for p, o in assignment.items()}
        total = float(constant)
        for f in factors:
            total += float(f.table[tuple(a[d] for d in f.scope)])
        return total

    def tables(self, m: str, c: ConstraintSpec) -> tuple[float, list]:
        """The factor tables of metric key ``m`` (built on first use; latency with ``c``'s target's model)."""
        if m not in self.additive:
            model = self.latency(c.target) if c.metric == "latency" else None
            self.additive[m] = cost_factors(self.space, node_values(self.space, self.lib, METRIC_OF[c.metric], model))
        return self.additive[m]

    def violated(self, assignment: dict[str, int]) -> ConstraintSpec | None:
        bad = self.additive_violation(assignment)
        return bad if bad is not None else self.graph_check(assignment).violated

    def additive_violation(self, assignment: dict[str, int]) -> ConstraintSpec | None:
        """A hard constraint checkable from the factor tables alone that the assignment breaks."""
        for c in self.hard:
            key = self._key(c)
            if key is not None and not holds(self.metric(key, assignment, c), c):
                return c
        return None

    @property
    def needs_graph(self) -> bool:
        """Whether some hard constraint is checked on the elaborated architecture (slow: one elaboration)."""
        return any(c.metric in GRAPH_METRICS for c in self.hard)

    def graph_check(self, assignment: dict[str, int]) -> GraphCheck:
        """The hard constraints that need the decided graph, and the exact peak memory when one bounds it."""
        if not self.needs_graph:
            return GraphCheck(None, None)
        arch = self.elaborate(assignment)
        peak = None
        if any(c.metric == "peak_memory" and c.scope == "" for c in self.hard):
            peak = float(arch_cost(arch.graph.prune(), self.lib).peak_memory)
        for c in arch.constraints:
            if not c.hard or c.metric not in GRAPH_METRICS:
                continue
            if c.metric == "peak_memory":
                if c.scope == "" and peak is not None and not holds(peak, c):
                    return GraphCheck(c, peak)
                continue
            ops = min_path_ops(arch.graph, self.lib, c.nodes[0], c.nodes[1], set(c.exclude))
            if c.metric == "connected" and ops is None:
                return GraphCheck(c, peak)
            if c.metric == "min_path_ops" and ops is not None and not holds(ops, c):
                return GraphCheck(c, peak)
        return GraphCheck(None, peak)


@dataclass(frozen=True)
class GraphCheck:
    """What one elaboration tells: the hard constraint it breaks (if any) and its exact peak memory."""

    violated: ConstraintSpec | None
    peak_memory: float | None


def holds(value: float, c: ConstraintSpec) -> bool:
    b = c.bound
    assert b is not None
    return {"<=": value <= b, "<": value < b, ">=": value >= b, ">": value > b, "==": value == b}[c.op or "<="]


def min_path_ops(graph: IRGraph, lib: OpLibrary, src: int, dst: int, exclude: set[str]) -> int | None:
    """Fewest counted ops on any src -> dst path of a decided IR; None if every path is cut.

    A ``zero`` op cuts a path; merges (add, concat, ...) and ops in `exclude` are
    traversed but not counted; ``skip`` leaves no node at all.
    """
    inf = math.inf
    dist: dict[int, float] = {src: 0}
    for n in graph:
        if n.id <= src or n.id > dst:
            continue
        best = inf
        for i in n.inputs:
            if i in dist:
                best = min(best, dist[i])
        if best == inf:
            continue
        opdef_flags = lib.get(n.op).flags if n.op else frozenset()
        if "zero" in opdef_flags:
            continue
        counted = n.kind == "op" and n.op not in exclude and "merge" not in opdef_flags
        dist[n.id] = best + (1 if counted else 0)
    if dst == src:
        return 0
    return int(dist[dst]) if dst in dist else None


@dataclass(frozen=True)
class Selection:
    """The chosen assignment, how many were tried, by which rule it won, and its use of each hard budget.

    ``rule`` (:func:`rule_of`) is ``in band`` (every reachable band held), ``closest to the
    band`` (none of those tried held them all: the feasible one nearest to them) or ``most
    likely`` (no hard budget has a band the space can reach, so the most likely feasible one).
    """

    assignment: dict[str, int]
    tried: int
    rule: str
    uses: tuple[BudgetUse, ...]
    alternatives: tuple[dict[str, int], ...] = ()
    """The next most likely feasible assignments that land in every reachable band, when asked
    for: what a measuring loop checks beside the choice (its prediction may be wrong)."""


def budget_uses(checker: ConstraintChecker, assignment: dict[str, int], tried: int,
                fill: bool = True) -> tuple[BudgetUse, ...]:
    """How much of each hard budget an assignment uses (``tried``: how many assignments the choice
    saw; ``fill``: whether the choice tried to land in the bands)."""
    budgets = hard_budgets(checker.hard)
    values = [checker.additive_value(c, assignment) for c in budgets]
    if any(v is None for v in values):
        peak = checker.graph_check(assignment).peak_memory
        values = [peak if v is None else v for v in values]
    return tuple(BudgetUse(c, float(v), None if (r := checker.extremes(c)) is None else r[1], tried, fill)
                 for c, v in zip(budgets, values) if v is not None)


CEILINGS = "most likely (a latency weight: budgets are ceilings)"
"""The rule of a selection that does not fill the budgets."""


def rule_of(uses: tuple[BudgetUse, ...]) -> str:
    """Which rule chose an assignment with these budget uses (see :class:`Selection`)."""
    reachable = [u for u in uses if u.reachable]
    if not reachable:
        return "most likely"
    return "in band" if all(u.held for u in reachable) else "closest to the band"


@dataclass(frozen=True)
class _Candidate:
    assignment: dict[str, int]
    gap: float  # worst shortfall below a reachable band, as a share of its bound


def select(net: Supernet, checker: ConstraintChecker, budget: int = 5000, graph_checks: int = 256,
           alternatives: int = 0, fill: bool = True) -> Selection:
    """The most likely assignment that satisfies every hard constraint and lands in every reachable band.

    ``budget`` bounds the assignments tried; ``graph_checks`` bounds the elaborations spent,
    once a feasible assignment is in hand, looking for a better one (elaborating is what
    costs time when a constraint needs the decided graph).  ``alternatives``: also collect
    up to that many of the next most likely assignments in every band (within the same
    bounds; see :attr:`Selection.alternatives`).  ``fill=False`` (a search with a latency weight,
    :func:`~.budget_use.fills_budgets`): the budgets are ceilings only, the most likely feasible
    assignment is taken.
    """
    bad = checker.infeasible()
    if bad is not None:
        raise DiscretizationError(f"no architecture of the space satisfies '{bad.describe()}': even its smallest "
                                  "architecture exceeds the bound", bad.span)
    budgets = [c for c in hard_budgets(checker.hard) if fill and reaches_band(
        None if (r := checker.extremes(c)) is None else r[1], c)]

    def gap(values: list[float | None]) -> float:
        """Worst shortfall below a band; a value not known yet (peak memory before elaboration) counts as none."""
        return max((shortfall(v, c) for c, v in zip(budgets, values) if v is not None), default=0.0)

    best: _Candidate | None = None
    tried = elaborated = 0
    last: ConstraintSpec | None = None
    others: list[dict[str, int]] = []

    def counts(g: float) -> bool:
        """Whether a feasible assignment with gap ``g`` would be taken: a better choice, or once
        the choice lands in every band, an alternative that does too."""
        if best is not None and best.gap == 0.0:
            return g == 0.0
        return best is None or g < best.gap

    for assignment, _ in best_first(rankings(net)):
        tried += 1
        collecting = best is not None and best.gap == 0.0  # the choice is made: alternatives now
        if collecting and len(others) >= alternatives:
            break
        violated = checker.additive_violation(assignment)
        if not collecting:
            last = violated
        if violated is None:
            values = [checker.additive_value(c, assignment) for c in budgets]
            if counts(gap(values)):  # only an assignment that would count is worth an elaboration
                if checker.needs_graph and best is not None:
                    if elaborated >= graph_checks:
                        break
                    elaborated += 1
                found = checker.graph_check(assignment)
                values = [found.peak_memory if v is None else v for v in values]
                if not collecting:
                    last = found.violated
                if found.violated is None and counts(gap(values)):
                    if collecting:
                        others.append(assignment)
                    else:
                        best = _Candidate(assignment, gap(values))
                        if best.gap == 0.0 and not alternatives:
                            break
        if tried >= budget:
            break
    if best is None:
        assert last is not None
        raise DiscretizationError(f"no assignment among the {tried} most likely satisfies '{last.describe()}'",
                                  last.span)
    uses = budget_uses(checker, best.assignment, tried, fill)
    return Selection(best.assignment, tried, rule_of(uses) if fill else CEILINGS, uses, tuple(others))


def discretize(net: Supernet, checker: ConstraintChecker, budget: int = 5000) -> tuple[dict[str, int], int]:
    """The chosen assignment (see :func:`select`) and how many assignments were tried."""
    chosen = select(net, checker, budget)
    return chosen.assignment, chosen.tried
