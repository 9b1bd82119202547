"""Calls and application: binding meta arguments (`conv(16, 3)`, `cell(C = 8)`) and
applying ops, blocks, choices of ops and functions to tensors.

A call either binds meta parameters (producing a bound op or block) or applies a
callable to tensors; which one is decided by what is called and what it is given.
"""

from __future__ import annotations

from typing import Any

from ...errors import NascNameError, NascSemanticError, Note, Span, did_you_mean
from ...ir.sym import Sym
from .. import ast as A
from ..values import BlockVal, ChoiceOp, ChosenList, Func, OpVal, Tensor, kind_of
from .blocks import Blocks
from .decisions import Decisions
from .describe import article, head_span, show
from .functions import Functions
from .scope import Env, join

#: op parameter kind -> (check of a value, the value it needs in words)
_PARAM_KINDS = {
    "int": (lambda x: isinstance(x, int) and not isinstance(x, bool), "an integer"),
    "float": (lambda x: isinstance(x, (int, float)) and not isinstance(x, bool), "a number"),
    "bool": (lambda x: isinstance(x, bool), "true or false"),
    "str": (lambda x: isinstance(x, str), "a string"),
}


class Calls(Decisions, Blocks, Functions):
    """Evaluates calls and applies callables to tensors."""

    def _e_Call(self, e: A.Call, env: Env) -> Any:
        """A call: a builtin function, a meta binding of an op or curried block, or an application to tensors
        (passed positionally).
        """
        f = self.eval(e.func, env)
        if isinstance(f, Func):
            return self._call_func(f.name, e, env)
        if isinstance(f, BlockVal) and not f.bound and f.block.curried:
            return self._bind_meta(f, e, env)
        if isinstance(f, OpVal) and not f.bound:
            return self._bind_meta(f, e, env)
        args = []
        for a in e.args:
            if a.name is not None:
                raise NascSemanticError("tensors are passed positionally; named arguments bind meta parameters "
                                        "(write f(meta)(tensors))", a.span)
            args.append(self.eval(a.value, env))
        return self.apply(f, args, e.func.span, e.span)

    def _bind_meta(self, f: OpVal | BlockVal, e: A.Call, env: Env) -> Any:
        """Bind the meta arguments of op or block `f`, checking names, counts and (for ops) kinds where they are
        written; an op called on tensors (`relu(x)`) is applied instead.
        """
        if isinstance(f, OpVal):
            names = [p.name for p in f.opdef.params]
            owner = f"op '{f.opdef.name}'"
        else:
            names = [p.name for p in f.block.meta]
            owner = f"block '{f.block.name}'"
        bound: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        positional = True
        base = self.scope.local(self.scope.binding)
        defined = (Note(f"'{f.block.name}' is defined here", f.block.name_span),) if isinstance(f, BlockVal) else ()

        def too_many(at: Span) -> NascSemanticError:
            """The error for an argument past the last meta parameter, at that argument."""
            if not names:
                fname = f.opdef.name if isinstance(f, OpVal) else f.block.name
                return NascSemanticError(f"{owner} takes no meta arguments; write '{fname}', not "
                                         f"'{fname}(...)'", at, defined)
            return NascSemanticError(f"{owner} takes {len(names)} meta argument{'s' if len(names) != 1 else ''} "
                                     f"({', '.join(names)}), got {len(e.args)}", at, defined)
        if isinstance(f, OpVal) and e.args and all(a.name is None for a in e.args):
            # `relu(x)` applies an op to tensors; `conv(16, 3)` binds its meta arguments
            values = []
            for i, a in enumerate(e.args):
                with self._naming(join(base, names[i]) if i < len(names) else base, raw=True):
                    values.append(self.eval(a.value, env))
            if all(_is_tensorish(v) for v in values):
                return self.apply(f, values, e.func.span, e.span)
            if len(values) > len(names):
                raise too_many(e.args[len(names)].span)
            for name, a, v in zip(names, e.args, values):
                bound[name] = v
                spans[name] = a.value.span
        else:
            for i, a in enumerate(e.args):
                if a.name is None:
                    if not positional:
                        hint = (f"; name it ('{names[i]} = ...') or move it before the named ones"
                                if i < len(names) else "")
                        raise NascSemanticError(f"a positional argument cannot follow a named one{hint}", a.span)
                    if i >= len(names):
                        raise too_many(a.span)
                    pname = names[i]
                else:
                    positional = False
                    pname = a.name
                    if pname not in names:
                        raise NascNameError(f"{owner} has no parameter '{pname}'{did_you_mean(pname, names)}",
                                            head_span(a.span, pname), defined)
                if pname in bound:
                    raise NascSemanticError(f"parameter '{pname}' of {owner} is given twice", a.span,
                                            (Note("first given here", spans[pname]),))
                with self._naming(join(base, pname), raw=True):
                    bound[pname] = self.eval(a.value, env)
                spans[pname] = a.value.span
        if isinstance(f, OpVal):
            for k, v in bound.items():
                if isinstance(v, (Tensor, ChosenList)):
                    raise NascSemanticError(f"parameter '{k}' of {owner} must be a value, got a tensor "
                                            f"(apply ops with x |> {f.opdef.name}(...))", spans[k])
                param = f.opdef.param(k)
                want = _PARAM_KINDS.get(param.kind) if param is not None else None
                if want is not None and not all(want[0](x) for x in (v.values() if isinstance(v, Sym) else [v])):
                    raise NascSemanticError(f"parameter '{k}' of {owner} must be {want[1]}, got {kind_of(v)} "
                                            f"{show(v)}".rstrip(), spans[k])
            missing = [p.name for p in f.opdef.params if p.required and p.name not in bound]
            if missing:
                raise NascSemanticError(f"{owner} needs a value for parameter '{missing[0]}'", e.span)
            return OpVal(f.opdef, f.lib, tuple(bound.items()), True, e.span)
        for p in f.block.meta:
            if p.name not in bound:
                if p.default is None:
                    raise NascSemanticError(f"{owner} needs a value for parameter '{p.name}'", e.span,
                                            (Note(f"'{f.block.name}' is defined here", f.block.name_span),))
        return BlockVal(f.block, f.module, tuple(bound.items()), True, e.span)

    def apply(self, f: Any, args: list[Any], fspan: Span, span: Span) -> Any:
        """Apply an op value, block, choice of ops or function to its tensor arguments."""
        if isinstance(f, Func):
            return self.call_builtin(f.name, args, span)
        if isinstance(f, OpVal):
            if not f.bound:
                missing = [p.name for p in f.opdef.params if p.required]
                if missing:
                    raise NascSemanticError(f"op '{f.opdef.name}' needs parameter '{missing[0]}' "
                                            f"(write {f.opdef.name}(...))", fspan)
            return self._op_node(f.opdef.name, dict(f.args), args, span, lib=f.lib, err_span=fspan)
        if isinstance(f, BlockVal):
            if not f.bound and f.block.curried:
                need = [p.name for p in f.block.meta if p.default is None]
                if need:
                    raise NascSemanticError(f"block '{f.block.name}' needs meta arguments ({', '.join(need)}); "
                                            f"write {f.block.name}(...)", fspan)
            return self._instantiate_block(f, args, span, fspan)
        if isinstance(f, ChoiceOp):
            return self._mixed(f, args, span)
        shown = f" ({show(f)})" if show(f) and not isinstance(f, Tensor) else ""
        raise NascSemanticError(f"cannot apply {article(kind_of(f))}{shown} to a tensor: only ops, blocks and choices "
                                "of ops can be applied", fspan)


def _is_tensorish(v: Any) -> bool:
    """Whether a call argument is a tensor, a choose result or a list of tensors: then `op(args)` applies the op
    instead of binding its meta arguments.
    """
    if isinstance(v, (Tensor, ChosenList)):
        return True
    return isinstance(v, tuple) and bool(v) and all(isinstance(t, Tensor) for t in v)
