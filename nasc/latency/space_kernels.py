"""Every kernel a search space can produce, exactly, without enumerating its architectures.

A profiler measures each distinct kernel of a target once; which kernels exist is a
property of the space.  The kernels of one architecture are those of ``fold-bn,fuse``
(plus the precision, below) on its primitives.  This module computes the union over
*all* architectures of the space, from the IR:

1. For each space node (and each ``choose`` merge), :func:`kernels_at` builds, on a
   :class:`~nasc.latency.decided.DecidedView`, every kernel unit that starts inside it --
   skipping nodes that are not live, BNs that fold, aliases and nodes an earlier unit
   absorbs -- with the same step function fusion uses
   (:func:`nasc.passes.kernels.next_member`), and their signatures
   (:func:`nasc.passes.signature.kernel_signature`).
2. An :class:`~nasc.latency.conditions.Explorer` runs it by cases: when the view reads a
   decision its condition leaves open, once per option; when it asks a question whose
   answer is all that matters -- is a node live, which single node reads a value, where
   does a node's unit start -- once per answer, under the condition for that answer.
   Every completed run read only what its condition fixes, so its kernels are those of
   *every* architecture its condition admits; the runs' conditions cover every
   architecture; and each is conjoined with validity (an option a ``choose`` excludes is
   taken only where its decision is inactive).  Hence the union over runs is exactly the
   union over architectures -- unlike sampling, nothing is missed, and nothing is
   produced that no architecture has.

It reads only the decisions within a unit's fusion neighbourhood (its liveness, the
choices feeding and consuming it, the widths in its attributes), so the work grows
with the space's nodes times the options of a few decisions each, not with the space's
size.  Budget constraints are not applied: a profile covers every architecture; which
ones a budget allows is decided later.

Precision is applied after fusion, as ``nasc opt`` does: ``fp32`` is ``fold-bn,fuse``;
``fp16``/``bf16`` every node in that dtype (``mixed-precision`` with nothing kept in fp32,
which is what a backend's whole-model fp16 build runs); ``int8`` the placement of
``quantize`` (int8 ops, and a ReLU that alone reads one; the rest stays fp32 and units
split where the precision changes).  :data:`PIPELINES` names each as a pass pipeline,
which is what the tests and ``benchmarks/space_kernels.py`` run on whole architectures
to check this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Mapping

from ..ir.graph import Node
from ..ir.ops import OpLibrary
from ..ir.space import SearchSpace
from ..passes.kernels import FusionRules, classify, joins_int8, next_member, rules_for
from ..passes.roles import INT8_OPS, Role
from ..passes.side_tables import DTYPES, Kernel
from ..passes.signature import kernel_signature, signature_key
from .conditions import Explorer, Known
from .decided import DecidedView, Ref, SpaceIndex

_UNIFORM = "mixed-precision{{dtype={},keep_first=false,keep_last=false,keep_reductions=false}}"
PIPELINES: Mapping[str, str] = {
    "fp32": "fold-bn,fuse",
    "fp16": "fold-bn,fuse," + _UNIFORM.format("fp16"),
    "bf16": "fold-bn,fuse," + _UNIFORM.format("bf16"),
    "int8": "fold-bn,fuse,quantize{calib=1,batch=1}",
}
"""The pass pipeline whose kernels :func:`space_kernels` enumerates, per precision."""


@dataclass(frozen=True, order=True)
class KernelSig:
    """One distinct kernel: its signature text and key (the latency-table key)."""

    key: str
    signature: str
    rule: str

    @classmethod
    def of(cls, signature: str, rule: str) -> "KernelSig":
        return cls(signature_key(signature), signature, rule)


# ---------------------------------------------------------------- units on a decided view
def _predecessor(view: DecidedView, ref: Ref) -> Ref | None:
    """The member whose unit could absorb ``ref``: its input's source, or a merge's latest producer."""
    role = view.role(ref)
    if role is None or not role.epilogue:
        return None
    producers = view.producers(ref)
    cur = max(producers) if role is Role.MERGE else producers[0]
    return cur if view.role(cur) is not None else None


def unit_start(view: DecidedView, rules: FusionRules, ref: Ref) -> Ref:
    """The first member of the unit ``ref`` belongs to (``ref`` itself when no unit absorbs it);
    asked as a question, so the decisions upstream count only through the answer."""
    index = view.index
    return view.known.ask(("start", ref), lambda known: _unit_start(DecidedView(index, known), rules, ref))


def _unit_start(view: DecidedView, rules: FusionRules, ref: Ref) -> Ref:
    cur = _predecessor(view, ref)
    if cur is None or view.sole_consumer(cur) != ref:
        return ref
    start = unit_start(view, rules, cur)
    return start if next_member(view, rules, start, cur) == ref else ref


def unit(view: DecidedView, rules: FusionRules, start: Ref) -> list[Ref]:
    members = [start]
    while (nxt := next_member(view, rules, start, members[-1])) is not None:
        members.append(nxt)
    return members


class _Int8Ops:
    """The nodes of a view whose op has an int8 kernel (what ``quantize`` puts in int8 first)."""

    def __init__(self, view: DecidedView) -> None:
        self.view = view

    def __contains__(self, ref: object) -> bool:
        op = self.view.op(ref)  # type: ignore[arg-type]
        return op is not None and op in INT8_OPS


def _dtype(view: DecidedView, ref: Ref, precision: str) -> str:
    """A member's precision after the pipeline of :data:`PIPELINES` (int8: asked, since a ReLU's
    depends on what else reads its input)."""
    if precision != "int8":
        return precision
    if view.op(ref) in INT8_OPS:
        return "int8"
    index = view.index

    def joins(known: Known) -> bool:
        other = DecidedView(index, known)
        return joins_int8(other, ref, _Int8Ops(other))

    return "int8" if view.known.ask(("int8", ref), joins) else "fp32"


Wiring = tuple[tuple[tuple[tuple[str, int], ...], ...], tuple[tuple[object, ...], ...]]


def _wiring(view: DecidedView, members: tuple[Ref, ...]) -> Wiring:
    """What each member reads -- ``("m", k)`` member k, ``("x", e)`` the e-th other value, by
    first use -- and the shapes of those values: all a signature needs of the nodes around
    a unit."""
    at = {m: k for k, m in enumerate(members)}
    external: dict[Ref, int] = {}
    reads = tuple(tuple(("m", at[s]) if s in at else ("x", external.setdefault(s, len(external)))
                        for s in view.producers(m)) for m in members)
    return reads, tuple(view.shape(s) for s in external)


class _LocalKernels:
    """The :class:`~nasc.passes.signature.KernelGraph` of one unit: the values it reads (ids
    0..), its members (after them), its kernels (the unit split where the precision changes)."""

    def __init__(self, view: DecidedView, members: tuple[Ref, ...], dtypes: list[str]) -> None:
        reads, shapes = _wiring(view, members)
        first = len(shapes)
        self.nodes = {e: Node(e, "input", None, (), (), shape) for e, shape in enumerate(shapes)}
        for k, m in enumerate(members):
            ins = tuple(first + i if kind == "m" else i for kind, i in reads[k])
            self.nodes[first + k] = Node(first + k, "op", view.op(m), view.attrs(m), ins, view.shape(m))
        self._dtype = {first + k: dt for k, dt in enumerate(dtypes)}
        runs: list[list[int]] = []
        for k, dt in enumerate(dtypes):
            if runs and dtypes[k - 1] == dt:
                runs[-1].append(first + k)
            else:
                runs.append([first + k])
        roles = {first + k: view.role(m) for k, m in enumerate(members)}
        self.kernels = [Kernel(i, classify(roles, run), tuple(run)) for i, run in enumerate(runs)]  # type: ignore[arg-type]
        self._kernel_of = {m: k for k in self.kernels for m in k.nodes}

    def node(self, nid: int) -> Node:
        return self.nodes[nid]

    def kernel_of(self, nid: int) -> Kernel | None:
        return self._kernel_of.get(nid)

    def dtype(self, nid: int) -> str:
        return self._dtype.get(nid, "fp32")


def kernels_at(view: DecidedView, ref: Ref, precision: str, rules: FusionRules) -> frozenset[KernelSig]:
    """The kernels of the unit that starts at ``ref`` in the decided graph (none when ``ref``
    is absent or not live, computes nothing, folds away or joins an earlier unit)."""
    if not view.live(ref[0]):
        return frozenset()
    role = view.role(ref)
    if role is None or role is Role.ALIAS or view.folded(ref) or unit_start(view, rules, ref) != ref:
        return frozenset()
    members = tuple(unit(view, rules, ref))
    local = _LocalKernels(view, members, [_dtype(view, m, precision) for m in members])
    return frozenset(KernelSig.of(kernel_signature(local, k), k.rule) for k in local.kernels)


def _primitives_of(index: SpaceIndex, sid: int, known: Known) -> int:
    """:func:`primitives_at` ``sid`` on the decided view of ``known`` (one explorer run)."""
    return primitives_at(DecidedView(index, known), sid)


def _kernels_of(index: SpaceIndex, ref: Ref, precision: str, rules: FusionRules,
                known: Known) -> frozenset[KernelSig]:
    """:func:`kernels_at` ``ref`` on the decided view of ``known`` (one explorer run)."""
    return kernels_at(DecidedView(index, known), ref, precision, rules)


def primitives_at(view: DecidedView, sid: int) -> int:
    """How many primitives space node ``sid`` decides to (its expansion's size: it may vary)."""
    node = view.node(sid)
    if node.kind == "input_choice":
        return 1
    exp = view.expansion(sid)
    return len(exp.nodes) if exp is not None else 1


@dataclass(frozen=True)
class Enumeration:
    """The distinct kernels of a space at one precision, and what finding them took."""

    kernels: tuple[KernelSig, ...]
    runs: int  # cases (conditions) evaluated to completion
    nodes: int  # space nodes that can start a unit


def space_kernels(space: SearchSpace, lib: OpLibrary, precision: str = "fp32",
                  target: str = "cpu") -> Enumeration:
    """Every distinct kernel any architecture of ``space`` has after :data:`PIPELINES` [precision]."""
    if precision not in DTYPES:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(DTYPES)}")
    index = SpaceIndex(space, lib)
    explorer = Explorer(space.decisions)
    rules = rules_for(target)
    found: set[KernelSig] = set()
    runs = 0
    starts = [n.id for n in space.graph if n.kind in ("op", "param_choice", "input_choice")]
    for sid in starts:
        sizes = explorer.table(("primitives", sid), partial(_primitives_of, index, sid))
        for j in range(max(sizes)):
            for _, sigs in explorer.explore(partial(_kernels_of, index, (sid, j), precision, rules)):
                runs += 1
                found |= sigs
    return Enumeration(tuple(sorted(found)), runs, len(starts))


__all__ = ["Enumeration", "KernelSig", "PIPELINES", "kernels_at", "primitives_at", "space_kernels",
           "unit", "unit_start"]
