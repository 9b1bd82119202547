"""Discretization: α -> a decision assignment that satisfies every hard constraint.

First the argmax of every decision (top-k edges for ``choose``: edge strength is
the edge weight times its best non-``zero`` op probability, as in DARTS; a ``zero``
candidate never wins on a kept edge).  If a hard constraint fails on the exact
cost model, assignments are enumerated best-first by total log-probability
(Lawler's k-best scheme over per-decision option rankings) until one satisfies
every hard constraint; if the space cannot satisfy one at all (its exact minimum
already exceeds the bound), or the enumeration budget runs out, the error names
the constraint.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Callable

import torch.nn.functional as F

from ..errors import NascError
from ..ir.analysis import bounds, cost_factors
from ..ir.cost import arch_cost
from ..ir.graph import IRGraph
from ..ir.ops import OpLibrary
from ..ir.space import ConstraintSpec, SearchSpace
from ..lower.supernet import Supernet
from ..latency.model import decided_latency, prior_for
from ..latency.resolve import LatencyResolver
from .objectives import METRIC_OF, node_values


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
        source = f"predicted ({self.latency(c.target).name})" if c.metric == "latency" else "exact cost model"
        return self.metric(key, assignment, c), source

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
        if m not in self.additive:
            self.additive[m] = cost_factors(self.space, node_values(self.space, self.lib, METRIC_OF[c.metric], model))
        constant, factors = self.additive[m]
        a = {self.by_path[p].id: o for p, o in assignment.items()}
        total = float(constant)
        for f in factors:
            total += float(f.table[tuple(a[d] for d in f.scope)])
        return total

    def violated(self, assignment: dict[str, int]) -> ConstraintSpec | None:
        for c in self.hard:
            key = self._key(c)
            if key is not None and not holds(self.metric(key, assignment, c), c):
                return c
        needs_graph = [c for c in self.hard if c.metric in ("connected", "min_path_ops", "peak_memory")]
        if not needs_graph:
            return None
        arch = self.elaborate(assignment)
        for c in arch.constraints:
            if not c.hard or c.metric not in ("connected", "min_path_ops", "peak_memory"):
                continue
            if c.metric == "peak_memory":
                if c.scope == "" and not holds(arch_cost(arch.graph.prune(), self.lib).peak_memory, c):
                    return c
                continue
            ops = min_path_ops(arch.graph, self.lib, c.nodes[0], c.nodes[1], set(c.exclude))
            if c.metric == "connected" and ops is None:
                return c
            if c.metric == "min_path_ops" and ops is not None and not holds(ops, c):
                return c
        return None


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


def discretize(net: Supernet, checker: ConstraintChecker, budget: int = 5000) -> tuple[dict[str, int], int]:
    """The best assignment (by log-probability) that satisfies every hard constraint."""
    bad = checker.infeasible()
    if bad is not None:
        raise DiscretizationError(f"no architecture of the space satisfies '{bad.describe()}': even its smallest "
                                  "architecture exceeds the bound", bad.span)
    tried = 0
    last: ConstraintSpec | None = None
    for assignment, _ in best_first(rankings(net)):
        tried += 1
        last = checker.violated(assignment)
        if last is None:
            return assignment, tried
        if tried >= budget:
            break
    assert last is not None
    raise DiscretizationError(f"no assignment among the {tried} most likely satisfies '{last.describe()}'",
                              last.span)

