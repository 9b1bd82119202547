"""Name resolution during evaluation: variables, module definitions, consts, ops,
builtins, metrics and attributes of imported modules.

A name has one meaning wherever it is written, looked up in a fixed order
(variables, the module, ops, functions, then -- in constraints only -- metrics);
an unknown name gets the closest suggestion, preferring an exact name in an
imported module.
"""

from __future__ import annotations

from typing import Any

from ...errors import NascNameError, NascSemanticError, Span, did_you_mean
from ...ir.sym import has_sym
from .. import ast as A
from ..values import FUNCTIONS, BlockVal, ChoiceOp, Func, LoadedModule, Metric, Namespace, OpVal, Tensor, kind_of
from . import limits
from .core import ElaborationCore
from .metrics import METRICS, PREDICATES
from .scope import Env, Scope


class Names(ElaborationCore):
    """Evaluates names and attributes."""

    def _e_Name(self, e: A.Name, env: Env) -> Any:
        """A bare name: variables, the module's definitions, ops, builtin functions, and in a constraint also
        metrics and predicates (outside one they are an error that says so).
        """
        found, v = env.lookup(e.id)
        if found:
            return v
        mod = env.module
        if e.id in mod.names:
            return self._module_value(mod, e.id, e.span)
        lib = self.loader.ops
        if e.id in lib:
            return OpVal(lib.get(e.id), lib, span=e.span)
        if e.id in FUNCTIONS:
            return Func(e.id)
        if self.constraint_mode:
            if e.id in METRICS:
                return Metric(e.id, e.span)
            if e.id in PREDICATES:
                return Func(e.id)
        elif e.id in METRICS or e.id in PREDICATES:
            what = "metric" if e.id in METRICS else "predicate"
            raise NascNameError(f"'{e.id}' is a {what}: it can only be used in a 'constraint'", e.span)
        raise NascNameError(f"unknown name '{e.id}'" + self._suggest(e.id, env), e.span)

    def _is_known(self, name: str, env: Env) -> bool:
        """Whether a bare name resolves (to a variable, definition, op, function or metric)."""
        return (env.lookup(name)[0] or name in env.module.names or name in self.loader.ops or name in FUNCTIONS
                or name in METRICS or name in PREDICATES)

    def _suggest(self, name: str, env: Env) -> str:
        # an exact name in an imported module beats a merely similar local name
        """The did-you-mean hint for an unknown `name`."""
        for alias, v in env.module.names.items():
            if isinstance(v, Namespace) and name in v.module.names:
                return f"; did you mean '{alias}.{name}' (imported from {v.module.name})?"
        pool = env.visible() | set(env.module.names) | set(self.loader.ops.ops) | set(FUNCTIONS)
        if self.constraint_mode:
            pool |= set(METRICS) | set(PREDICATES)
        return did_you_mean(name, pool)

    def _module_value(self, mod: LoadedModule, name: str, span: Span) -> Any:
        """The value of a module-level name; a const is evaluated once, on first use, in a fresh scope, its
        cycles and depth reported (a const chain is user input and could exhaust the stack).
        """
        v = mod.names[name]
        if isinstance(v, A.Const):
            if name not in mod.const_values:
                if name in self._call_stack:
                    chain = self._call_stack[self._call_stack.index(name):] + [name]
                    raise NascSemanticError(f"const '{name}' depends on itself: {' -> '.join(chain)}", span)
                if self._const_depth >= limits.MAX_CONST_DEPTH:
                    raise NascSemanticError(f"consts are defined by other consts more than "
                                            f"{limits.MAX_CONST_DEPTH} deep (at '{name}')", span)
                self._call_stack.append(name)
                self._const_depth += 1
                try:
                    saved = self.scope
                    self.scope = Scope("", "")
                    try:
                        value = self.eval(v.value, Env(mod))
                    finally:
                        self.scope = saved
                finally:
                    self._call_stack.pop()
                    self._const_depth -= 1
                if has_sym(value) or isinstance(value, (ChoiceOp, Tensor)):
                    raise NascSemanticError(f"const '{name}' must be a plain value, not a decision", v.value.span)
                mod.const_values[name] = value
            return mod.const_values[name]
        return v

    def _e_Attr(self, e: A.Attr, env: Env) -> Any:
        """`obj.name`: only imported modules have attributes."""
        return self._attr_of(self.eval(e.obj, env), e.name, e.span, _tail_span(e.span, e.name))

    def _attr_of(self, obj: Any, name: str, span: Span, name_span: Span | None = None) -> Any:
        """Attribute `name` of `obj`, an error pointing at the attribute's own name when it can."""
        if isinstance(obj, Namespace):
            mod = obj.module
            if name not in mod.names:
                what = "block" if any(isinstance(v, BlockVal) for v in mod.names.values()) else "name"
                raise NascNameError(f"module '{mod.name}' has no {what} '{name}'"
                                    f"{did_you_mean(name, list(mod.names))}", name_span or span)
            return self._module_value(mod, name, span)
        raise NascSemanticError(f"{kind_of(obj)} has no attribute '{name}'", name_span or span)

    def _resolve_dotted(self, parts: tuple[str, ...], env: Env, span: Span) -> Any:
        """The value of a dotted name (`extends lib.base`), looked up like an expression so its errors read the
        same.
        """
        v = self._e_Name(A.Name(parts[0], span), env)
        for p in parts[1:]:
            v = self._attr_of(v, p, span)
        return v


def _tail_span(span: Span, name: str) -> Span:
    """The span of the trailing NAME of `obj.NAME` (the attribute's own name)."""
    if span.end_line >= span.line and span.end_col - len(name) >= 1:
        return Span(span.file, span.end_line, span.end_col - len(name), span.end_line, span.end_col)
    return span
