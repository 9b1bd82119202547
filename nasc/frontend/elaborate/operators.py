"""Operators: `not`, negation, ternaries, comparisons, `and`/`or`, `|>` and arithmetic.

Operands may be plain values or depend on decisions (every operator is lifted
over the decisions' options), tensors (`+` and `*` make add/mul nodes) or
quantities with units.  Integers are bounded like int64, and string and list
growth is bounded, so no program can exhaust memory or make a value a later stage
cannot represent.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import NascSemanticError, Span
from ...ir.sym import Sym
from .. import ast as A
from ..values import BlockVal, ChoiceOp, ChosenList, Metric, OpVal, PathMetric, QuantityVal, Tensor, kind_of
from . import limits
from .core import truthy
from .describe import article, show
from .nodes import GraphNodes
from .scope import Env


class _DivZero(Exception):
    """Raised inside a lifted rule, so a division by zero under any option is one located error."""


class _Overflow(Exception):
    """Raised inside a lifted rule when a result leaves the 64-bit range (or is not finite)."""


class Operators(GraphNodes):
    """Evaluates unary, ternary, comparison and binary expressions."""

    def _e_Unary(self, e: A.Unary, env: Env) -> Any:
        """`not x` and `-x`, lifted over decisions; a negated quantity keeps its unit."""
        v = self.eval(e.operand, env)
        if e.op == "not":
            if isinstance(v, Sym):
                return self._lift(lambda x: not x, v, span=e.span)
            return not truthy(v, e.operand.span)
        if isinstance(v, QuantityVal):
            return QuantityVal(-v.value, v.dim, "-" + v.text)
        self._need_number(v, e.operand.span, "negate")
        return self._lift(lambda x: -x, v, span=e.span)

    def _e_Ternary(self, e: A.Ternary, env: Env) -> Any:
        """`a if c else b`; a decision-dependent condition needs plain values in both branches, which become one
        decision-dependent value (a tensor would need a graph node per branch).
        """
        cond = self.eval(e.cond, env)
        if isinstance(cond, Sym):
            a, b = self.eval(e.then, env), self.eval(e.orelse, env)
            for v, sp in ((a, e.then.span), (b, e.orelse.span)):
                if isinstance(v, (Tensor, OpVal, BlockVal, ChoiceOp, ChosenList, tuple)):
                    raise NascSemanticError("this condition depends on a decision, so both branches must be "
                                            f"plain values; this one is {kind_of(v)}", sp)
            return self._lift(lambda c, x, y: x if c else y, cond, a, b, span=e.span)
        return self.eval(e.then if truthy(cond, e.cond.span) else e.orelse, env)

    def _e_Compare(self, e: A.Compare, env: Env) -> Any:
        """A chained comparison (`a < b <= c`), the conjunction of its steps; comparing a metric is only allowed
        as a whole constraint.
        """
        left = self.eval(e.operands[0], env)
        result: Any = True
        for op, rhs_e in zip(e.ops, e.operands[1:]):
            right = self.eval(rhs_e, env)
            if self.constraint_mode and isinstance(left, (Metric, PathMetric)):
                raise NascSemanticError("a metric comparison must be the whole constraint", e.span)
            step = self._compare(op, left, right, e.span)
            result = step if result is True else self._lift(lambda a, b: a and b, result, step, span=e.span)
            left = right
        return result

    def _compare(self, op: str, a: Any, b: Any, span: Span) -> Any:
        """One comparison step, refusing operands Python would compare surprisingly: tensors, quantities of
        different units, strings against numbers.
        """
        for v in (a, b):
            if isinstance(v, (Tensor, ChosenList)):
                raise NascSemanticError(f"cannot compare {article(kind_of(v))}; use spatial(x) or channels(x)", span)
        if isinstance(a, QuantityVal) or isinstance(b, QuantityVal):
            if not (isinstance(a, QuantityVal) and isinstance(b, QuantityVal) and a.dim == b.dim):
                raise NascSemanticError(f"cannot compare {show(a)} and {show(b)}: units differ", span)
            a, b = a.value, b.value
        if op == "in":
            if not isinstance(b, tuple):
                raise NascSemanticError(f"'in' needs a list on the right, got {kind_of(b)}", span)
            return self._lift(lambda x: x in b, a, span=span)
        fns = {"==": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
               "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y}
        if op not in ("==", "!="):
            for v in (a, b):
                if not isinstance(v, Sym) and (isinstance(v, bool) or not isinstance(v, (int, float, str))):
                    raise NascSemanticError(f"cannot order {kind_of(v)} values with '{op}'", span)
            if not isinstance(a, Sym) and not isinstance(b, Sym) and isinstance(a, str) != isinstance(b, str):
                raise NascSemanticError(f"cannot compare {kind_of(a)} {show(a)} and {kind_of(b)} {show(b)} with "
                                        f"'{op}'", span)
        try:
            return self._lift(fns[op], a, b, span=span)
        except TypeError:
            raise NascSemanticError(f"cannot compare {show(a)} and {show(b)}", span) from None

    def _e_Binary(self, e: A.Binary, env: Env) -> Any:
        """`|>` applies its right side to its left; `and`/`or` short-circuit on plain values; the rest is
        arithmetic.
        """
        if e.op == "|>":
            x = self.eval(e.left, env)
            f = self.eval(e.right, env)
            return self.apply(f, [x], e.right.span, e.span)
        if e.op in ("and", "or"):
            a = self.eval(e.left, env)
            if not isinstance(a, Sym):
                ta = truthy(a, e.left.span)
                if (e.op == "and" and not ta) or (e.op == "or" and ta):
                    return a
                return self.eval(e.right, env)
            b = self.eval(e.right, env)
            fn = (lambda x, y: x and y) if e.op == "and" else (lambda x, y: x or y)
            return self._lift(fn, a, b, span=e.span)
        a = self.eval(e.left, env)
        b = self.eval(e.right, env)
        return self._arith(e.op, a, b, e)

    def _arith(self, op: str, a: Any, b: Any, e: A.Binary) -> Any:
        """Arithmetic on tensors (add/mul nodes), lists, quantities, strings and numbers, each bounded
        (MAX_UNROLL, MAX_STRING, MAX_INT_BITS).
        """
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
                other = b if isinstance(a, Tensor) else a
                raise NascSemanticError(f"cannot apply '{op}' to a tensor and {article(kind_of(other))}",
                                        e.span)
            opname = {"+": "add", "*": "mul"}.get(op)
            if opname is None:
                raise NascSemanticError(f"tensors support '+' (add) and '*' (multiply), not '{op}'", e.span)
            return self._op_node(opname, {}, [a, b], e.span,
                                 operand_spans=(e.left.span, e.right.span))
        if isinstance(a, tuple) and isinstance(b, tuple) and op == "+":
            if len(a) + len(b) > limits.MAX_UNROLL:
                raise NascSemanticError(f"list of more than {limits.MAX_UNROLL:,} elements", e.span)
            return a + b
        if isinstance(a, QuantityVal) or isinstance(b, QuantityVal):
            return self._quantity_arith(op, a, b, e.span)
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            if len(a) + len(b) > limits.MAX_STRING:
                raise NascSemanticError(f"string of more than {limits.MAX_STRING:,} characters", e.span)
            return a + b
        self._need_number(a, e.left.span, op)
        self._need_number(b, e.right.span, op)

        def fn(x: Any, y: Any) -> Any:
            """`op` on one combination of plain operands."""
            if op == "+":
                return x + y
            if op == "-":
                return x - y
            if op == "*":
                return x * y
            if y == 0 and op in ("/", "//", "%"):
                raise _DivZero()
            if op == "/":
                return x / y
            if op == "//":
                return x // y
            return x % y

        def checked(x: Any, y: Any) -> Any:
            """`fn`, its result held to the int64 range and to finite floats."""
            r = fn(x, y)
            if isinstance(r, int) and r.bit_length() > limits.MAX_INT_BITS:
                raise _Overflow()
            if isinstance(r, float) and not math.isfinite(r):
                raise _Overflow()
            return r

        try:
            return self._lift(checked, a, b, span=e.span)
        except _DivZero:
            raise NascSemanticError("division by zero", e.span) from None
        except _Overflow:
            raise NascSemanticError(f"arithmetic overflow: the result of '{op}' does not fit in 64 bits", e.span) \
                from None
        except OverflowError:
            raise NascSemanticError(f"arithmetic overflow in '{op}'", e.span) from None

    def _quantity_arith(self, op: str, a: Any, b: Any, span: Span) -> Any:
        """Arithmetic that keeps a unit: scaling by a number, and adding or subtracting quantities of one
        dimension.
        """
        if isinstance(a, QuantityVal) and isinstance(b, (int, float)) and op in ("*", "/"):
            return QuantityVal(a.value * b if op == "*" else a.value / b, a.dim, f"{a.text}{op}{b}")
        if isinstance(b, QuantityVal) and isinstance(a, (int, float)) and op == "*":
            return QuantityVal(b.value * a, b.dim, f"{a}*{b.text}")
        if isinstance(a, QuantityVal) and isinstance(b, QuantityVal) and op in ("+", "-") and a.dim == b.dim:
            return QuantityVal(a.value + b.value if op == "+" else a.value - b.value, a.dim, f"{a.text}{op}{b.text}")
        raise NascSemanticError(f"cannot apply '{op}' to {show(a)} and {show(b)}", span)
