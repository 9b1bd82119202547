"""What elaboration produces: the decision table, the IR graph and scoped constraints."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import Span
from .graph import IRGraph
from .ops import OpLibrary

Literal = tuple[int, frozenset[int]]  # decision id, allowed candidate indices
Term = frozenset[Literal]  # a conjunction, at most one literal per decision
DNF = frozenset[Term]  # a disjunction of terms
TRUE: DNF = frozenset({frozenset()})
FALSE: DNF = frozenset()


@dataclass
class Decision:
    """One architecture decision.

    ``kind`` is ``oneof`` (``choice``) or ``choose`` (k-of-n, options are the
    k-combinations of candidate indices in lexicographic order).  ``value_kind``
    says what the candidates are (``op``, ``tensor`` or ``value``).  ``excluded``
    are option indices that may not win while the decision is active (a ``zero``
    op on an edge that a ``choose`` keeps).
    """

    id: int
    path: str
    kind: str
    labels: tuple[str, ...]
    value_kind: str
    span: Span | None
    k: int = 1
    group: str | None = None
    fixed: int | None = None
    excluded: frozenset[int] = frozenset()
    zero_candidates: frozenset[int] = frozenset()
    candidate_text: tuple[str, ...] = ()
    active_if: DNF = TRUE

    @property
    def options(self) -> list[Any]:
        """The decision's domain: candidate indices (one-of) or index tuples (choose)."""
        if self.kind == "oneof":
            return list(range(len(self.labels)))
        return list(itertools.combinations(range(len(self.labels)), self.k))

    @property
    def n(self) -> int:
        """The number of options, without listing them (analysis asks for it per edge)."""
        if self.kind == "oneof":
            return len(self.labels)
        return math.comb(len(self.labels), self.k)

    def option_label(self, option: int) -> str:
        if self.kind == "oneof":
            return self.labels[option]
        return "[" + ", ".join(str(i) for i in self.options[option]) + "]"

    @property
    def free(self) -> bool:
        return self.fixed is None


@dataclass(frozen=True)
class ConstraintSpec:
    """A `constraint` statement after elaboration."""

    metric: str  # params | flops | macs | latency | peak_memory | depth | connected | min_path_ops
    op: str | None  # <=, <, >=, >, == (None for predicates such as connected)
    bound: float | None  # in base units: count, seconds, bytes
    unit: str
    text: str  # the source text of the bound, e.g. "5ms"
    target: str | None
    target_args: tuple[tuple[str, Any], ...]
    hard: bool
    weight: float
    scope: str  # "" for the space, else the block instance path
    span: Span | None
    nodes: tuple[int, ...] = ()  # predicate operands (IR node ids)
    exclude: tuple[str, ...] = ()  # min_path_ops: op names traversed but not counted

    def describe(self) -> str:
        where = f" on {self.target}" if self.target else ""
        kind = "hard" if self.hard else f"soft(weight={self.weight:g})"
        if self.metric == "connected":
            return f"connected{where} [{kind}] @{self.scope or '<space>'}"
        lhs = self.metric if self.metric != "min_path_ops" else f"min_path_ops(exclude={list(self.exclude)})"
        return f"{lhs} {self.op} {self.text}{where} [{kind}]" + (f" @{self.scope}" if self.scope else "")


@dataclass
class SearchSpace:
    """An elaborated space (or arch): decisions, IR and constraints, plus where it came from.

    ``ops`` is the op library the IR's op names refer to (the builtins plus the custom ops
    the file imported): every later stage -- costs, lowering, search -- reads an op's
    rules from it, so it travels with the graph.
    """

    name: str
    kind: str  # "space" | "arch"
    file: str
    decisions: list[Decision]
    graph: IRGraph
    constraints: list[ConstraintSpec]
    params: dict[str, Any]
    ops: OpLibrary = field(repr=False, compare=False)
    experiment: str | None = None
    warnings: list[Any] = field(default_factory=list)
    assignment: dict[str, Any] = field(default_factory=dict)

    def decision(self, path: str) -> Decision:
        for d in self.decisions:
            if d.path == path:
                return d
        raise KeyError(path)

    @property
    def free(self) -> list[Decision]:
        """Free decisions that matter (active under some assignment)."""
        return [d for d in self.decisions if d.free and d.active_if != FALSE]
