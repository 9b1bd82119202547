"""Pinned decisions: how `fix` statements and programmatic assignments select options.

A pin is resolved when its decision is created, so a pinned `choice` evaluates
straight to its candidate -- which is how a fully decided architecture is
elaborated with the very same code as its space.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import NascSemanticError, Span, did_you_mean
from ...ir.space import Decision
from .. import ast as A
from ..printer import fmt_expr


@dataclass
class Pin:
    """A pinned decision: from a `fix` statement (expr) or a programmatic assignment (option)."""

    path: str
    expr: A.Expr | None = None
    option: int | None = None
    span: Span | None = None
    used: bool = False


def resolve_pin(d: Decision, pin: Pin) -> int:
    """The option `pin` selects of `d`: an assignment's option by index, a `fix` by candidate label or source
    text (`fix C = 16`, `fix op = conv3x3`), so a fix reads like the candidate it names.
    """
    if pin.option is not None:
        if not 0 <= pin.option < d.n:
            raise NascSemanticError(f"option {pin.option} is out of range for '{d.path}'", pin.span)
        return pin.option
    assert pin.expr is not None
    e = pin.expr
    while isinstance(e, A.Paren):
        e = e.expr
    if d.kind == "choose":
        if not isinstance(e, A.ListExpr) or not all(isinstance(i.value, A.Int) for i in e.items):
            raise NascSemanticError(f"'{d.path}' is a choose {d.k} of {len(d.labels)}: fix it with a list of "
                                    f"{d.k} candidate indices, e.g. [{', '.join(map(str, range(d.k)))}]", e.span)
        idx = tuple(sorted(int(i.value.value) for i in e.items))  # type: ignore[union-attr]
        if idx not in d.options:
            raise NascSemanticError(f"{list(idx)} is not a valid choice for '{d.path}' (choose {d.k} distinct "
                                    f"indices from 0 to {len(d.labels) - 1})", e.span)
        return d.options.index(idx)
    if isinstance(e, A.Name) and e.id in d.labels:
        return d.labels.index(e.id)
    text = None
    if isinstance(e, A.Int):
        text = str(e.value)
    elif isinstance(e, A.Float):
        text = repr(e.value)
    elif isinstance(e, A.Str):
        text = e.value
    elif isinstance(e, A.Bool):
        text = "true" if e.value else "false"
    elif isinstance(e, A.Name):
        text = e.id
    elif isinstance(e, A.Unary) and e.op == "-" and isinstance(e.operand, (A.Int, A.Float)):
        text = "-" + str(e.operand.value)
    if text is not None:
        for i, (lab, ct) in enumerate(zip(d.labels, d.candidate_text or d.labels)):
            if text in (lab, ct):
                return i
    shown = text if text is not None else fmt_expr(e)
    hint = did_you_mean(shown, [lab for lab in d.labels if not lab.isdigit()]) if text is not None else ""
    raise NascSemanticError(f"'{shown}' is not a candidate of '{d.path}'" + (hint or "") +
                            " (candidates: " + ", ".join(d.labels) + ")", e.span)
