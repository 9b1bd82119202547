"""Constraints: a cost metric compared with a bound (`latency on cpu <= 5ms`), or a
structural predicate (`connected(a, b)`), hard or soft.

A constraint is evaluated like an expression, but with the metrics and predicates
in scope; the result is a :class:`~nasc.ir.space.ConstraintSpec` scoped to the
instance it is written in.  Accuracy-like names get an error of their own: they
are what the search optimizes, not something to bound.
"""

from __future__ import annotations

from typing import Any

from ...errors import NascNameError, NascSemanticError, Span, did_you_mean
from ...ir.space import ConstraintSpec
from .. import ast as A
from ..values import Metric, PathMetric, Predicate, QuantityVal
from .describe import head_span, show
from .metrics import METRICS
from .names import Names
from .scope import Env

_OUTCOMES = frozenset({"accuracy", "acc", "top1", "top5", "top1_accuracy", "loss", "error", "val_acc",
                       "val_loss"})


class Constraints(Names):
    """Turns `constraint` statements into ConstraintSpecs."""

    def _exec_constraint(self, stmt: A.Constraint, env: Env) -> None:
        """Record a `constraint`, evaluated with metrics and predicates in scope (and only there)."""
        self.constraint_mode = True
        try:
            spec = self._constraint(stmt, env)
        finally:
            self.constraint_mode = False
        self.constraints.append(spec)

    def _constraint(self, stmt: A.Constraint, env: Env) -> ConstraintSpec:
        """The ConstraintSpec of a constraint statement: a metric compared with a bound (either side first) or a
        predicate; unknown metrics and outcome names get errors of their own, being the common mistakes.
        """
        target, targs = self._target(stmt.target, env)
        hard, weight = True, 1.0
        if stmt.strength is not None and stmt.strength.kind == "soft":
            hard = False
            for arg in stmt.strength.args or ():
                if arg.name != "weight":
                    raise NascSemanticError("soft() takes one argument: weight", arg.span)
                w = self.eval(arg.value, env)
                if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
                    raise NascSemanticError(f"a soft weight must be a non-negative number, got {show(w)}",
                                            arg.value.span)
                weight = float(w)
        elif stmt.strength is not None and stmt.strength.args:
            raise NascSemanticError("'hard' takes no arguments", stmt.strength.span)
        expr = stmt.expr
        while isinstance(expr, A.Paren):
            expr = expr.expr
        common: dict[str, Any] = dict(target=target, target_args=targs, hard=hard, weight=weight, scope=self.scope.inst,
                      span=stmt.span)
        if isinstance(expr, A.Compare) and len(expr.ops) == 1:
            for side, other in zip(expr.operands, expr.operands[::-1]):
                other = _strip_parens(other)
                if isinstance(side, A.Name) and not self._is_known(side.id, env) and not (
                        isinstance(other, A.Name) and other.id in METRICS):
                    if side.id.lower() in _OUTCOMES:
                        raise NascSemanticError(f"'{side.id}' cannot be constrained: constraints bound cost metrics "
                                                f"({', '.join(METRICS)}); accuracy and loss are what the search "
                                                "optimizes, configured in an 'experiment' section", side.span)
                    raise NascNameError(f"unknown metric '{side.id}'" + (did_you_mean(side.id, METRICS) or
                                        "; a constraint bounds one of: " + ", ".join(METRICS)), side.span)
            lhs = self.eval(expr.operands[0], env)
            rhs = self.eval(expr.operands[1], env)
            op = expr.ops[0]
            if isinstance(rhs, (Metric, PathMetric)) and not isinstance(lhs, (Metric, PathMetric)):
                lhs, rhs = rhs, lhs
                op = {"<=": ">=", "<": ">", ">=": "<=", ">": "<", "==": "=="}.get(op, op)
            if op not in ("<=", "<", ">=", ">", "=="):
                raise NascSemanticError(f"a constraint compares with <=, <, >=, > or ==, not '{op}'", expr.span)
            bound_span = expr.operands[1].span
            if isinstance(lhs, PathMetric):
                bound = self._bound(rhs, "count", "min_path_ops", bound_span)
                return ConstraintSpec("min_path_ops", op, bound[0], "count", bound[1], nodes=(lhs.src.node,
                                      lhs.dst.node), exclude=lhs.exclude, **common)
            if isinstance(lhs, Metric):
                if target is not None and lhs.name in ("params", "flops", "macs", "depth"):
                    pass  # counts do not depend on the target; allowed for uniformity
                dim = METRICS[lhs.name]
                bound = self._bound(rhs, dim, lhs.name, bound_span)
                return ConstraintSpec(lhs.name, op, bound[0], dim, bound[1], **common)
        value = self.eval(expr, env)
        if isinstance(value, Predicate):
            return ConstraintSpec(value.name, None, None, "", "", nodes=value.nodes, **common)
        if isinstance(value, Metric):
            example = {"time": "5ms", "count": "1M", "bytes": "2MB"}[METRICS[value.name]]
            raise NascSemanticError(f"a constraint on '{value.name}' needs a bound, e.g. "
                                    f"'constraint {value.name} <= {example}'", stmt.expr.span)
        raise NascSemanticError("a constraint compares a metric (" + ", ".join(METRICS) + ") with a bound, or "
                                "is a predicate (connected(a, b), min_path_ops(...) >= n)", stmt.expr.span)

    def _bound(self, v: Any, dim: str, metric: str, span: Span) -> tuple[float, str]:
        """A bound in base units with its source text; its unit must be the metric's dimension, and a time needs
        one (a bare number is ambiguous).
        """
        names = {"time": "a time (e.g. 5ms)", "count": "a count (e.g. 1M)", "bytes": "a size in bytes (e.g. 2MB)"}
        if isinstance(v, QuantityVal):
            if v.dim != dim:
                raise NascSemanticError(f"unit mismatch: {metric} is {names[dim]}, but '{v.text}' is "
                                        f"{names[v.dim].split(' (')[0]}", span)
            return v.value, v.text
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise NascSemanticError(f"the bound of a {metric} constraint must be {names[dim]}, got {show(v)}", span)
        if dim == "time":
            raise NascSemanticError(f"{metric} needs a time unit: write '{show(v)}ms' (or us, ns, s), not "
                                    f"'{show(v)}'", span)
        return float(v), str(v)

    def _target(self, t: A.TargetRef | None, env: Env) -> tuple[str | None, tuple[tuple[str, Any], ...]]:
        """The target of `constraint ... on TARGET(args)`, checked against the known targets (an alias
        stands for its board from here on) and their arguments."""
        if t is None:
            return None, ()
        from ...targets import TARGET_NAMES, accepted_names, canonical_name

        name = canonical_name(t.name)  # an alias (`jetson`) stands for its board from here on
        if name is None:
            hint = did_you_mean(t.name, accepted_names())
            raise NascSemanticError(f"unknown target '{t.name}'" +
                                    (hint or "; known targets: " + ", ".join(TARGET_NAMES)),
                                    head_span(t.span, t.name) if not t.quoted else t.span)
        args = []
        for arg in t.args or ():
            if arg.name is None:
                raise NascSemanticError("target arguments must be named (precision = \"fp16\")", arg.span)
            if arg.name not in ("precision", "batch", "backend", "threads"):
                raise NascSemanticError(f"unknown target argument '{arg.name}'"
                                        f"{did_you_mean(arg.name, ['precision', 'batch', 'backend', 'threads'])}",
                                        arg.span)
            args.append((arg.name, self.eval(arg.value, env)))
        return name, tuple(args)


def _strip_parens(e: A.Expr) -> A.Expr:
    """`e` without enclosing parentheses."""
    while isinstance(e, A.Paren):
        e = e.expr
    return e
