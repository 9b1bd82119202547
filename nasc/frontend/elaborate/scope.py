"""The bookkeeping records of one elaboration: environments, scopes and shared groups.

Variables live in :class:`Env` frames (lexical: a block body sees its module, not
its caller).  Decisions and IR nodes are named by the :class:`Scope` they are
created in, which follows the bindings of the source (spec 4.4), so a decision's
path says where it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import Span
from ..values import LoadedModule


class BlockReturn(Exception):
    """Unwinds a block body at `return`, carrying the value to the block's instantiation."""

    def __init__(self, value: Any) -> None:
        """Carry `value` (a tuple for `return a, b`)."""
        self.value = value


@dataclass
class Scope:
    """Where decisions and nodes are being created (a space body or a block instance)."""

    path: str  # decision prefix ("" for the space; the group name inside shared blocks)
    inst: str  # unique instance path (for nodes and scoped constraints)
    group: str | None = None  # shared group this scope belongs to
    used: dict[str, int] = field(default_factory=dict)
    loop: list[int] = field(default_factory=list)
    binding: str | None = None

    def local(self, base: str | None) -> str:
        """`base` with the indices of the enclosing loops: the local name of a binding in a repeat."""
        return (base or "") + "".join(f"[{i}]" for i in self.loop)

    def alloc(self, local: str) -> str:
        """A name unique in this scope: the second thing bound to the same name gets `_2`."""
        n = self.used.get(local, 0) + 1
        self.used[local] = n
        return local if n == 1 else f"{local}_{n}"


def join(prefix: str, local: str) -> str:
    """A path from a prefix and a local part: dotted, but an index attaches directly (`cell[2]`)."""
    if not prefix:
        return local
    if not local:
        return prefix
    return prefix + local if local.startswith("[") else f"{prefix}.{local}"


@dataclass
class SharedGroup:
    """Structure of a shared group's first instance, to check later instances against."""

    block: str
    span: Span | None
    decisions: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # path -> (kind, n, value kind)
    complete: bool = False  # the first instance has finished


class Env:
    """Lexical variables: a chain of frames ending in a module's top level."""

    def __init__(self, module: LoadedModule, parent: "Env | None" = None) -> None:
        """A frame over `parent`; names not found in the chain are looked up in `module`."""
        self.vars: dict[str, Any] = {}
        self.module = module
        self.parent = parent

    def lookup(self, name: str) -> tuple[bool, Any]:
        """`(found, value)` of the innermost binding of `name` (a value may legitimately be None)."""
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return True, env.vars[name]
            env = env.parent
        return False, None

    def assign(self, name: str, value: Any) -> None:
        """Rebind `name` in the frame that defines it, else define it here: a loop body updates
        the variables around it."""
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                env.vars[name] = value
                return
            env = env.parent
        self.vars[name] = value

    def child(self) -> "Env":
        """A nested frame, whose bindings (a comprehension's variable) end with it."""
        return Env(self.module, self)

    def visible(self) -> set[str]:
        """Every name in scope, for did-you-mean hints."""
        out: set[str] = set()
        env: Env | None = self
        while env is not None:
            out |= set(env.vars)
            env = env.parent
        return out
