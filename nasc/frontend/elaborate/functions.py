"""The builtin functions (sum, mean, concat, len, range, spatial, channels, min, max,
abs, int, float) and the predicates of constraints (connected, min_path_ops).

Builtins take positional arguments and reduce lists of tensors to op nodes, or of
values to (possibly decision-dependent) values; predicates take named tensor
arguments and become constraint operands.
"""

from __future__ import annotations

from typing import Any

from ...errors import NascNameError, NascSemanticError, Span, did_you_mean
from ...ir.graph import fmt_shape
from .. import ast as A
from ..values import ChosenList, OpVal, PathMetric, Predicate, Tensor, kind_of
from . import limits
from .describe import head_span, show
from .metrics import PREDICATES
from .nodes import GraphNodes
from .scope import Env


class Functions(GraphNodes):
    """Calls builtin functions and predicates."""

    def _call_func(self, name: str, e: A.Call, env: Env) -> Any:
        """A call of a builtin function or predicate by name; builtins take no named arguments."""
        if name in PREDICATES:
            return self._predicate(name, e, env)
        kw = {a.name: a for a in e.args if a.name is not None}
        if kw:
            raise NascSemanticError(f"{name}() takes no named arguments", next(iter(kw.values())).span)
        args = [self.eval(a.value, env) for a in e.args]
        return self.call_builtin(name, args, e.span, [a.value.span for a in e.args])

    def _predicate(self, name: str, e: A.Call, env: Env) -> Any:
        """`connected(from, to)` or `min_path_ops(from, to, exclude)`, their tensor arguments checked where they
        are written.
        """
        names = ["from", "to"] if name == "connected" else ["from", "to", "exclude"]
        got: dict[str, Any] = {}
        for i, a in enumerate(e.args):
            key = a.name if a.name is not None else (names[i] if i < len(names) else None)
            if key is None:
                raise NascSemanticError(f"{name}() takes at most {len(names)} arguments ({', '.join(names)}), got "
                                        f"{len(e.args)}", a.span)
            if key not in names:
                raise NascNameError(f"{name}() has no parameter '{key}'{did_you_mean(key, names)}",
                                    head_span(a.span, key))
            if key in got:
                raise NascSemanticError(f"parameter '{key}' of {name}() is given twice", a.span)
            got[key] = self.eval(a.value, env)
        for key in ("from", "to"):
            if key not in got:
                raise NascSemanticError(f"{name}() needs '{key}' (a tensor)", e.span)
            if not isinstance(got[key], Tensor):
                raise NascSemanticError(f"'{key}' of {name}() must be a tensor, got {kind_of(got[key])}",
                                        next((a.value.span for i, a in enumerate(e.args)
                                              if (a.name or (names[i] if i < len(names) else None)) == key),
                                             e.span))
        if name == "connected":
            return Predicate("connected", (got["from"].node, got["to"].node))
        excl = got.get("exclude", ())
        if not isinstance(excl, tuple) or not all(isinstance(x, OpVal) for x in excl):
            raise NascSemanticError("min_path_ops(exclude=...) takes a list of ops, e.g. [skip, zero]", e.span)
        return PathMetric(got["from"], got["to"], tuple(x.opdef.name for x in excl))

    def call_builtin(self, name: str, args: list[Any], span: Span, arg_spans: list[Span] | None = None) -> Any:
        """Builtin function `name` on evaluated `args`, whether called (`sum(xs)`) or piped into (`xs |> sum`).
        """
        arg_spans = arg_spans or [span] * len(args)

        def one() -> Any:
            """The only argument of a one-argument builtin."""
            if len(args) != 1:
                raise NascSemanticError(f"{name}() takes 1 argument, got {len(args)}", span)
            return args[0]

        if name in ("sum", "mean", "concat"):
            x = one()
            if isinstance(x, ChosenList):
                return self._input_choice(x, {"sum": "sum", "mean": "mean", "concat": "concat"}[name], span)
            if not isinstance(x, tuple) or not x:
                raise NascSemanticError(f"{name}() takes a non-empty list, got {kind_of(x)}", arg_spans[0])
            if all(isinstance(t, Tensor) for t in x):
                if len(x) == 1:
                    return x[0]
                return self._op_node({"sum": "add", "mean": "mean", "concat": "concat"}[name], {}, list(x), span)
            if name == "concat":
                raise NascSemanticError("concat() joins tensors", arg_spans[0])
            for v in x:
                self._need_number(v, arg_spans[0], name)
            total = self._lift(lambda *vs: sum(vs), *x, span=span)
            return total if name == "sum" else self._lift(lambda t: t / len(x), total, span=span)
        if name == "len":
            x = one()
            if not isinstance(x, tuple):
                raise NascSemanticError(f"len() takes a list, got {kind_of(x)}", arg_spans[0])
            return len(x)
        if name == "range":
            if not 1 <= len(args) <= 2:
                raise NascSemanticError("range() takes 1 or 2 integers", span)
            for a, sp in zip(args, arg_spans):
                if isinstance(a, bool) or not isinstance(a, int):
                    raise NascSemanticError(f"range() takes integers, got {show(a)}", sp)
            r = range(*args)
            if len(r) > limits.MAX_UNROLL:
                raise NascSemanticError(f"range of {len(r)} elements is too long", span)
            return tuple(r)
        if name in ("spatial", "channels"):
            x = one()
            if not isinstance(x, Tensor) or len(x.shape) < 2:
                raise NascSemanticError(f"{name}() takes a tensor, got {kind_of(x)}", arg_spans[0])
            if name == "channels":
                return x.shape[1]
            if len(x.shape) < 4:
                raise NascSemanticError(f"spatial() needs a [B, C, H, W] tensor, got {fmt_shape(x.shape)}",
                                        arg_spans[0])
            return x.shape[2]
        if name in ("min", "max", "abs", "int", "float"):
            vals = args[0] if len(args) == 1 and isinstance(args[0], tuple) else tuple(args)
            if not vals:
                raise NascSemanticError(f"{name}() needs arguments", span)
            for v in vals:
                self._need_number(v, span, name)
            if name in ("abs", "int", "float"):
                if len(vals) != 1:
                    raise NascSemanticError(f"{name}() takes 1 argument", span)
                fn = {"abs": abs, "int": int, "float": float}[name]
                return self._lift(fn, vals[0], span=span)
            fn2 = min if name == "min" else max
            return self._lift(lambda *vs: fn2(vs), *vals, span=span)
        raise NascNameError(f"unknown function '{name}'", span)  # pragma: no cover
