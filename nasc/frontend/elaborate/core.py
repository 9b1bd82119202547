"""The state of one elaboration and the primitives every section of it uses.

Elaboration is one walk over a space's syntax tree.  Its sections (names,
operators, decisions, blocks, statements, ...) are mixin classes over
:class:`ElaborationCore`, each deriving from the sections it calls, and
:class:`~nasc.frontend.elaborate.driver.Elaborator` combines them.  All state the
sections share is declared in ``ElaborationCore.__init__`` and belongs to the
instance: nothing lives in module globals, so elaborations never share state.

The language recurses through two points -- an expression applies a block, and a
block's body holds expressions -- so those two methods (:meth:`apply` and
:meth:`_exec_body`) are declared here and defined by the sections that own them;
every other call goes from a section to one it derives from, and no module of
this package imports a module that imports it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Any, Iterator

from ...errors import NascError, NascSemanticError, Span
from ...ir.graph import IRGraph
from ...ir.space import ConstraintSpec, Decision
from ...ir.sym import Budget, BudgetExceeded, Sym, SymError, lift, pick
from .. import ast as A
from ..resolve import Loader
from ..values import ChosenList, Tensor, kind_of
from . import limits
from .describe import show
from .pins import Pin
from .scope import Env, Scope, SharedGroup


class ElaborationCore(ABC):
    """The shared state of an elaboration, expression dispatch, and the bounded primitives."""

    def __init__(self, loader: Loader, pins: dict[str, Pin] | None = None) -> None:
        """One instance per elaboration: every table below is its own (the pins are copied), so nothing is shared
        between elaborations, and every counter starts at zero.
        """
        self.loader = loader
        self.graph = IRGraph()
        self.decisions: list[Decision] = []
        self.by_path: dict[str, Decision] = {}
        self.pins: dict[str, Pin] = dict(pins or {})
        self.groups: dict[str, SharedGroup] = {}
        self.constraints: list[ConstraintSpec] = []
        self.scope = Scope("", "")
        self.warnings: list[NascError] = []
        self.unrolled = 0
        self.constraint_mode = False
        self._group_seen: list[set[str]] = []
        self._group_calls: list[Span] = []  # call sites of the shared-block instances being elaborated
        self._call_stack: list[str] = []
        self._instances: list[Span] = []  # call sites of the block instances being elaborated
        self.work = 0  # ops and block instances created (bounded by limits.MAX_WORK)
        self.budget = Budget(limits.MAX_STEPS, "expressions evaluated and decision combinations computed; is a "
                                               "loop body or a decision table very large?")
        self._const_depth = 0  # consts being evaluated, innermost last (bounded by limits.MAX_CONST_DEPTH)
        self._extends_chain: list[str] = []  # `space B extends A`: the spaces being extended, outermost first
        self._extends_specs: list[A.SpaceDef] = []
        self._io: dict[str, tuple[str, Span]] = {}  # input/output names of the space -> (kind, span)

    def eval(self, e: A.Expr, env: Env) -> Any:
        """Evaluate an expression, charging one step first so no input runs unboundedly; dispatches to the
        `_e_<Node>` method of the expression's class, in whichever section defines it.
        """
        try:
            self.budget.charge(1)
        except BudgetExceeded as err:
            raise NascSemanticError(str(err), e.span) from None
        method = getattr(self, "_e_" + type(e).__name__)
        return method(e, env)

    @abstractmethod
    def apply(self, f: Any, args: list[Any], fspan: Span, span: Span) -> Any:
        """Apply an op value, block, choice of ops or function to its tensor arguments
        (:class:`~nasc.frontend.elaborate.calls.Calls`); expressions apply, hence declared here."""

    @abstractmethod
    def _exec_body(self, body: tuple[A.Stmt, ...], env: Env, where: str) -> None:
        """Run statements in order (:class:`~nasc.frontend.elaborate.statements.Statements`); a
        block instance runs its body from inside an expression, hence declared here."""

    def _lift(self, fn: Any, *args: Any, span: Span | None = None) -> Any:
        """`fn` over values that may depend on decisions, charging the budget per combination; a rule's error
        becomes a diagnostic at `span`.
        """
        try:
            return lift(fn, *args, budget=self.budget)
        except SymError as err:
            raise NascSemanticError(str(err), span) from None
        except TypeError as err:
            raise NascSemanticError(f"invalid operands: {err}", span) from None

    def _pick(self, index: Any, options: list[Any], span: Span) -> Any:
        """``options[index]`` for a decision-dependent index (a choice among values)."""
        try:
            return pick(index, options, self.budget)
        except SymError as err:
            raise NascSemanticError(str(err), span) from None

    @contextmanager
    def _naming(self, name: str, raw: bool = False) -> Iterator[None]:
        """Set the binding that names decisions and instances created while evaluating."""
        saved = self.scope.binding, self.scope.loop
        if raw:
            # `name` already includes the loop suffixes (a call argument's path)
            self.scope.binding, self.scope.loop = name, []
        else:
            self.scope.binding = name
        try:
            yield
        finally:
            self.scope.binding = saved[0]
            self.scope.loop = saved[1]

    def _work(self, span: Span) -> None:
        """Count one op or block instance against MAX_WORK: blocks calling blocks grow exponentially, and this
        stops them at the call that crosses the bound.
        """
        self.work += 1
        if self.work > limits.MAX_WORK:
            raise NascSemanticError(f"elaboration creates more than {limits.MAX_WORK:,} ops and block instances; "
                                    "do blocks call other blocks many times over?", span)

    def _tick(self, span: Span) -> None:
        """Count one repeat iteration or comprehension element against MAX_UNROLL."""
        self.unrolled += 1
        if self.unrolled > limits.MAX_UNROLL:
            raise NascSemanticError(f"elaboration unrolls more than {limits.MAX_UNROLL} iterations; is a repeat "
                                    "count too large?", span)

    def _need_number(self, v: Any, span: Span, op: str) -> None:
        """Refuse a non-number operand of `op` with its kind and value, before Python would raise an unlocated
        TypeError; a decision qualifies when all its values are numbers.
        """
        if isinstance(v, Sym):
            vals = v.values()
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals):
                return
        if isinstance(v, bool) or not isinstance(v, (int, float, Sym)):
            raise NascSemanticError(f"'{op}' needs numbers, got {kind_of(v)} {show(v)}", span)

    def _expect_tensor(self, v: Any, span: Span | None, what: str) -> Tensor:
        """`v` as a tensor, or an error saying `what` needs one (with the fix for an unreduced `choose`)."""
        if isinstance(v, Tensor):
            return v
        if isinstance(v, ChosenList):
            raise NascSemanticError(f"{what}: reduce the result of 'choose' with sum(), mean() or concat()", span)
        raise NascSemanticError(f"{what} must be a tensor, got {kind_of(v)} {show(v)}", span)


def truthy(v: Any, span: Span) -> bool:
    """A condition's value: only bools and numbers, so a string or a list in an `if` is a located error rather
    than Python's truthiness.
    """
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    raise NascSemanticError(f"expected a condition (bool), got {kind_of(v)} {show(v)}", span)
