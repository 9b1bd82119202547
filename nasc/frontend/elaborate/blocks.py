"""Block instances: binding a block's parameters, running its body in a scope of
its own (its shared group's, for `shared` blocks) and returning its result.

Blocks are where elaboration can grow without bound (recursion, deep nesting,
blocks calling blocks many times over), so those bounds are checked here, at the
call site that crosses them.
"""

from __future__ import annotations

from typing import Any

from ...errors import NascSemanticError, Note, Span
from ...ir.sym import Sym
from ..values import BlockVal, Tensor, kind_of
from . import limits
from .core import ElaborationCore
from .describe import article
from .scope import BlockReturn, Env, Scope, SharedGroup, join


class Blocks(ElaborationCore):
    """Instantiates blocks on tensor arguments."""

    def _instantiate_block(self, f: BlockVal, args: list[Any], span: Span, fspan: Span | None = None) -> Any:
        """Instantiate block `f` on tensor `args` and return what its body returns. `fspan` is the block as
        written at the call site (`cell(C)` in `x |> cell(C)`), where its errors point.
        """
        block = f.block
        call = fspan or span  # the block as written at the call site: `cell(C)` in `x |> cell(C)`
        if block.name in self._call_stack:
            chain = " -> ".join(self._call_stack[self._call_stack.index(block.name):] + [block.name])
            raise NascSemanticError(f"blocks cannot recurse: {chain}", call,
                                    (Note(f"'{block.name}' is defined here", block.name_span),))
        if len(self._instances) >= limits.MAX_BLOCK_NESTING:
            raise NascSemanticError(f"blocks are nested more than {limits.MAX_BLOCK_NESTING} deep (block "
                                    f"'{block.name}' instantiated inside '{self._call_stack[-1]}')", call)
        self._work(call)
        if len(args) != len(block.tensors):
            names = f" ({', '.join(p.name for p in block.tensors)})" if block.tensors else ""
            raise NascSemanticError(f"block '{block.name}' takes {len(block.tensors)} tensor input"
                                    f"{'s' if len(block.tensors) != 1 else ''}{names}, got {len(args)}", call,
                                    (Note(f"'{block.name}' is defined here", block.name_span),))
        env = Env(f.module)
        bound = dict(f.args)
        for p in block.meta:
            if p.name in bound:
                env.vars[p.name] = bound[p.name]
        for p in block.meta:
            if p.name not in bound and p.default is not None:
                env.vars[p.name] = self.eval(p.default, env)
        for p, a in zip(block.tensors, args):
            is_list = p.type is not None and p.type.name == "tensor" and p.type.dims == ()
            if is_list:
                if not isinstance(a, tuple) or not all(isinstance(t, Tensor) for t in a):
                    raise NascSemanticError(f"input '{p.name}' of block '{block.name}' is a list of tensors, "
                                            f"got {kind_of(a)}", span)
            elif not isinstance(a, Tensor):
                raise NascSemanticError(f"input '{p.name}' of block '{block.name}' must be a tensor, got "
                                        f"{kind_of(a)}", span)
            env.vars[p.name] = a
        local = self.scope.alloc(self.scope.local(self.scope.binding))
        inst = join(self.scope.inst, local)
        group = None
        if block.shared is not None:
            if block.shared.key is None:
                group = block.name
            else:
                key = self.eval(block.shared.key, env)
                if isinstance(key, Sym) or not isinstance(key, (str, int, bool)):
                    raise NascSemanticError("a shared(key) key must be a plain string or number, not "
                                            f"{article(kind_of(key))}", block.shared.key.span)
                group = str(key).lower() if isinstance(key, bool) else str(key)
                if not group.isidentifier():
                    raise NascSemanticError(f"shared group key {group!r} must be a name (letters, digits and "
                                            "'_')", block.shared.key.span)
            path = group
        else:
            path = join(self.scope.path, local)
        outer = self.scope
        self.scope = Scope(path, inst, group or outer.group)
        self._call_stack.append(block.name)
        self._instances.append(call)
        first_instance = False
        if group is not None:
            if group not in self.groups:
                self.groups[group] = SharedGroup(block.name, call)
                first_instance = True
            elif self.groups[group].block != block.name:
                raise NascSemanticError(f"shared group '{group}' is used by two blocks: "
                                        f"'{self.groups[group].block}' and '{block.name}'", span)
            self._group_seen.append(set())
            self._group_calls.append(call)
        try:
            try:
                self._exec_body(block.body, env, where="block")
            except BlockReturn as r:
                result = r.value
            else:
                end = Span(block.span.file, block.span.end_line, max(1, block.span.end_col - 1),
                           block.span.end_line, max(2, block.span.end_col))
                raise NascSemanticError(f"block '{block.name}' ends without 'return' (a block must return its "
                                        "output, e.g. 'return x')", end,
                                        (Note(f"'{block.name}' is defined here", block.name_span),))
        finally:
            self.scope = outer
            self._call_stack.pop()
            self._instances.pop()
            seen = self._group_seen.pop() if group is not None else None
            if group is not None:
                self._group_calls.pop()
        if group is not None and first_instance:
            self.groups[group].complete = True
        if group is not None and not first_instance and seen is not None:
            rec = self.groups[group]
            missing = sorted(set(rec.decisions) - seen)
            if missing:
                raise NascSemanticError(f"instances of shared block '{block.name}' disagree: the first instance "
                                        f"has decision '{missing[0]}', this one does not", call,
                                        (Note("first instance", rec.span),))
        return result
