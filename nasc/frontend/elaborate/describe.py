"""How values and source positions are described in diagnostics.

Every section reports errors about user values; sharing one rendering keeps the
messages consistent (`got int 3`, `a tensor`, `[B, 16, 8, 8]`).
"""

from __future__ import annotations

from typing import Any

from ...errors import Span
from ...ir.graph import fmt_shape
from ...ir.sym import Sym
from ..values import BlockVal, OpVal, QuantityVal, Tensor, kind_of


def article(word: str) -> str:
    """`word` with its indefinite article: 'an int', 'a tensor'."""
    return ("an " if word[:1] in "aeiou" else "a ") + word


def show(v: Any) -> str:
    """A short, source-like rendering of a value for messages ('' for values that have none, such as modules).
    """
    if isinstance(v, Tensor):
        return fmt_shape(v.shape)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Sym):
        vals = v.values()
        shown = [show(x) or kind_of(x) for x in vals[:6]]
        return "{" + "|".join(shown) + ("|..." if len(vals) > 6 else "") + "}"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, QuantityVal):
        return v.text
    if isinstance(v, OpVal):
        return v.opdef.name
    if isinstance(v, BlockVal):
        return v.block.name
    if isinstance(v, tuple):
        inner = ", ".join(show(x) or kind_of(x) for x in v[:6])
        return f"[{inner}{', ...' if len(v) > 6 else ''}]"
    return ""


def head_span(span: Span, name: str) -> Span:
    """The span of the leading NAME of `NAME = value` (a named argument's name)."""
    return Span(span.file, span.line, span.col, span.line, span.col + len(name))
