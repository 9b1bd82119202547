"""Statements of space and block bodies: assignments, inputs, outputs, `if`,
`return`, `constraint`, `fix` and (via :mod:`.repeats`) `repeat`.

The grammar accepts every statement in every body; where each may appear (an
`input` only in a space, a `return` only in a block) is checked here, with a
message that says what to write instead.
"""

from __future__ import annotations

from typing import Any

from ...errors import NascSemanticError, Note, Span
from ...ir.cost import tensor_bytes
from ...ir.graph import fmt_shape
from ...ir.sym import Sym, SymError
from .. import ast as A
from ..values import Tensor, kind_of
from . import limits
from .constraints import Constraints
from .core import truthy
from .nodes import shapes_match
from .repeats import Repeats
from .scope import BlockReturn, Env


class Statements(Constraints, Repeats):
    """Runs the statements of space and block bodies."""

    def _exec_body(self, body: tuple[A.Stmt, ...], env: Env, where: str) -> None:
        """Run statements in order."""
        for stmt in body:
            self._exec_stmt(stmt, env, where)

    def _exec_stmt(self, stmt: A.Stmt, env: Env, where: str) -> None:
        """Run one statement of a body of kind `where` (space or block)."""
        if isinstance(stmt, A.Assign):
            self._exec_assign(stmt, env)
        elif isinstance(stmt, A.InputDecl):
            if where != "space":
                raise NascSemanticError("'input' is only allowed in a space or arch body", stmt.span)
            self._declare_io("input", stmt.name, stmt.span)
            shape = self._eval_type(stmt.type, env)
            try:
                nbytes = tensor_bytes(shape, self.budget)
            except SymError as err:
                raise NascSemanticError(str(err), stmt.type.span) from None
            if nbytes > limits.MAX_TENSOR_BYTES:
                raise NascSemanticError(f"input '{stmt.name}' is too large: at batch 1 it takes {nbytes:,} bytes at "
                                        f"fp32, more than the {limits.MAX_TENSOR_BYTES:,} one tensor may use",
                                        stmt.type.span)
            node = self.graph.add("input", None, {}, (), shape, name=stmt.name, span=stmt.span,
                                  instance=self.scope.inst)
            env.vars[stmt.name] = Tensor(node.id, shape, stmt.span, stmt.name)
        elif isinstance(stmt, A.OutputDecl):
            if where != "space":
                raise NascSemanticError("'output' is only allowed in a space or arch body; a block returns "
                                        "its result with 'return'", stmt.span)
            self._declare_io("output", stmt.name, stmt.span)
            with self._naming(stmt.name):
                value = self.eval(stmt.value, env)
            t = self._expect_tensor(value, stmt.value.span, f"output '{stmt.name}'")
            if stmt.type is not None and stmt.type.dims is not None:
                declared = self._eval_type(stmt.type, env)
                if not shapes_match(declared, t.shape):
                    raise NascSemanticError(f"output '{stmt.name}' is declared {fmt_shape(declared)} but its "
                                            f"value has shape {fmt_shape(t.shape)}", stmt.value.span,
                                            (Note(f"declared {fmt_shape(declared)} here", stmt.type.span),))
            self.graph.add("output", None, {}, (t.node,), t.shape, name=stmt.name, span=stmt.span,
                           instance=self.scope.inst)
            env.vars[stmt.name] = t
        elif isinstance(stmt, A.Repeat):
            self._exec_repeat(stmt, env, where)
        elif isinstance(stmt, A.If):
            cond = self.eval(stmt.cond, env)
            if isinstance(cond, Sym):
                raise NascSemanticError("this condition depends on a decision; 'if' needs a compile-time "
                                        "value (use a choice of ops, or a ternary between values)",
                                        stmt.cond.span)
            branch = stmt.body if truthy(cond, stmt.cond.span) else (stmt.orelse or ())
            self._exec_body(branch, env, where)
        elif isinstance(stmt, A.Return):
            if where != "block":
                raise NascSemanticError("'return' is only allowed in a block; a space or arch ends with 'output' "
                                        "declarations", stmt.span)
            with self._naming(""):
                values = tuple(self.eval(v, env) for v in stmt.values)
            raise BlockReturn(values[0] if len(values) == 1 else values)
        elif isinstance(stmt, A.Constraint):
            self._exec_constraint(stmt, env)
        elif isinstance(stmt, A.Fix):
            if where != "space":
                raise NascSemanticError("'fix' is only allowed in a space or arch body; pin the decision from the "
                                        "space instead (fix <instance>.<name> = value)", stmt.span)
        else:  # pragma: no cover - the parser produces nothing else
            raise NascSemanticError(f"unsupported statement {type(stmt).__name__}", getattr(stmt, "span", None))

    def _declare_io(self, kind: str, name: str, span: Span) -> None:
        """Register an input or output name; a second declaration is an error."""
        if name in self._io:
            first_kind, first = self._io[name]
            raise NascSemanticError(f"'{name}' is declared twice (first as an {first_kind})", span,
                                    (Note("first declared here", first),))
        self._io[name] = (kind, span)

    def _exec_assign(self, stmt: A.Assign, env: Env) -> None:
        """`a, b = x, y`, or unpacking a tuple; an assigned tensor takes the name it is bound to, so later
        messages and printed archs use the source's names.
        """
        n_t, n_v = len(stmt.targets), len(stmt.values)
        if n_v == 1 and n_t > 1:
            with self._naming(stmt.targets[0]):
                value = self.eval(stmt.values[0], env)
            if not isinstance(value, tuple) or len(value) != n_t:
                raise NascSemanticError(f"cannot unpack {kind_of(value)} into {n_t} names", stmt.values[0].span)
            values = list(value)
        elif n_t != n_v:
            raise NascSemanticError(f"{n_t} names but {n_v} values", stmt.span)
        else:
            values = []
            for name, expr in zip(stmt.targets, stmt.values):
                with self._naming(name):
                    values.append(self.eval(expr, env))
        for name, value in zip(stmt.targets, values):
            if isinstance(value, Tensor):
                value = Tensor(value.node, value.shape, value.span, name)
                self.graph.hints.setdefault(value.node, name)
            env.assign(name, value)

    def _eval_type(self, t: A.TypeExpr, env: Env) -> tuple[Any, ...]:
        """The dimensions of a tensor type: integers, `?`, and names bound to integers or decisions (any other
        name stays symbolic, like the batch `B`).
        """
        if t.dims is None:
            raise NascSemanticError(f"a tensor type needs dimensions, e.g. {t.name}[B, 3, 32, 32]", t.span)
        dims: list[Any] = []
        for d in t.dims:
            if isinstance(d, int):
                dims.append(d)
            elif d == "?":
                dims.append("?")
            else:
                found, v = env.lookup(d)
                if found and isinstance(v, int) and not isinstance(v, bool):
                    dims.append(v)
                elif found and isinstance(v, Sym):
                    dims.append(v)
                else:
                    dims.append(d)
        return tuple(dims)
