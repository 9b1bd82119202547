"""Values that exist while a space is being elaborated.

Plain scalars are Python ``int``/``float``/``bool``/``str``; lists are tuples (so
they can sit inside :class:`~nasc.ir.sym.Sym` tables); decision-dependent scalars
are ``Sym``.  Everything else is one of the small frozen records below.

:class:`LoadedModule`, the names one file binds, is here too: imported modules,
blocks and spaces are values that refer to their module, and the loader
(:mod:`.resolve`) that fills it depends on these records, not the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Span
from ..ir.ops import OpDef, OpLibrary
from . import ast as A


@dataclass(frozen=True)
class Tensor:
    node: int
    shape: tuple[Any, ...]
    span: Span | None = field(default=None, compare=False)
    name: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OpVal:
    """A builtin or custom op, possibly with meta arguments bound."""

    opdef: OpDef
    lib: OpLibrary = field(compare=False)
    args: tuple[tuple[str, Any], ...] = ()
    bound: bool = False
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class BlockVal:
    """A user block, possibly with meta arguments bound."""

    block: A.BlockDef
    module: "LoadedModule" = field(compare=False)
    args: tuple[tuple[str, Any], ...] = ()
    bound: bool = False
    span: Span | None = field(default=None, compare=False)
    arg_names: tuple[tuple[str, str], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class ChoiceOp:
    """An op-valued `choice` that has not been applied yet (applying makes a `mixed` node)."""

    decision: int
    cands: tuple[Any, ...]
    labels: tuple[str, ...]
    local: str
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ChosenList:
    """The result of `choose k of [tensors]` in a space: reduced later by sum/concat/mean."""

    decision: int
    tensors: tuple[Tensor, ...]
    k: int
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Func:
    """A builtin function such as sum, len or spatial."""

    name: str


@dataclass(frozen=True)
class Namespace:
    """An imported module, accessed as ``alias.name``."""

    module: "LoadedModule" = field(compare=False)
    alias: str = ""


@dataclass(frozen=True)
class QuantityVal:
    """A number with a unit, in base units (count, seconds, bytes)."""

    value: float
    dim: str
    text: str


@dataclass(frozen=True)
class Metric:
    """A cost metric named in a constraint (``params``, ``latency``...)."""

    name: str
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PathMetric:
    """``min_path_ops(from=a, to=b, exclude=[...])`` inside a constraint."""

    src: Tensor
    dst: Tensor
    exclude: tuple[str, ...]


@dataclass(frozen=True)
class Predicate:
    name: str
    nodes: tuple[int, ...]


@dataclass(frozen=True)
class SpaceRef:
    space: A.SpaceDef
    module: "LoadedModule" = field(compare=False)


@dataclass
class LoadedModule:
    """A parsed file with its top-level names (blocks, consts, spaces, experiments, imports)."""

    name: str  # as shown in messages (the path as written or given)
    path: Path | None
    ast: A.Module | None
    names: dict[str, Any] = field(default_factory=dict)
    spans: dict[str, Span] = field(default_factory=dict)
    experiments: dict[str | None, A.Experiment] = field(default_factory=dict)
    consts: dict[str, A.Const] = field(default_factory=dict)
    const_values: dict[str, Any] = field(default_factory=dict)
    ops: OpLibrary | None = None  # for .py modules of custom ops
    file: str | None = None  # the file name in diagnostics' positions (default: `name`)

    def kind_of(self, name: str) -> str:
        """What `name` is bound to, in a word for messages ("block", "space", "module", ...)."""
        v = self.names.get(name)
        if isinstance(v, BlockVal):
            return "block"
        if isinstance(v, SpaceRef):
            return v.space.kind
        if isinstance(v, Namespace):
            return "module"
        if isinstance(v, OpVal):
            return "op"
        return "name"


UNITS: dict[str, tuple[str, float]] = {
    "ns": ("time", 1e-9), "us": ("time", 1e-6), "ms": ("time", 1e-3), "s": ("time", 1.0),
    "K": ("count", 1e3), "M": ("count", 1e6), "G": ("count", 1e9), "T": ("count", 1e12),
    "KB": ("bytes", 1e3), "MB": ("bytes", 1e6), "GB": ("bytes", 1e9),
}

FUNCTIONS = ("sum", "mean", "concat", "len", "range", "spatial", "channels", "min", "max", "abs",
             "int", "float")


def kind_of(v: Any) -> str:
    """A short name of a value's kind, for messages and homogeneity checks."""
    from ..ir.sym import Sym

    if isinstance(v, Tensor):
        return "tensor"
    if isinstance(v, (OpVal, BlockVal, ChoiceOp)):
        return "op"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, QuantityVal):
        return "quantity"
    if isinstance(v, tuple):
        return "list"
    if isinstance(v, Sym):
        vals = v.values()
        return kind_of(vals[0]) if vals else "value"
    if isinstance(v, ChosenList):
        return "chosen tensors"
    if isinstance(v, Func):
        return "function"
    if isinstance(v, Namespace):
        return "module"
    return type(v).__name__
