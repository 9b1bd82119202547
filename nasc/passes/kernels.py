"""Kernel units: which primitives execute as one kernel, the unit latency is additive over.

Shared by ``fuse`` (which records the units), ``mixed-precision`` (which decides
precision per unit, fused or not yet) and ``quantize`` (which re-splits units where
precision changes), so all three agree on what a unit is.

A unit starts at every node no earlier unit absorbed and then follows the single-consumer
chain, absorbing the elementwise epilogue its target rules allow:

* ``conv_bias_act`` / ``conv_add_act``: conv (+ bias, folded or unfolded BN) (+ residual add) (+ act)
* ``dwconv_act``: depthwise conv (+ bias) (+ act)
* ``linear_act``: linear (+ bias) (+ act)
* ``pool``: avg pool (+ elementwise); max pool alone
* ``reduce``: global average pool, alone
* ``injective``: concat / crop / zero (+ elementwise)
* ``eltwise``: an elementwise chain no producer absorbed (``add`` + ``relu``)

(``*_add_act`` means the unit absorbed a merge: a residual add, a mean, or the channel
gate ``mul`` of squeeze-excite; the exact ops are in the unit's pattern and signature.)

Conditions, mirroring TVM's FuseOps (checked against it in tests/passes): an absorbed
node must be the *only* consumer of the chain's value (else the intermediate would have to
be written out anyway); a merge (add/mean/mul) joins the unit of its *latest* producer,
since it can only run once all inputs exist; units never span a precision change.
Aliases (skip, dropout, flatten) compute nothing and belong to no unit.

The rules are data per target; every target shares :data:`DEFAULT_RULES` today (TVM,
ONNX Runtime and TensorRT all fuse conv/bias/residual/activation epilogues), and a
target that differs gets its own entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Container, Hashable, Iterable, Mapping, Protocol, Sequence, TypeVar

from ..ir.ops import OpLibrary
from .optir import OptIR
from .roles import CLAMP_ACTS, Role, alias_source, effective_consumers, node_roles
from .side_tables import Kernel

_EPILOGUE = frozenset({Role.NORM, Role.ACT, Role.MERGE})


@dataclass(frozen=True)
class FusionRules:
    """For each role a unit can start with, the roles it may absorb after it; ``closed_ops``
    start a unit that absorbs nothing whatever their role."""

    name: str
    epilogue: Mapping[Role, frozenset[Role]]
    closed_ops: frozenset[str] = frozenset()


DEFAULT_RULES = FusionRules("default", MappingProxyType({
    Role.CONV: _EPILOGUE, Role.DWCONV: _EPILOGUE, Role.LINEAR: _EPILOGUE, Role.POOL: _EPILOGUE,
    Role.INJECTIVE: _EPILOGUE, Role.NORM: _EPILOGUE, Role.ACT: _EPILOGUE, Role.MERGE: _EPILOGUE,
    Role.REDUCE: frozenset(),  # TVM does not fuse consumers into a reduction (kCommReduce)
}), closed_ops=frozenset({
    # TVM 0.27 fuses an epilogue into avg_pool2d (`fused_avg_pool2d1_add5`) but never into
    # max_pool2d (its TIR is a max-reduction, annotated kCommReduce), and ORT runs MaxPool alone.
    "max_pool",
}))


def rules_for(target: str) -> FusionRules:
    return DEFAULT_RULES


class _Ordered(Hashable, Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


NodeId = TypeVar("NodeId", bound=_Ordered)


T = TypeVar("T")


def sole(items: Iterable[T]) -> T | None:
    """The one item ``items`` holds (repeated or not), or None when it holds none or several;
    stops reading at the second distinct item."""
    first: T | None = None
    for x in items:
        if first is None:
            first = x
        elif x != first:
            return None
    return first


class FusionView(Protocol[NodeId]):
    """What fusion asks of a graph, whatever holds it: an :class:`OptIR` (ids are ints), or the
    decided graph of a search space read one decision at a time (:mod:`nasc.latency.decided`,
    which enumerates the kernels a whole space can produce).  Both answer through the same
    :func:`next_member`, so a unit means the same thing in an arch and in its space.

    Ids are ordered like a topological order of the graph (a merge joins its *latest*
    producer); ``role`` is ``None`` for graph inputs and outputs."""

    def role(self, nid: NodeId) -> Role | None: ...

    def op(self, nid: NodeId) -> str | None: ...

    def sole_consumer(self, nid: NodeId) -> NodeId | None:
        """The one node that reads the value (looking through aliases; it may read it more
        than once), or None when none or several do."""
        ...

    def producers(self, nid: NodeId) -> Sequence[NodeId]:
        """The node computing each input (through aliases), in input order."""
        ...

    def joins(self, merge: NodeId, cur: NodeId) -> bool:
        """Whether ``cur`` is the latest producer of ``merge`` (a merge runs once all its
        inputs exist: in the unit of the last one computed)."""
        ...

    def dtype(self, nid: NodeId) -> str: ...


class OptIRView:
    """:class:`FusionView` of an :class:`OptIR`."""

    def __init__(self, ir: OptIR, roles: Mapping[int, Role]) -> None:
        self.ir = ir
        self.roles = roles

    def role(self, nid: int) -> Role | None:
        return self.roles.get(nid)

    def op(self, nid: int) -> str | None:
        return self.ir.node(nid).op

    def sole_consumer(self, nid: int) -> int | None:
        return sole(effective_consumers(self.ir, self.roles, nid))

    def producers(self, nid: int) -> list[int]:
        return [alias_source(self.ir, self.roles, i) for i in self.ir.node(nid).inputs]

    def joins(self, merge: int, cur: int) -> bool:
        return max(self.producers(merge)) == cur

    def dtype(self, nid: int) -> str:
        return self.ir.dtype(nid)


def next_member(view: FusionView[NodeId], rules: FusionRules, start: NodeId, cur: NodeId,
                respect_precision: bool = True) -> NodeId | None:
    """The node the unit that starts at ``start`` absorbs after its member ``cur``, if any."""
    start_role = view.role(start)
    accepts = rules.epilogue.get(start_role, frozenset()) if start_role is not None else frozenset()
    if view.op(start) in rules.closed_ops or not accepts:
        return None  # before the consumers: a unit that absorbs nothing need not find them
    nxt = view.sole_consumer(cur)
    if nxt is None:
        return None
    role = view.role(nxt)
    if role is None or role not in accepts:
        return None
    if respect_precision and view.dtype(nxt) != view.dtype(start):
        return None
    if role is Role.MERGE and not view.joins(nxt, cur):
        return None
    return nxt


def joins_int8(view: FusionView[NodeId], nid: NodeId, int8: Container[NodeId]) -> bool:
    """A ReLU/ReLU6 that alone reads the value of an int8 node: with u8 activations the
    quantization of that value (zero point 0) is the clamp, so it runs in int8 with it."""
    if view.op(nid) not in CLAMP_ACTS:
        return False
    src = view.producers(nid)[0]
    return src in int8 and view.sole_consumer(src) == nid


def plan_kernels(ir: OptIR, lib: OpLibrary, rules: FusionRules = DEFAULT_RULES,
                 respect_precision: bool = True) -> list[tuple[str, tuple[int, ...]]]:
    """(rule, members) of every unit, in order of their first member."""
    roles = node_roles(ir, lib)
    view = OptIRView(ir, roles)
    assigned: set[int] = set()
    groups: list[tuple[str, tuple[int, ...]]] = []
    for n in ir.ops():
        if n.id in assigned or roles[n.id] is Role.ALIAS:
            continue
        members = [n.id]
        cur = n.id
        while (nxt := next_member(view, rules, n.id, cur, respect_precision)) is not None and nxt not in assigned:
            members.append(nxt)
            assigned.add(nxt)
            cur = nxt
        assigned.add(n.id)
        groups.append((classify(roles, members), tuple(members)))
    return groups


def classify(roles: Mapping[int, Role], members: list[int] | tuple[int, ...]) -> str:
    start = roles[members[0]]
    merge = any(roles[m] is Role.MERGE for m in members[1:])
    if start is Role.CONV:
        return "conv_add_act" if merge else "conv_bias_act"
    if start is Role.DWCONV:
        return "dwconv_add_act" if merge else "dwconv_act"
    if start is Role.LINEAR:
        return "linear_add_act" if merge else "linear_act"
    if start is Role.POOL:
        return "pool"
    if start is Role.REDUCE:
        return "reduce"
    if start is Role.INJECTIVE:
        return "injective"
    return "eltwise"


def split_at_precision(ir: OptIR, lib: OpLibrary) -> tuple[Kernel, ...] | None:
    """Kernels cut wherever the members' precision changes (after a pass re-annotated them)."""
    if ir.kernels is None:
        return None
    roles = node_roles(ir, lib)
    runs: list[list[int]] = []
    for k in ir.kernels:
        run = [k.nodes[0]]
        for m in k.nodes[1:]:
            if ir.dtype(m) == ir.dtype(run[-1]):
                run.append(m)
            else:
                runs.append(run)
                run = [m]
        runs.append(run)
    runs.sort(key=lambda r: r[0])
    return tuple(Kernel(i, classify(roles, r), tuple(r)) for i, r in enumerate(runs))
