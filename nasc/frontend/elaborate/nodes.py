"""Adding IR nodes: op nodes with their shape, cost and size checks, and the nodes
that select between tensors by a decision.

Every tensor of a space is made here, so the checks that need a node's shape --
shape rules, the tensor-size bound, shapes that candidates must share -- run at
the construct that creates it and report there.
"""

from __future__ import annotations

from typing import Any

from ...errors import NascSemanticError, Note, Span
from ...ir.cost import lifted_cost, op_footprint
from ...ir.graph import fmt_shape
from ...ir.ops import OpError
from ...ir.sym import SymError, distribute, leaf, lift
from ..values import ChosenList, Tensor
from . import limits
from .core import ElaborationCore


class GraphNodes(ElaborationCore):
    """Creates the IR nodes of tensors: ops, input choices and the shapes of selections."""

    def _op_node(self, op: str, attrs: dict[str, Any], args: list[Any], span: Span, lib: Any = None,
                 operand_spans: tuple[Span, ...] = (), err_span: Span | None = None) -> Tensor:
        """Add one op node; `err_span` is where a bad input or attribute is reported (the op
        itself in `x |> op(...)`), `span` the node's own span."""
        lib = lib or self.loader.ops
        at = err_span or span
        opdef = lib.get(op)
        tensors = []
        if opdef.arity < 0 and len(args) == 1 and isinstance(args[0], tuple):
            args = list(args[0])
        for a in args:
            if isinstance(a, ChosenList):
                raise NascSemanticError("the result of 'choose' must be reduced with sum(), mean() or "
                                        "concat() first", span)
            tensors.append(self._expect_tensor(a, span, f"input of '{op}'"))
        try:
            full = lib.bind(opdef, attrs)
        except OpError as err:
            raise NascSemanticError(str(err), at) from None
        if "identity" in opdef.flags and len(tensors) == 1:
            return tensors[0]
        shapes = [t.shape for t in tensors]

        def rule(sh: list[Any], at: dict[str, Any]) -> Any:
            """The op's shape rule on one combination of input shapes and attributes (lifted below)."""
            return lib.shape(op, sh, at)

        try:
            shape = distribute(lift(rule, shapes, full, budget=self.budget))
            cost = lifted_cost(lib, op, shapes, full, self.budget)
            param_bytes, out_bytes = op_footprint(cost, shape, self.budget)
        except OpError as err:
            msg = str(err)
            notes: tuple[Note, ...] = ()
            if op in ("add", "mul") and len(tensors) == 2 and operand_spans:
                a, b = tensors
                msg = (f"cannot {'add' if op == 'add' else 'multiply'} {fmt_shape(a.shape)}"
                       f"{_where(a, operand_spans[0])} and {fmt_shape(b.shape)}{_where(b, operand_spans[1])}")
                notes = tuple(Note(f"'{t.name}' is {fmt_shape(t.shape)} here", t.span) for t in (a, b)
                              if t.name and t.span is not None)
            elif op in ("add", "mean", "concat") and len(tensors) > 1:
                notes = tuple(Note(f"input {i} is {fmt_shape(t.shape)}", t.span) for i, t in enumerate(tensors)
                              if t.span is not None)
            elif f"'{op}'" not in msg and f"{op} " not in msg:
                msg = f"op '{op}': {msg}"  # name the op when its rule (or a sub-op's) did not
            raise NascSemanticError(msg, at, notes) from None
        except SymError as err:
            raise NascSemanticError(str(err), at) from None
        except (TypeError, ValueError, ArithmeticError, KeyError, IndexError) as err:
            # a shape rule that choked on its arguments (custom ops are user code)
            raise NascSemanticError(f"op '{op}' cannot be applied to these inputs and arguments "
                                    f"({type(err).__name__}: {err})", at) from None
        for what, nbytes in (("parameters take", param_bytes), ("output at batch 1 takes", out_bytes)):
            if nbytes > limits.MAX_TENSOR_BYTES:
                raise NascSemanticError(f"op '{op}' is too large to build: its {what} {nbytes:,} bytes at fp32, "
                                        f"more than the {limits.MAX_TENSOR_BYTES:,} one op may use", at)
        self._work(at)
        node = self.graph.add("op", op, full, tuple(t.node for t in tensors), shape,
                              instance=self.scope.inst, span=span)
        self.graph.costs[node.id] = cost
        return Tensor(node.id, shape, span)

    def _input_choice(self, cl: ChosenList, reduce: str, span: Span) -> Tensor:
        """Add the node of a reduced `choose` (sum, mean or concat of the chosen tensors), checking that every
        combination of candidates can be reduced.
        """
        shapes = [t.shape for t in cl.tensors]
        if reduce in ("sum", "mean"):
            for t in cl.tensors[1:]:
                if not shapes_match(t.shape, cl.tensors[0].shape):
                    raise NascSemanticError(f"cannot {reduce} chosen tensors of shapes {fmt_shape(shapes[0])} and "
                                            f"{fmt_shape(t.shape)}", span)
            shape = cl.tensors[0].shape
        else:
            ch = shapes[0][1] if len(shapes[0]) > 1 else None
            if not all(s[1] == ch and s[2:] == shapes[0][2:] for s in shapes):
                raise NascSemanticError("concat of a choose needs candidates of equal shapes", span)
            shape = (shapes[0][0], ch * cl.k, *shapes[0][2:]) if isinstance(ch, int) else shapes[0]
        node = self.graph.add("input_choice", None, {"k": cl.k, "reduce": reduce}, tuple(t.node for t in cl.tensors),
                              shape, decision=cl.decision, select=tuple(range(len(cl.tensors))),
                              instance=self.scope.inst, span=span)
        return Tensor(node.id, shape, span)

    def _unify_shapes(self, shapes: list[tuple[Any, ...]], decision: int, select: tuple[frozenset[int], ...],
                      span: Span, what: str, labels: tuple[str, ...] | None = None,
                      spans: list[Span] | None = None) -> tuple[Any, ...]:
        """The shape of a node selecting among `shapes` by a decision: equal shapes stay; shapes differing in
        channels only get a decision-dependent channel count; any other difference is an error naming the two
        candidates, as no one tensor type holds both.
        """
        first = shapes[0]
        if all(shapes_match(s, first) for s in shapes):
            return first
        for i, s in enumerate(shapes):
            if len(s) != len(first) or s[0] != first[0] or s[2:] != first[2:]:
                la = f"'{labels[0]}'" if labels else "the first"
                lb = f"'{labels[i]}'" if labels else f"option {i}"
                at = spans[i] if spans and i < len(spans) else span
                notes = (Note(f"{la} is here", spans[0]),) if spans and spans[0] != at else ()
                raise NascSemanticError(f"candidates of {what} produce different shapes: {la} gives "
                                        f"{fmt_shape(first)}, {lb} gives {fmt_shape(s)}", at, notes)
        d = self.decisions[decision]
        option_to_input = [next(j for j, sel in enumerate(select) if o in sel) for o in range(d.n)]
        chan = self._pick(leaf(decision, option_to_input), [s[1] for s in shapes], span)
        return (first[0], chan, *first[2:])


def _where(t: Tensor, span: Span) -> str:
    """`(name, l:c)`: where a named tensor was defined, else where the operand is written."""
    if t.name and t.span is not None:
        return f" ({t.name}, {t.span.line}:{t.span.col})"
    return f" ({span.line}:{span.col})"


def shapes_match(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two shapes agree, symbolic batch dims and `?` matching anything: the equality that outputs,
    choices and sums require.
    """
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        if isinstance(x, str) and isinstance(y, str):
            continue  # two symbolic batch dims
        if x == "?" or y == "?":
            continue
        return False
    return True
