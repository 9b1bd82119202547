"""`repeat` loops: unrolled when the count is known, and gated when it is a decision.

A gated repeat unrolls to its largest count and then selects, for every name its
body assigns, the value after each possible count by the decision (a
`repeat_gate` node for tensors, a decision-dependent value otherwise), so depth
can be searched like any other decision.
"""

from __future__ import annotations

from typing import Any

from ...errors import NascSemanticError
from ...ir.sym import Sym
from .. import ast as A
from ..values import BlockVal, ChoiceOp, ChosenList, OpVal, Tensor, kind_of
from .describe import show
from .nodes import GraphNodes
from .scope import Env


class Repeats(GraphNodes):
    """Runs `repeat` statements."""

    def _exec_repeat(self, stmt: A.Repeat, env: Env, where: str) -> None:
        """`repeat n [as i]`: unrolled, or gated when `n` depends on a decision."""
        count = self.eval(stmt.count, env)
        if isinstance(count, Sym):
            self._exec_gated_repeat(stmt, count, env, where)
            return
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise NascSemanticError(f"a repeat count must be a non-negative integer, got {show(count)}",
                                    stmt.count.span)
        for i in range(count):
            self._run_iteration(stmt, i, env, where)

    def _run_iteration(self, stmt: A.Repeat, i: int, env: Env, where: str) -> None:
        """One iteration, its index in the scope so its decisions get `[i]` paths."""
        self._tick(stmt.span)
        if stmt.var:
            env.vars[stmt.var] = i
        self.scope.loop.append(i)
        try:
            self._exec_body(stmt.body, env, where)
        finally:
            self.scope.loop.pop()

    def _exec_gated_repeat(self, stmt: A.Repeat, count: Sym, env: Env, where: str) -> None:
        """A repeat whose count is a decision: unroll to the largest count and select every assigned name's value
        by the count.
        """
        if len(count.deps) != 1:
            raise NascSemanticError("a repeat count may depend on one decision only", stmt.count.span)
        values = list(count.table)
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values):
            raise NascSemanticError(f"repeat counts must be non-negative integers, got {count!r}", stmt.count.span)
        names = sorted(_assigned_names(stmt.body))
        distinct = sorted(set(values))
        snapshots: dict[int, dict[str, Any]] = {}

        def snap() -> dict[str, Any]:
            """The current values of the assigned names (those defined so far)."""
            return {n: env.lookup(n)[1] for n in names if env.lookup(n)[0]}

        if 0 in distinct:
            snapshots[0] = snap()
        for i in range(max(distinct)):
            self._run_iteration(stmt, i, env, where)
            if i + 1 in distinct:
                snapshots[i + 1] = snap()
        decision = count.deps[0]
        for name in names:
            per = [snapshots[v].get(name) for v in distinct]
            if any(p is None for p in per):
                raise NascSemanticError(f"'{name}' is only defined for some repeat counts", stmt.span)
            if all(p == per[0] for p in per):
                env.assign(name, per[0])
                continue
            tensors = [p for p in per if isinstance(p, Tensor)]
            if len(tensors) == len(per):
                select = tuple(frozenset(o for o, v in enumerate(values) if v == dv) for dv in distinct)
                shape = self._unify_shapes([p.shape for p in tensors], decision, select, stmt.span,
                                           f"'{name}' after the repeat",
                                           labels=tuple(f"{v} iteration{'s' if v != 1 else ''}" for v in distinct))
                node = self.graph.add("repeat_gate", None, {}, tuple(p.node for p in tensors), shape,
                                      decision=decision, select=select, instance=self.scope.inst, span=stmt.span)
                env.assign(name, Tensor(node.id, shape, stmt.span, name))
            elif all(not isinstance(p, (Tensor, OpVal, BlockVal, ChoiceOp, ChosenList, tuple)) for p in per):
                position = {v: i for i, v in enumerate(distinct)}
                env.assign(name, self._pick(self._lift(position.__getitem__, count, span=stmt.span), per, stmt.span))
            else:
                raise NascSemanticError(f"'{name}' ({kind_of(per[0])}) differs between repeat counts; only "
                                        "tensors and values may", stmt.span)


def _assigned_names(body: tuple[A.Stmt, ...]) -> set[str]:
    """Names a body may assign, nested repeat and if bodies included: the values a gated repeat must select.
    """
    out: set[str] = set()
    for s in body:
        if isinstance(s, A.Assign):
            out |= set(s.targets)
        elif isinstance(s, A.Repeat):
            out |= _assigned_names(s.body)
            if s.var:
                out.add(s.var)
        elif isinstance(s, A.If):
            out |= _assigned_names(s.body) | _assigned_names(s.orelse or ())
    return out
