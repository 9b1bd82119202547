"""The folded primitive graph a search space decides, read one decision at a time.

Why: the kernels a space can produce are what a profiler must measure, and enumerating
whole architectures to find them is exponential.  A kernel unit, though, depends only on
the decisions near it: which candidates feed and consume its nodes, which of them are
live, and the widths and kernel sizes in their attributes.  :class:`DecidedView` answers
the questions fold-bn and fusion ask -- a node's op, attributes, shape, inputs and live
consumers -- for the architectures that a condition admits, reading every decision through a
:class:`~nasc.latency.conditions.Known`: reading one the condition leaves open raises
:class:`~nasc.latency.conditions.Need`, and the facts that matter only through their
answer (is a node live, which one node reads a value) are asked as questions
(:meth:`~nasc.latency.conditions.Known.ask`).  :mod:`nasc.latency.space_kernels` runs its
computations on views by cases (:class:`~nasc.latency.conditions.Explorer`), so whatever a
computation on a view returns holds for every architecture of its case.

What the view reproduces (``tests/test_profile.py`` checks it against the real pipeline,
elaboration with pins + :func:`~nasc.passes.from_arch.from_arch` + fold-bn + fuse):

* the decided graph: a ``mixed`` or one-of ``input_choice`` node *is* its chosen input, a
  ``repeat_gate`` the iteration its count selects, a ``choose`` reduced by sum/mean/concat
  one ``add``/``mean``/``concat`` of the chosen inputs (or the one input when ``k`` is 1);
  attributes and shapes are the decisions' values; nodes that reach no output are absent
  (the liveness conditions of :func:`nasc.ir.analysis.liveness`);
* composites expanded by the op library (as :func:`~nasc.passes.from_arch.from_arch`
  does), so a node is ``(space node, index in its expansion)`` -- ordered as the OptIR
  numbers them, which is what "a merge joins its latest producer" compares;
* fold-bn: a BN whose input is a conv/dwconv/linear used by nothing else disappears into
  it (the op table's BNs always carry running statistics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Iterable, Iterator, Mapping, TypeVar

from ..errors import NascError
from ..ir.analysis import dnf_eval, edge_literal, liveness
from ..ir.graph import IRGraph, Node
from ..ir.ops import Expansion, OpLibrary
from ..ir.space import DNF, FALSE, TRUE, SearchSpace
from ..ir.sym import collect, substitute
from ..passes.from_arch import bound_attrs
from ..passes.kernels import sole
from ..passes.roles import Role, RoleError, role_of
from .conditions import Known

Ref = tuple[int, int]
"""A node of the decided primitive graph: (space node id, index in its expansion); graph
inputs, outputs, primitives and the merge of a ``choose`` have index 0."""

MERGE_OP = {"sum": "add", "mean": "mean", "concat": "concat"}
"""The op that reduces the tensors a ``choose`` keeps (what elaboration emits for them)."""


T = TypeVar("T")


class _Memo(Generic[T]):
    """An iterator's items, kept as they are produced, so it can be iterated again (partly or
    wholly) without producing any item twice."""

    def __init__(self, items: Iterator[T]) -> None:
        self._items = items
        self._seen: list[T] = []

    def __iter__(self) -> Iterator[T]:
        i = 0
        while True:
            if i == len(self._seen):
                try:
                    self._seen.append(next(self._items))
                except StopIteration:
                    return
            yield self._seen[i]
            i += 1


@dataclass(frozen=True)
class Prim:
    """What a primitive of the decided graph is, before folding -- op, bound attributes, shape --
    without its inputs: finding those reads the choices that feed it, which asking for a
    role or a shape should not."""

    op: str | None
    attrs: tuple[tuple[str, Any], ...]
    shape: tuple[Any, ...]


class SpaceIndex:
    """What every view of one space shares: the graph, its consumers, the liveness condition
    of each node, the options of each ``choose`` -- and what is found once for all views (an
    op node's expansion at given decided values, the role of each op).  One per enumeration."""

    def __init__(self, space: SearchSpace, lib: OpLibrary) -> None:
        _check_ops(space.graph, lib)
        self.space = space
        self.graph: IRGraph = space.graph
        self.lib = lib
        self.decisions = space.decisions
        self.conditions: Mapping[int, DNF] = getattr(space, "node_conditions", None) \
            or liveness(space.graph, space.decisions)
        self.consumers = {n.id: self.graph.consumers(n.id) for n in self.graph}
        self.combos = {d.id: d.options for d in space.decisions if d.kind == "choose"}
        self.sym_deps = {n.id: _sym_deps(self.graph, n) for n in self.graph}
        # (op node, the values of its sym_deps) -> its expansion and primitives: shared by
        # every view, since they depend on nothing else
        self.forms: dict[tuple[int, tuple[int, ...]], tuple[Expansion | None, tuple[Prim, ...]]] = {}
        self.roles: dict[str, Role] = {}

    def role_of(self, op: str) -> Role:
        if op not in self.roles:
            self.roles[op] = role_of(self.lib.get(op))
        return self.roles[op]


def _check_ops(graph: IRGraph, lib: OpLibrary) -> None:
    """Every op must be one the passes can see into, as :func:`~nasc.passes.from_arch.from_arch`
    requires of an architecture: a composite expands to primitives, a primitive has a role."""
    for n in graph:
        if n.kind not in ("op", "param_choice"):
            continue
        opdef = lib.get(n.op or "")
        if opdef.module_fn is not None:
            raise NascError(f"custom op '{n.op}' is a torch module with no expansion into primitives, so the "
                            "kernels it makes cannot be known", n.span)
        if not opdef.composite:
            try:
                role_of(opdef)
            except RoleError as err:
                raise NascError(str(err), n.span) from None


def _sym_deps(graph: IRGraph, node: Node) -> tuple[int, ...]:
    """The decisions a node's attributes, shape and input shapes depend on (what its expansion reads)."""
    found: dict[int, int] = {}
    collect((node.attrs, node.shape, tuple(graph.node(i).shape for i in node.inputs)), found)
    return tuple(sorted(found))


class DecidedView:
    """The decided, folded primitive graph of the architectures a run's condition admits (a
    :class:`~nasc.passes.kernels.FusionView` with :data:`Ref` ids).  Made per run: what it
    finds is true under that condition only (kept in ``known.notes``, which a run under a
    stronger condition starts from)."""

    def __init__(self, index: SpaceIndex, known: Known) -> None:
        self.index = index
        self.known = known
        self.notes = known.notes  # values, primitives, roles and inputs found so far
        self._raw_consumers: dict[Ref, _Memo[Ref]] = {}  # live iterators: never carried over

    # -- decisions and the decided graph
    def node(self, sid: int) -> Node:
        return self.index.graph.node(sid)

    def live(self, sid: int) -> bool:
        """Whether space node ``sid`` reaches an output (asked as one question: its condition
        can name many decisions, and only the answer matters)."""
        condition = self.index.conditions.get(sid, FALSE)
        if condition in (TRUE, FALSE):
            return condition == TRUE
        return self.known.ask(("live", sid), lambda known: dnf_eval(condition, known))

    def _uses(self, choice: Node, pos: int) -> bool:
        """Whether the decided graph takes input ``pos`` of a choice node."""
        lit = edge_literal(choice, pos, self.index.decisions)
        return lit is None or self.known[lit[0]] in lit[1]

    def _merges(self, node: Node) -> tuple[int, ...] | None:
        """The chosen input positions of a ``choose`` that becomes a merge op (k > 1), else None."""
        if node.kind != "input_choice" or node.decision not in self.index.combos:
            return None
        combo = self.index.combos[node.decision][self.known[node.decision]]
        return tuple(combo) if len(combo) > 1 else None

    def space_shape(self, sid: int) -> tuple[Any, ...]:
        """A space node's shape under the assignment: the shape of the value it decides to (a
        choice's shape picks its chosen input's channels), read without resolving the choice."""
        return substitute(self.node(sid).shape, self.known)

    def _form(self, sid: int) -> tuple[Expansion | None, tuple[Prim, ...]]:
        """An op node's expansion (None: a primitive) and its primitives, at the decided values."""
        key = (sid, tuple(self.known[d] for d in self.index.sym_deps[sid]))
        if key not in self.index.forms:
            n = self.node(sid)
            lib = self.index.lib
            attrs = substitute(dict(n.attrs), self.known)
            if lib.get(n.op or "").composite:
                exp = lib.expand(n.op or "", [self.space_shape(i) for i in n.inputs], attrs)
                prims = tuple(Prim(p.op, bound_attrs(lib, p.op, dict(p.attrs)), p.shape) for p in exp.nodes)
                self.index.forms[key] = (exp, prims)
            else:
                self.index.forms[key] = (None, (Prim(n.op, bound_attrs(lib, n.op or "", attrs), self.space_shape(sid)),))
        return self.index.forms[key]

    def expansion(self, sid: int) -> Expansion | None:
        """A composite op's expansion at the decided attributes and input shapes (None: a primitive)."""
        return self._form(sid)[0]

    def value(self, sid: int) -> Ref:
        """The node holding the value of space node ``sid`` in the decided graph."""
        key = ("value", sid)
        if key not in self.notes:
            self.notes[key] = self._value(sid)
        return self.notes[key]

    def _value(self, sid: int) -> Ref:
        n = self.node(sid)
        if n.kind in ("input", "output"):
            return (sid, 0)
        if n.kind in ("op", "param_choice"):
            exp = self.expansion(sid)
            if exp is None:
                return (sid, 0)
            return (sid, exp.output) if exp.output >= 0 else self.value(n.inputs[-1 - exp.output])
        if self._merges(n) is not None:
            return (sid, 0)
        pos = next(p for p in range(len(n.inputs)) if self._uses(n, p))
        return self.value(n.inputs[pos])

    def prim(self, ref: Ref) -> Prim | None:
        """The primitive at ``ref`` before folding (None: the decided graph has no such node)."""
        key = ("prim", ref)
        if key not in self.notes:
            self.notes[key] = self._prim(ref)
        return self.notes[key]

    def _prim(self, ref: Ref) -> Prim | None:
        sid, j = ref
        n = self.node(sid)
        lib = self.index.lib
        if n.kind in ("input", "output"):
            return Prim(None, (), self.space_shape(sid))
        if n.kind == "input_choice":
            if j != 0 or self._merges(n) is None:
                return None
            op = MERGE_OP[n.attr["reduce"]]
            return Prim(op, bound_attrs(lib, op, {}), self.space_shape(sid))
        if n.kind not in ("op", "param_choice"):
            return None
        prims = self._form(sid)[1]
        return prims[j] if j < len(prims) else None

    def raw_inputs(self, ref: Ref) -> tuple[Ref, ...]:
        """The nodes ``ref`` reads before folding, in input order."""
        key = ("inputs", ref)
        if key not in self.notes:
            self.notes[key] = self._raw_inputs(ref)
        return self.notes[key]

    def _raw_inputs(self, ref: Ref) -> tuple[Ref, ...]:
        sid, j = ref
        n = self.node(sid)
        if n.kind == "input_choice":
            chosen = self._merges(n)
            assert chosen is not None, ref
            return tuple(self.value(n.inputs[c]) for c in chosen)
        exp = self.expansion(sid) if n.kind in ("op", "param_choice") else None
        if exp is None:
            return tuple(self.value(i) for i in n.inputs)
        return tuple(self.value(n.inputs[-1 - i]) if i < 0 else (sid, i) for i in exp.nodes[j].inputs)

    def shape(self, ref: Ref) -> tuple[Any, ...]:
        prim = self.prim(ref)
        assert prim is not None, ref
        return prim.shape

    def raw_consumers(self, ref: Ref) -> Iterable[Ref]:
        """Live nodes that read ``ref``, once per use, before folding (aliases included).
        Found as they are asked for: a caller that stops early reads fewer decisions."""
        if ref not in self._raw_consumers:
            self._raw_consumers[ref] = _Memo(self._raw(ref))
        return self._raw_consumers[ref]

    def _raw(self, ref: Ref) -> Iterator[Ref]:
        sid, j = ref
        if self.node(sid).kind in ("op", "param_choice"):
            exp = self.expansion(sid)
            if exp is not None:
                yield from ((sid, k) for k, p in enumerate(exp.nodes) for i in p.inputs if i == j)
                if exp.output != j:
                    return
        yield from self._outer(sid)

    def _outer(self, sid: int) -> Iterator[Ref]:
        """The live readers of space node ``sid``'s value, looking through the choices that pass it on."""
        for c, pos in self.index.consumers[sid]:
            n = self.node(c)
            if n.kind in ("output", "op", "param_choice"):
                if not self.live(c):
                    continue
                exp = self.expansion(c) if n.kind != "output" else None
                if exp is None:
                    yield (c, 0)
                    continue
                yield from ((c, k) for k, p in enumerate(exp.nodes) for i in p.inputs if i == -1 - pos)
                if exp.output == -1 - pos:
                    yield from self._outer(c)
            elif self.live(c) and self._uses(n, pos):  # a dead choice's selection need not be read
                if self._merges(n) is None:
                    yield from self._outer(c)
                else:
                    yield (c, 0)

    # -- roles and fold-bn
    def role(self, ref: Ref) -> Role | None:
        key = ("role", ref)
        if key not in self.notes:
            prim = self.prim(ref)
            self.notes[key] = None if prim is None or prim.op is None else self.index.role_of(prim.op)
        return self.notes[key]

    def op(self, ref: Ref) -> str | None:
        prim = self.prim(ref)
        return prim.op if prim is not None else None

    def folded(self, ref: Ref) -> bool:
        """A BN that fold-bn removes: its input is a conv/dwconv/linear that nothing else reads."""
        if self.role(ref) is not Role.NORM:
            return False
        producer = self.raw_inputs(ref)[0]
        role = self.role(producer)
        return role is not None and role.anchor and self._sole_raw_consumer(producer) == ref

    def _folded_into(self, ref: Ref) -> Ref | None:
        """The BN folded into ``ref``, if one is."""
        only = self._sole_raw_consumer(ref)
        return only if only is not None and self.folded(only) else None

    def _sole_raw_consumer(self, ref: Ref) -> Ref | None:
        index = self.index
        return self.known.ask(("raw consumer", ref), lambda known: sole(DecidedView(index, known).raw_consumers(ref)))

    def attrs(self, ref: Ref) -> tuple[tuple[str, Any], ...]:
        """Attributes after folding (a conv that took a BN has a bias)."""
        prim = self.prim(ref)
        assert prim is not None
        if self._folded_into(ref) is None:
            return prim.attrs
        return tuple((k, True if k == "bias" else v) for k, v in prim.attrs)

    def inputs(self, ref: Ref) -> tuple[Ref, ...]:
        """Input nodes after folding (a folded BN reads as its producer)."""
        key = ("folded inputs", ref)
        if key not in self.notes:
            self.notes[key] = tuple(self.raw_inputs(i)[0] if self.folded(i) else i for i in self.raw_inputs(ref))
        return self.notes[key]

    def folded_consumers(self, ref: Ref) -> Iterable[Ref]:
        bn = self._folded_into(ref)
        return self.raw_consumers(bn if bn is not None else ref)

    def alias_source(self, ref: Ref) -> Ref:
        while self.role(ref) is Role.ALIAS:
            ref = self.inputs(ref)[0]
        return ref

    # -- the FusionView of the folded graph
    def consumers(self, ref: Ref) -> Iterator[Ref]:
        """Readers of the value after folding, looking through aliases, once per use."""
        for c in self.folded_consumers(ref):
            if self.role(c) is Role.ALIAS:
                yield from self.consumers(c)
            else:
                yield c

    def sole_consumer(self, ref: Ref) -> Ref | None:
        index = self.index
        return self.known.ask(("consumer", ref), lambda known: sole(DecidedView(index, known).consumers(ref)))

    def producers(self, ref: Ref) -> list[Ref]:
        return [self.alias_source(i) for i in self.inputs(ref)]

    def joins(self, merge: Ref, cur: Ref) -> bool:
        return max(self.producers(merge)) == cur

    def dtype(self, ref: Ref) -> str:
        return "fp32"  # precision is decided after fusion (nasc.latency.space_kernels)


__all__ = ["DecidedView", "MERGE_OP", "Prim", "Ref", "SpaceIndex"]
