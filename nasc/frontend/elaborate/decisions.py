"""Decisions: `choice` and `choose`, their candidate lists, their paths and their
checks against shared groups and pins.

Each `choice`/`choose` creates a decision (or, when the decision is pinned by
`fix` or by an assignment, evaluates straight to the chosen candidate).  Decision
paths follow the bindings (spec 4.4): ``scope.binding``, ``[i]`` for repeat
iterations and comprehension elements, the callee's parameter name for a choice
written as a call argument, and the instance itself for ``return``.  ``shared``
blocks put their decisions under the group name, and every instance after the
first must have the same decision structure.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import NascSemanticError, Note, Span
from ...ir.space import Decision
from ...ir.sym import leaf
from .. import ast as A
from ..printer import fmt_expr
from ..values import ChoiceOp, ChosenList, OpVal, QuantityVal, Tensor, kind_of
from . import limits
from .describe import show
from .expressions import Expressions
from .pins import resolve_pin
from .scope import Env, SharedGroup, join


class Decisions(Expressions):
    """Evaluates `choice` and `choose` and applies op-valued choices."""

    def _new_decision(self, kind: str, labels: tuple[str, ...], value_kind: str, span: Span, k: int = 1,
                      cand_text: tuple[str, ...] = ()) -> tuple[Decision, int | None]:
        """The decision a `choice`/`choose` stands for, at a path derived from its binding, with its pinned
        option if any. Inside a shared block a later instance gets the first instance's decision, after
        checking it has the same structure.
        """
        scope = self.scope
        base = scope.local(scope.binding) if scope.binding is not None else scope.local("choice")
        local = scope.alloc(base)
        path = join(scope.path, local)
        existing = self.by_path.get(path)
        if existing is not None and scope.group is not None and existing.group == scope.group:
            rec = self.groups[scope.group]
            sig = (kind, len(labels) if kind == "oneof" else math.comb(len(labels), k), value_kind)
            if rec.decisions.get(path) != sig:
                raise NascSemanticError(f"instances of shared block '{rec.block}' disagree at decision '{path}': "
                                        f"{_sig_text(sig)} here, {_sig_text(rec.decisions.get(path))} in the "
                                        "first instance", span, self._instance_notes(rec))
            if self._group_seen:
                self._group_seen[-1].add(path)
            return existing, existing.fixed
        while existing is not None:
            local = scope.alloc(base)
            path = join(scope.path, local)
            existing = self.by_path.get(path)
        if len(self.decisions) >= limits.MAX_DECISIONS:
            raise NascSemanticError(f"the space has more than {limits.MAX_DECISIONS:,} decisions", span)
        d = Decision(len(self.decisions), path, kind, labels, value_kind, span, k=k, group=scope.group,
                     candidate_text=cand_text)
        pin = self.pins.get(path)
        if pin is not None:
            d.fixed = resolve_pin(d, pin)
            pin.used = True
        self.decisions.append(d)
        self.by_path[path] = d
        if scope.group is not None:
            rec = self.groups[scope.group]
            if rec.complete:
                raise NascSemanticError(f"instances of shared block '{rec.block}' disagree: decision '{path}' "
                                        "does not exist in the first instance", span, self._instance_notes(rec))
            rec.decisions[path] = (kind, d.n, value_kind)
            if self._group_seen:
                self._group_seen[-1].add(path)
        return d, d.fixed

    def _instance_notes(self, rec: SharedGroup) -> tuple[Note, ...]:
        """Notes pointing at this and the first instance of a shared block, for the errors where they disagree.
        """
        notes = []
        if self._group_calls:
            notes.append(Note("in this instance", self._group_calls[-1]))
        notes.append(Note("first instance", rec.span))
        return tuple(notes)

    def _cands(self, e: A.Expr, env: Env) -> tuple[list[Any], list[str], list[str], list[Span]]:
        """Evaluate a candidate list: values, labels, candidate source texts and spans."""
        if isinstance(e, A.ListExpr):
            values, labels, texts, spans = [], [], [], []
            seen: dict[str, Span] = {}
            for i, it in enumerate(e.items):
                values.append(self.eval(it.value, env))
                text = fmt_expr(it.value)
                label = it.label if it.label is not None else _auto_label(values[-1], text, i)
                if label in seen:
                    if it.label is not None:
                        raise NascSemanticError(f"duplicate candidate label '{label}'", it.span,
                                                (Note("first used here", seen[label]),))
                    label = f"{label}_{i}"
                seen[label] = it.span
                labels.append(label)
                texts.append(text)
                spans.append(it.value.span)
            return values, labels, texts, spans
        if isinstance(e, A.Range):
            vals = list(self._e_Range(e, env))
            return vals, [str(v) for v in vals], [str(v) for v in vals], [e.span] * len(vals)
        if isinstance(e, A.Comprehension):
            pairs = self._comprehension(e, env)
            vals = [v for v, _ in pairs]
            labels = [_auto_label(v, None, i) for v, i in pairs]
            return vals, labels, list(labels), [e.span] * len(vals)
        v = self.eval(e, env)
        if not isinstance(v, tuple):
            raise NascSemanticError(f"candidates must be a list, got {kind_of(v)}", e.span)
        labels = [_auto_label(x, None, i) for i, x in enumerate(v)]
        return list(v), labels, list(labels), [e.span] * len(v)

    def _e_Choice(self, e: A.Choice, env: Env) -> Any:
        """A `choice`: pinned, its candidate; otherwise ops stay unapplied (a ChoiceOp, which becomes a `mixed`
        node when applied), tensors become an `input_choice` node, values a decision-dependent value.
        """
        if isinstance(e.cands, A.ListExpr):  # before evaluating what may be 10^5 candidates
            self._check_options(len(e.cands.items), e.cands.span)
        values, labels, texts, spans = self._cands(e.cands, env)
        if not values:
            raise NascSemanticError("a choice needs at least one candidate", e.span)
        self._check_options(len(values), e.cands.span)
        vk = self._homogeneous(values, spans)
        d, fixed = self._new_decision("oneof", tuple(labels), vk, e.span, cand_text=tuple(texts))
        if fixed is not None:
            return values[fixed]
        if vk == "op":
            zero = frozenset(i for i, v in enumerate(values) if isinstance(v, OpVal) and "zero" in v.opdef.flags)
            d.zero_candidates = zero
            return ChoiceOp(d.id, tuple(values), tuple(labels), _local_of(d.path, self.scope.path), e.span)
        if vk == "tensor":
            tensors = [self._expect_tensor(v, s, "candidate") for v, s in zip(values, spans)]
            select = tuple(frozenset({i}) for i in range(len(tensors)))
            shape = self._unify_shapes([t.shape for t in tensors], d.id, select, e.span, f"choice '{d.path}'",
                                       labels=tuple(labels), spans=spans)
            node = self.graph.add("input_choice", None, {"k": 1, "reduce": "pick"}, tuple(t.node for t in tensors),
                                  shape, decision=d.id, select=tuple(range(len(tensors))), instance=self.scope.inst,
                                  span=e.span)
            return Tensor(node.id, shape, e.span)
        if vk == "list":
            raise NascSemanticError("a choice between lists is not supported; choose each element separately",
                                    e.span)
        return self._pick(leaf(d.id, list(range(len(values)))), values, e.span)

    def _e_Choose(self, e: A.Choose, env: Env) -> Any:
        """`choose k of [tensors]`: a ChosenList that sum, mean or concat reduces; pinned, the chosen candidates
        as a list.
        """
        k = self.eval(e.k, env)
        if isinstance(k, bool) or not isinstance(k, int):
            raise NascSemanticError(f"choose needs a plain integer count, got {show(k)}", e.k.span)
        values, labels, texts, spans = self._cands(e.cands, env)
        if not 1 <= k <= len(values):
            n = len(values)
            bounds = (f"the count must be between 1 and {n}" if n > 1 else
                      ("the count must be 1" if n == 1 else "the list is empty"))
            raise NascSemanticError(f"cannot choose {k} of {n} candidate{'s' if n != 1 else ''}; {bounds}",
                                    e.k.span)
        self._check_options(math.comb(len(values), k), e.span)
        vk = self._homogeneous(values, spans)
        d, fixed = self._new_decision("choose", tuple(labels), vk, e.span, k=k, cand_text=tuple(texts))
        if fixed is not None:
            return tuple(values[i] for i in d.options[fixed])
        if vk != "tensor":
            raise NascSemanticError("'choose' selects among tensors (connectivity); for values use one choice "
                                    "per element", e.span)
        tensors = tuple(self._expect_tensor(v, s, "candidate") for v, s in zip(values, spans))
        return ChosenList(d.id, tensors, k, e.span)

    def _check_options(self, n: int, span: Span) -> None:
        """A decision with `n` options is an error past limits.MAX_OPTIONS."""
        if n > limits.MAX_OPTIONS:
            raise NascSemanticError(f"a decision with {n:,} options; one decision may have at most "
                                    f"{limits.MAX_OPTIONS:,}", span)

    def _homogeneous(self, values: list[Any], spans: list[Span]) -> str:
        """The one kind (op, tensor, value or list) of a decision's candidates: they must be interchangeable
        wherever the decision's value is used.
        """
        kinds = []
        for v in values:
            k = kind_of(v)
            kinds.append({"int": "value", "float": "value", "bool": "value", "str": "value",
                          "quantity": "value"}.get(k, k))
        first = kinds[0]
        for kind, v, sp in zip(kinds, values, spans):
            if kind != first:
                raise NascSemanticError(f"candidates of one choice must be of one kind: {kind_of(values[0])} "
                                        f"({spans[0].line}:{spans[0].col}) and {kind_of(v)} ({sp.line}:{sp.col})",
                                        sp)
        if first not in ("op", "tensor", "value", "list"):
            raise NascSemanticError(f"cannot choose among {first} values", spans[0])
        return first

    def _mixed(self, ch: ChoiceOp, args: list[Any], span: Span) -> Tensor:
        """Apply each candidate of an op-valued choice to `args` and join the results in a `mixed` node;
        decisions inside a candidate are named under its label.
        """
        outs: list[Tensor] = []
        for cand, label in zip(ch.cands, ch.labels):
            with self._naming(f"{ch.local}.{label}", raw=True):
                out = self.apply(cand, list(args), ch.span or span, span)
            outs.append(self._expect_tensor(out, span, f"candidate '{label}'"))
        select = tuple(frozenset({i}) for i in range(len(outs)))
        d = self.decisions[ch.decision]
        shape = self._unify_shapes([t.shape for t in outs], ch.decision, select, span, f"choice '{d.path}'",
                                   labels=ch.labels, spans=[c.span if getattr(c, "span", None) else
                                                            (ch.span or span) for c in ch.cands])
        node = self.graph.add("mixed", None, {}, tuple(t.node for t in outs), shape, decision=ch.decision,
                              select=tuple(range(len(outs))), instance=self.scope.inst, span=span,
                              label=d.path)
        return Tensor(node.id, shape, span)


def _sig_text(sig: tuple[str, int, str] | None) -> str:
    """A shared-group decision signature in words, for disagreement errors."""
    if sig is None:
        return "nothing"
    kind, n, vk = sig
    if kind == "oneof":
        return f"a choice of {n} {vk}{'s' if n != 1 else ''}"
    return f"a choose with {n} combination{'s' if n != 1 else ''} of {vk}s"


def _local_of(path: str, prefix: str) -> str:
    """`path` relative to the scope prefix, so the decisions inside a mixed choice's candidates are named under
    the choice's own binding.
    """
    if prefix and path.startswith(prefix):
        rest = path[len(prefix):]
        return rest[1:] if rest.startswith(".") else rest
    return path


def _auto_label(v: Any, text: str | None, i: int) -> str:
    """A candidate's label when none is written: the value for scalars and bare ops, else its source text, else
    its position.
    """
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return str(v)
    if isinstance(v, QuantityVal):
        return v.text
    if isinstance(v, OpVal) and not v.args:
        return v.opdef.name
    if text is not None:
        return text
    return str(i)
