"""Liveness-based activity of decisions, exact space sizes, and min/max of additive costs.

*Activity.*  A node is live under an assignment iff some path to an output passes
only through selected inputs of ``mixed`` / ``input_choice`` / ``repeat_gate``
nodes.  Computed backwards from the outputs, each node's liveness condition is a
DNF over decision literals (``d in {options}``).  A decision is active iff some
node it controls (owns, or whose attributes/shapes depend on it) is live -- this
is how ``k`` and ``e`` of an mbconv become inactive when the layer's ``skip``
candidate wins, or when the stage's depth does not reach the layer.

*Counting.*  The size of a space is the number of distinct assignments to its
*active* decisions.  Summing, over all full assignments, the weight
``prod_{d inactive} 1/|D_d|`` counts each effective assignment exactly once, and
that sum factorizes over per-decision factors, so variable elimination computes
it exactly (with Fractions) even for 10^22-sized spaces.  ``excluded`` options
(a ``zero`` op on an edge a ``choose`` keeps) get weight 0 while active.

*Bounds.*  Params and MACs are sums of per-node costs gated by liveness, so their
min and max over the space are min-sum / max-sum variable elimination over the
same factor structure.
"""

from __future__ import annotations

import heapq
import itertools
import math
from fractions import Fraction
from typing import Any, Callable, Iterable, Mapping

from .graph import IRGraph, Node
from .space import DNF, FALSE, TRUE, Decision, SearchSpace, Term
from .sym import Sym, collect

MAX_TERMS = 512


# ---------------------------------------------------------------- DNF algebra
def _term_dict(t: Term) -> dict[int, frozenset[int]]:
    return dict(t)


def and_lit(dnf: DNF, d: int, allowed: frozenset[int], n: int) -> DNF:
    if len(allowed) >= n:
        return dnf
    out = set()
    for t in dnf:
        td = _term_dict(t)
        cur = td.get(d)
        new = allowed if cur is None else cur & allowed
        if not new:
            continue
        td[d] = new
        out.add(frozenset(td.items()))
    return frozenset(out)


def or_(a: DNF, b: DNF, sizes: dict[int, int]) -> DNF:
    if a == TRUE or b == TRUE:
        return TRUE
    return simplify(a | b, sizes)


def _weaker(a: dict[int, frozenset[int]], b: dict[int, frozenset[int]]) -> bool:
    """True if every assignment satisfying b satisfies a."""
    for d, s in a.items():
        if d not in b or not b[d] <= s:
            return False
    return True


def simplify(dnf: Iterable[Term], sizes: dict[int, int]) -> DNF:
    terms = [_term_dict(t) for t in dnf]
    terms = [{d: s for d, s in t.items() if len(s) < sizes[d]} for t in terms]
    changed = True
    while changed:
        changed = False
        if any(not t for t in terms):
            return TRUE
        # absorption
        keep: list[dict[int, frozenset[int]]] = []
        for i, t in enumerate(terms):
            absorbed = any(j != i and _weaker(u, t) and (u != t or j < i) for j, u in enumerate(terms))
            if not absorbed:
                keep.append(t)
        if len(keep) != len(terms):
            changed = True
        terms = keep
        # merge terms that differ in one decision only
        merged = False
        for i, j in itertools.combinations(range(len(terms)), 2):
            a, b = terms[i], terms[j]
            if a.keys() != b.keys():
                continue
            diff = [d for d in a if a[d] != b[d]]
            if len(diff) != 1:
                continue
            d = diff[0]
            u = a[d] | b[d]
            new = dict(a)
            if len(u) >= sizes[d]:
                del new[d]
            else:
                new[d] = u
            terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [new]
            merged = changed = True
            break
        if merged:
            continue
    return frozenset(frozenset(t.items()) for t in terms)


def dnf_vars(dnf: DNF) -> set[int]:
    return {d for t in dnf for d, _ in t}


def dnf_eval(dnf: DNF, assignment: Mapping[int, int]) -> bool:
    for t in dnf:
        if all(assignment[d] in s for d, s in t):
            return True
    return False


# ---------------------------------------------------------------- liveness
def edge_literal(node: Node, pos: int, decisions: list[Decision]) -> tuple[int, frozenset[int]] | None:
    """The decision and options under which input ``pos`` of a choice node is the one used
    (None: a node that is not a choice uses every input)."""
    if node.decision is None or node.kind not in ("mixed", "input_choice", "repeat_gate"):
        return None
    d = decisions[node.decision]
    if node.kind == "mixed":
        return d.id, frozenset({node.select[pos]})
    if node.kind == "repeat_gate":
        return d.id, node.select[pos]
    if d.kind == "oneof":
        return d.id, frozenset({pos})
    return d.id, frozenset(o for o, combo in enumerate(d.options) if pos in combo)


def liveness(graph: IRGraph, decisions: list[Decision]) -> dict[int, DNF]:
    sizes = {d.id: d.n for d in decisions}
    cond: dict[int, DNF] = {}
    for node in reversed(list(graph)):
        if node.kind == "output":
            cond[node.id] = TRUE
            continue
        acc: DNF = FALSE
        for succ, pos in graph.consumers(node.id):
            c = cond.get(succ, FALSE)
            if c == FALSE:
                continue
            lit = edge_literal(graph.node(succ), pos, decisions)
            if lit is not None:
                d = decisions[lit[0]]
                if d.fixed is not None:
                    if d.fixed not in lit[1]:
                        continue
                else:
                    c = and_lit(c, lit[0], lit[1], d.n)
            acc = or_(acc, c, sizes) if acc != FALSE else c
            if acc == TRUE:
                break
        cond[node.id] = acc
    return cond


def node_deps(node: Node) -> set[int]:
    found: dict[int, int] = {}
    collect(node.attrs, found)
    collect(node.shape, found)
    out = set(found)
    if node.decision is not None:
        out.add(node.decision)
    return out


def annotate_activity(space: SearchSpace) -> dict[int, DNF]:
    """Set each decision's ``active_if``; return the per-node liveness conditions."""
    decisions = space.decisions
    sizes = {d.id: d.n for d in decisions}
    cond = liveness(space.graph, decisions)
    active: dict[int, DNF] = {d.id: FALSE for d in decisions}
    for node in space.graph:
        c = cond.get(node.id, FALSE)
        if c == FALSE:
            continue
        for dep in node_deps(node):
            if active[dep] != TRUE:
                active[dep] = or_(active[dep], c, sizes) if active[dep] != FALSE else c
    for d in decisions:
        d.active_if = active[d.id] if d.free else FALSE
    space.node_conditions = cond  # type: ignore[attr-defined]
    return cond


# ---------------------------------------------------------------- variable elimination
class Factor:
    __slots__ = ("scope", "table")

    def __init__(self, scope: tuple[int, ...], table: dict[tuple[int, ...], Any]) -> None:
        self.scope = scope
        self.table = table


def make_factor(scope: Iterable[int], sizes: dict[int, int], fn: Callable[[dict[int, int]], Any]) -> Factor:
    sc = tuple(sorted(set(scope)))
    table = {}
    for idx in itertools.product(*(range(sizes[d]) for d in sc)):
        table[idx] = fn(dict(zip(sc, idx)))
    return Factor(sc, table)


class _Order:
    """The greedy elimination order, kept incrementally.

    The next variable to eliminate is one whose elimination makes the smallest table
    (the product of the domain sizes of every variable sharing a factor with it).
    Recomputing that for every variable at every step costs O(variables x factors)
    per step, quadratic overall in the number of decisions; here each variable's
    neighbour counts and table size are updated only when a factor that contains it
    comes or goes, and a heap with lazy deletion yields the minimum.  The order only
    affects speed: every result is exact whatever the order.
    """

    def __init__(self, sizes: dict[int, int]) -> None:
        self.sizes = sizes
        self.neighbours: dict[int, dict[int, int]] = {}  # var -> neighbour (itself included) -> #factors
        self.cost: dict[int, int] = {}
        self.heap: list[tuple[int, int]] = []

    def _update(self, scope: tuple[int, ...], delta: int) -> None:
        for v in scope:
            nb = self.neighbours.setdefault(v, {})
            cost = self.cost.get(v, 1)
            for u in scope:
                n = nb.get(u, 0) + delta
                if n == 0:  # u no longer shares a factor with v
                    del nb[u]
                    cost //= self.sizes[u]
                    continue
                if n == 1 and delta == 1:  # u newly shares a factor with v
                    cost *= self.sizes[u]
                nb[u] = n
            self.cost[v] = cost

    def add(self, scope: tuple[int, ...]) -> None:
        self._update(scope, 1)
        for v in scope:
            heapq.heappush(self.heap, (self.cost[v], v))

    def remove(self, scope: tuple[int, ...]) -> None:
        self._update(scope, -1)

    def forget(self, v: int) -> None:
        del self.neighbours[v]
        del self.cost[v]

    def pop(self) -> int | None:
        while self.heap:
            cost, v = heapq.heappop(self.heap)
            if self.cost.get(v) == cost:
                return v
        return None


def eliminate(factors: list[Factor], sizes: dict[int, int], combine: str, reduce_fn: Callable[[list[Any]], Any],
              unit: Any) -> Any:
    """Generic variable elimination; `combine` is '*' (sum-product) or '+' (min/max-sum).

    Near-linear in the number of factors when each variable meets few others: the
    factors of a variable are found through an index and the order is kept by
    :class:`_Order`, so no step scans every factor or every variable.
    """
    mul = (lambda a, b: a * b) if combine == "*" else (lambda a, b: a + b)
    live: dict[int, Factor] = {}
    by_var: dict[int, set[int]] = {}
    order = _Order(sizes)
    keys = itertools.count()
    total = unit

    def add(f: Factor) -> None:
        nonlocal total
        if not f.scope:
            total = mul(total, f.table[()])
            return
        key = next(keys)
        live[key] = f
        for d in f.scope:
            by_var.setdefault(d, set()).add(key)
        order.add(f.scope)

    for f in factors:
        add(f)
    while True:
        v = order.pop()
        if v is None:
            break
        gone = sorted(by_var.pop(v))
        involved = [live.pop(k) for k in gone]
        for k, f in zip(gone, involved):
            order.remove(f.scope)
            for d in f.scope:
                if d != v:
                    by_var[d].discard(k)
        order.forget(v)
        scope = tuple(sorted(set(itertools.chain.from_iterable(f.scope for f in involved)) - {v}))
        table: dict[tuple[int, ...], Any] = {}
        for idx in itertools.product(*(range(sizes[d]) for d in scope)):
            a = dict(zip(scope, idx))
            vals = []
            for x in range(sizes[v]):
                a[v] = x
                acc = unit
                for f in involved:
                    acc = mul(acc, f.table[tuple(a[d] for d in f.scope)])
                vals.append(acc)
            table[idx] = reduce_fn(vals)
        add(Factor(scope, table))
    return total


def space_size(space: SearchSpace) -> int:
    """Exact number of distinct architectures (assignments to active decisions)."""
    free = [d for d in space.decisions if d.free and d.active_if != FALSE]
    sizes = {d.id: d.n for d in space.decisions}
    factors = []
    for d in free:
        cond = d.active_if
        scope = dnf_vars(cond) | {d.id}
        inactive_w = Fraction(1, d.n)

        def fn(a: dict[int, int], d: Decision = d, cond: DNF = cond, w: Fraction = inactive_w) -> Fraction:
            if dnf_eval(cond, a):
                return Fraction(0) if a[d.id] in d.excluded else Fraction(1)
            return w

        factors.append(make_factor(scope, sizes, fn))
    if not factors:
        return 1
    total = eliminate(factors, sizes, "*", lambda vs: sum(vs, Fraction(0)), Fraction(1))
    assert total.denominator == 1, total
    return int(total)


def cost_factors(space: SearchSpace, node_values: dict[int, Any]) -> tuple[float, list[Factor]]:
    """Sum of per-node values gated by liveness, as (constant, factors over decision scopes).

    Nodes with the same scope are summed into one factor, so the number of factors
    stays small.  The total for an assignment is ``constant + sum(f(assignment))``.
    """
    cond: dict[int, DNF] = getattr(space, "node_conditions")
    sizes = {d.id: d.n for d in space.decisions}
    grouped: dict[tuple[int, ...], list[tuple[DNF, Any]]] = {}
    constant: Any = 0
    for nid, value in node_values.items():
        c = cond.get(nid, FALSE)
        if c == FALSE or (not isinstance(value, Sym) and value == 0):
            continue
        deps: dict[int, int] = {}
        collect(value, deps)
        scope = tuple(sorted(dnf_vars(c) | set(deps)))
        if not scope:
            constant += value
            continue
        grouped.setdefault(scope, []).append((c, value))
    factors = []
    for scope, items in grouped.items():
        def fn(a: dict[int, int], items: list = items) -> Any:
            total = 0
            for c, v in items:
                if dnf_eval(c, a):
                    total += v.at(a) if isinstance(v, Sym) else v
            return total
        factors.append(make_factor(scope, sizes, fn))
    return constant, factors


def bounds(space: SearchSpace, node_values: dict[int, Any]) -> tuple[int, int]:
    """Min and max over the space of sum(node value over live nodes); values may be Syms."""
    lo, hi = factor_bounds(space, *cost_factors(space, node_values))
    return int(lo), int(hi)


def factor_bounds(space: SearchSpace, constant: Any, value_factors: list[Factor]) -> tuple[Any, Any]:
    """Min and max over the space of ``constant + sum(factors)`` (a :func:`cost_factors` result), unrounded.

    Kept apart from :func:`bounds` so callers that already hold the factor tables of a
    metric (a latency in seconds, where rounding to an integer would lose everything)
    get its exact range from the very tables they check assignments with.
    """
    sizes = {d.id: d.n for d in space.decisions}
    results = []
    for mode in ("min", "max"):
        bad = math.inf if mode == "min" else -math.inf
        factors = list(value_factors)
        for d in space.decisions:
            if d.free and d.excluded and d.active_if != FALSE:
                scope = tuple(sorted(dnf_vars(d.active_if) | {d.id}))

                def guard(a: dict[int, int], d: Decision = d) -> Any:
                    return bad if (a[d.id] in d.excluded and dnf_eval(d.active_if, a)) else 0
                factors.append(make_factor(scope, sizes, guard))
        if factors:
            red = min if mode == "min" else max
            value = eliminate(factors, sizes, "+", red, 0)
        else:
            value = 0
        results.append(value + constant)
    return results[0], results[1]
