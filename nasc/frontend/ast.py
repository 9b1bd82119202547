"""The abstract syntax tree of a `.nas` file.

Frozen dataclasses, every node with a :class:`~nasc.errors.Span`, so later stages
(elaboration, the printer, diagnostics) can always point back at the source.
Nodes compare by value *excluding* spans, which lets tests and the formatter's
idempotence check compare trees parsed from differently laid-out text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ..errors import Span


def _span() -> Span:
    return field(default=None, compare=False, repr=False)  # type: ignore[return-value]


# ---------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class Int:
    value: int
    span: Span = _span()


@dataclass(frozen=True)
class Float:
    value: float
    span: Span = _span()


@dataclass(frozen=True)
class Str:
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class Quantity:
    """A number glued to a unit: ``5ms``, ``1M``, ``2MB``."""

    number: float
    unit: str
    text: str
    span: Span = _span()


@dataclass(frozen=True)
class Item:
    """A list element with an optional candidate label (``conv3: relu_conv_bn(C, 3)``)."""

    label: str | None
    value: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class ListExpr:
    items: tuple[Item, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Comprehension:
    expr: "Expr"
    var: str
    iter: "Expr"
    cond: "Expr | None"
    span: Span = _span()


@dataclass(frozen=True)
class Range:
    """Inclusive integer range ``lo..hi``."""

    lo: int
    hi: int
    span: Span = _span()


@dataclass(frozen=True)
class Choice:
    """``choice [..]``: one decision, one of the candidates."""

    cands: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Choose:
    """``choose k of [..]``: k distinct candidates, returned in candidate order."""

    k: "Expr"
    cands: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Arg:
    name: str | None
    value: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    func: "Expr"
    args: tuple[Arg, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Attr:
    obj: "Expr"
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Index:
    obj: "Expr"
    index: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "not"
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Binary:
    """Arithmetic, logic and pipes: ``+ - * / // % and or |>``."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Compare:
    """A comparison chain ``a < b <= c``; ``ops[i]`` sits between ``operands[i]`` and ``[i+1]``."""

    ops: tuple[str, ...]
    operands: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Ternary:
    cond: "Expr"
    then: "Expr"
    orelse: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Paren:
    """Parentheses are kept so the formatter prints what the user wrote."""

    expr: "Expr"
    span: Span = _span()


Expr = Union[Name, Int, Float, Str, Bool, Quantity, ListExpr, Comprehension, Range, Choice,
             Choose, Call, Attr, Index, Unary, Binary, Compare, Ternary, Paren]


# ---------------------------------------------------------------- types and params
@dataclass(frozen=True)
class TypeExpr:
    """``f32[B, 3, 32, 32]`` or ``tensor[]``; ``dims`` is None when no brackets were written."""

    name: str
    dims: tuple[str | int, ...] | None
    span: Span = _span()


@dataclass(frozen=True)
class Param:
    name: str
    type: TypeExpr | None
    default: Expr | None
    span: Span = _span()


# ---------------------------------------------------------------- statements
@dataclass(frozen=True)
class InputDecl:
    name: str
    type: TypeExpr
    span: Span = _span()


@dataclass(frozen=True)
class OutputDecl:
    name: str
    type: TypeExpr | None
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Assign:
    targets: tuple[str, ...]
    values: tuple[Expr, ...]
    span: Span = _span()
    target_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Repeat:
    count: Expr
    var: str | None
    body: tuple["Stmt", ...]
    span: Span = _span()


@dataclass(frozen=True)
class If:
    cond: Expr
    body: tuple["Stmt", ...]
    orelse: tuple["Stmt", ...] | None
    span: Span = _span()


@dataclass(frozen=True)
class Return:
    values: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True)
class PathExpr:
    """A decision path in a ``fix`` statement: ``normal.n0[1]``."""

    parts: tuple[str | int, ...]
    span: Span = _span()

    def text(self) -> str:
        out = ""
        for p in self.parts:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
        return out


@dataclass(frozen=True)
class Fix:
    path: PathExpr
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class TargetRef:
    name: str
    args: tuple[Arg, ...] | None
    quoted: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Strength:
    kind: str  # "hard" | "soft"
    args: tuple[Arg, ...] | None
    span: Span = _span()


@dataclass(frozen=True)
class Constraint:
    expr: Expr
    target: TargetRef | None
    strength: Strength | None
    span: Span = _span()


Stmt = Union[InputDecl, OutputDecl, Assign, Repeat, If, Return, Fix, Constraint]


# ---------------------------------------------------------------- top level
@dataclass(frozen=True)
class Import:
    path: str
    alias: str | None
    span: Span = _span()


@dataclass(frozen=True)
class Const:
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class SharedSpec:
    key: Expr | None
    span: Span = _span()


@dataclass(frozen=True)
class BlockDef:
    name: str
    meta: tuple[Param, ...]
    tensors: tuple[Param, ...]
    curried: bool  # written with two parameter lists
    body: tuple[Stmt, ...]
    shared: SharedSpec | None
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Extends:
    name: tuple[str, ...]
    args: tuple[Arg, ...] | None
    span: Span = _span()


@dataclass(frozen=True)
class SpaceDef:
    kind: str  # "space" | "arch"
    name: str
    params: tuple[Param, ...] | None
    extends: Extends | None
    body: tuple[Stmt, ...]
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Setting:
    key: tuple[str, ...]
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Section:
    name: str
    items: tuple["Setting | Section", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Experiment:
    name: str | None
    items: tuple[Setting | Section, ...]
    span: Span = _span()


TopItem = Union[Import, Const, BlockDef, SpaceDef, Experiment]


@dataclass(frozen=True)
class Comment:
    """A ``#`` comment, kept so ``nasc fmt`` never loses one."""

    text: str
    line: int
    col: int
    own_line: bool


@dataclass(frozen=True)
class Module:
    file: str
    items: tuple[TopItem, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False, repr=False)


def children(node: object) -> list[object]:
    """The nodes directly under `node`, in field order (its own span excluded): the step of
    the walks over a tree that must not recurse, since a tree may be deeper than the stack."""
    out: list[object] = []
    for f in getattr(node, "__dataclass_fields__", ()):
        if f == "span":
            continue
        v = getattr(node, f)
        if isinstance(v, tuple):
            out.extend(x for x in v if hasattr(x, "__dataclass_fields__"))
        elif hasattr(v, "__dataclass_fields__"):
            out.append(v)
    return out
