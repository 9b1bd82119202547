"""Literals and collections: numbers, strings, quantities, lists, ranges,
comprehensions and indexing -- the expressions that need names and operators
(:mod:`.names`, :mod:`.operators`) but create no decisions.
"""

from __future__ import annotations

from typing import Any

from ...errors import NascSemanticError
from ...ir.sym import Sym
from .. import ast as A
from ..values import UNITS, QuantityVal, kind_of
from . import limits
from .core import truthy
from .describe import article, show
from .names import Names
from .operators import Operators
from .scope import Env


class Expressions(Names, Operators):
    """Evaluates every expression that does not create a decision or apply a callable."""

    def _literal(self, e: A.Int | A.Float | A.Str | A.Bool, env: Env) -> Any:
        """A literal is its own value."""
        return e.value

    _e_Int = _e_Float = _e_Str = _e_Bool = _literal

    def _e_Quantity(self, e: A.Quantity, env: Env) -> Any:
        """A number with a unit, in base units (5ms -> 0.005 s), keeping its text for messages and printed
        bounds.
        """
        dim, factor = UNITS[e.unit]
        return QuantityVal(e.number * factor, dim, e.text)

    def _e_Paren(self, e: A.Paren, env: Env) -> Any:
        """Parentheses only group."""
        return self.eval(e.expr, env)

    def _e_Index(self, e: A.Index, env: Env) -> Any:
        """`xs[i]` on a list, or on a decision-dependent value (indexing each option)."""
        obj = self.eval(e.obj, env)
        idx = self.eval(e.index, env)
        if isinstance(obj, tuple):
            if isinstance(idx, bool) or not isinstance(idx, int):
                raise NascSemanticError(f"a list index must be an integer, got {show(idx)}", e.index.span)
            if not -len(obj) <= idx < len(obj):
                raise NascSemanticError(f"index {idx} is out of range for a list of {len(obj)}", e.index.span)
            return obj[idx]
        if isinstance(obj, Sym) and isinstance(idx, int):
            return self._lift(lambda o: o[idx], obj, span=e.span)
        raise NascSemanticError(f"cannot index {article(kind_of(obj))}", e.span)

    def _e_ListExpr(self, e: A.ListExpr, env: Env) -> Any:
        """A list; labels belong to candidate lists only, so one here is an error."""
        for it in e.items:
            if it.label is not None:
                raise NascSemanticError("candidate labels are only allowed in 'choice' and 'choose' lists",
                                        it.span)
        return tuple(self.eval(it.value, env) for it in e.items)

    def _e_Range(self, e: A.Range, env: Env) -> Any:
        """`lo..hi`, inclusive, bounded by MAX_UNROLL."""
        if e.hi < e.lo:
            raise NascSemanticError(f"empty range {e.lo}..{e.hi}", e.span)
        if e.hi - e.lo >= limits.MAX_UNROLL:
            raise NascSemanticError(f"range {e.lo}..{e.hi} has more than {limits.MAX_UNROLL:,} elements", e.span)
        return tuple(range(e.lo, e.hi + 1))

    def _e_Comprehension(self, e: A.Comprehension, env: Env) -> Any:
        """`[expr for x in xs if c]` as a list."""
        return tuple(v for v, _ in self._comprehension(e, env))

    def _comprehension(self, e: A.Comprehension, env: Env) -> list[tuple[Any, int]]:
        """The elements of a comprehension with their positions in the iterated list: decisions made per element
        are named `[i]` after them, and unlabelled candidates are labelled by them.
        """
        it = self.eval(e.iter, env)
        if not isinstance(it, tuple):
            raise NascSemanticError(f"a comprehension iterates over a list, got {kind_of(it)}", e.iter.span)
        out: list[tuple[Any, int]] = []
        for i, x in enumerate(it):
            self._tick(e.span)
            child = env.child()
            child.vars[e.var] = x
            self.scope.loop.append(i)
            try:
                if e.cond is not None:
                    c = self.eval(e.cond, child)
                    if isinstance(c, Sym):
                        raise NascSemanticError("a comprehension filter must not depend on a decision", e.cond.span)
                    if not truthy(c, e.cond.span):
                        continue
                out.append((self.eval(e.expr, child), i))
            finally:
                self.scope.loop.pop()
        return out
