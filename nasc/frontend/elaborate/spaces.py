"""Spaces and archs: binding their parameters, collecting their `fix` pins and
running their bodies, including `space B extends A(...)`.

Pins are collected before a body runs, outermost space first, so they apply to
the decisions the body creates and a derived space's `fix` can never be
overridden by its base's.
"""

from __future__ import annotations

from typing import Any, Iterator

from ...errors import NascNameError, NascSemanticError, Note, did_you_mean
from .. import ast as A
from ..values import BlockVal, SpaceRef, kind_of
from . import limits
from .describe import article
from .pins import Pin
from .scope import Env
from .statements import Statements


class Spaces(Statements):
    """Instantiates spaces and archs."""

    def _instantiate_space(self, ref: SpaceRef, args: dict[str, Any], outer_fixes: tuple[A.Fix, ...],
                           kind: str) -> tuple[dict[str, Any], Env]:
        """Run a space's body with its parameters bound (for `extends`, its base's body), collecting its `fix`
        pins first; returns the parameters and the body's environment.
        """
        space, mod = ref.space, ref.module
        if space.extends is not None:
            return self._instantiate_extends(ref, args, outer_fixes, kind)
        self._collect_fixes(space, kind)
        env = Env(mod)
        params = self._bind_space_params(space, env, args)
        self._exec_body(space.body, env, where="space")
        return params, env

    def _instantiate_extends(self, ref: SpaceRef, args: dict[str, Any], outer_fixes: tuple[A.Fix, ...],
                             kind: str) -> tuple[dict[str, Any], Env]:
        """`space B extends A(args)`: A instantiated with B's pins, then B's own constraints in A's environment;
        chains are bounded and cycles reported.
        """
        space, mod = ref.space, ref.module
        ext = space.extends
        assert ext is not None
        for stmt in space.body:
            if not isinstance(stmt, (A.Fix, A.Constraint)):
                raise NascSemanticError(f"the body of '{space.kind} {space.name} extends ...' may only hold "
                                        "'fix' and 'constraint' statements", stmt.span)
        env = Env(mod)
        params = self._bind_space_params(space, env, args)
        base = self._resolve_dotted(ext.name, env, ext.span)
        if not isinstance(base, SpaceRef):
            what = "a block" if isinstance(base, BlockVal) else article(kind_of(base))
            raise NascSemanticError(f"'{'.'.join(ext.name)}' is {what}, not a space or arch", ext.span)
        chain = self._extends_chain + [space.name]
        if len(chain) > limits.MAX_EXTENDS_DEPTH:
            raise NascSemanticError(f"'extends' is nested more than {limits.MAX_EXTENDS_DEPTH} spaces deep", ext.span)
        if any(s is base.space for s in self._extends_specs + [space]):
            what = (f"{space.kind} '{space.name}' extends itself" if base.space is space else
                    f"'extends' forms a cycle: {' -> '.join(chain + [base.space.name])}")
            raise NascSemanticError(what, ext.span)
        base_args: dict[str, Any] = {}
        for arg in ext.args or ():
            if arg.name is None:
                raise NascSemanticError("arguments of 'extends' must be named (C = 36)", arg.span)
            base_args[arg.name] = (self.eval(arg.value, env), arg.span)
        self._collect_fixes(space, kind)
        self._extends_chain.append(space.name)
        self._extends_specs.append(space)
        try:
            _, base_env = self._instantiate_space(base, base_args, outer_fixes, kind=base.space.kind)
        finally:
            self._extends_chain.pop()
            self._extends_specs.pop()
        for stmt in space.body:
            if isinstance(stmt, A.Constraint):
                self._exec_stmt(stmt, base_env, where="space")
        return params, env

    def _collect_fixes(self, space: A.SpaceDef, kind: str) -> None:
        """Register the `fix` statements of `space` as pins (a pin already set by an outer space or a caller
        wins); an arch must pin every choice it contains.
        """
        for stmt in space.body:
            if isinstance(stmt, A.Fix):
                path = stmt.path.text()
                if path in self.pins and self.pins[path].expr is not None:
                    raise NascSemanticError(f"decision '{path}' is fixed twice", stmt.path.span,
                                            (Note("first fixed here", self.pins[path].span),))
                if path not in self.pins:
                    self.pins[path] = Pin(path, stmt.value, span=stmt.path.span)
        if kind == "arch" and space.extends is None:
            for node in _walk_stmts(space.body):
                if isinstance(node, (A.Choice, A.Choose)):
                    word = "a choice" if isinstance(node, A.Choice) else "a choose"
                    raise NascSemanticError(f"arch '{space.name}' contains {word} at {node.span.line}:"
                                            f"{node.span.col}; use 'space', or pin it with 'fix'", node.span)

    def _bind_space_params(self, space: A.SpaceDef, env: Env, args: dict[str, Any]) -> dict[str, Any]:
        """Bind a space's parameters from `args` or their defaults, reporting unknown and missing ones."""
        params: dict[str, Any] = {}
        declared = {p.name for p in space.params or ()}
        for name, (_, span) in args.items():
            if name not in declared:
                raise NascNameError(f"{space.kind} '{space.name}' has no parameter '{name}'"
                                    f"{did_you_mean(name, declared)}", span)
        for p in space.params or ():
            if p.name in args:
                value = args[p.name][0]
            elif p.default is not None:
                with self._naming(p.name):
                    value = self.eval(p.default, env)
            else:
                raise NascSemanticError(f"{space.kind} '{space.name}' needs a value for parameter '{p.name}'",
                                        p.span)
            env.vars[p.name] = value
            params[p.name] = value
        return params

    def _finish_pins(self) -> None:
        """A `fix` that matched no decision is an error: it is almost always a misspelt path."""
        for pin in self.pins.values():
            if not pin.used and pin.expr is not None:
                paths = [d.path for d in self.decisions]
                raise NascSemanticError(f"fix path '{pin.path}' matches no decision{did_you_mean(pin.path, paths)}",
                                        pin.span)


def _walk_stmts(body: tuple[A.Stmt, ...]) -> Iterator[Any]:
    """Every node under `body`, statements and expressions alike: the choices an arch must not contain may sit
    anywhere.
    """
    stack: list[Any] = list(body)
    while stack:
        n = stack.pop()
        yield n
        stack.extend(A.children(n))
