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
from typing import Mapping

from ..ir.ops import OpLibrary
from .optir import OptIR
from .roles import Role, alias_source, effective_consumers, node_roles
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


def plan_kernels(ir: OptIR, lib: OpLibrary, rules: FusionRules = DEFAULT_RULES,
                 respect_precision: bool = True) -> list[tuple[str, tuple[int, ...]]]:
    """(rule, members) of every unit, in order of their first member."""
    roles = node_roles(ir, lib)
    assigned: set[int] = set()
    groups: list[tuple[str, tuple[int, ...]]] = []
    for n in ir.ops():
        if n.id in assigned or roles[n.id] is Role.ALIAS:
            continue
        start = roles[n.id]
        members = [n.id]
        cur = n.id
        while True:
            cons = effective_consumers(ir, roles, cur)
            if len(set(cons)) != 1:
                break
            nxt = cons[0]
            if n.op in rules.closed_ops or nxt not in roles or nxt in assigned \
                    or roles[nxt] not in rules.epilogue.get(start, ()):
                break
            if respect_precision and ir.dtype(nxt) != ir.dtype(n.id):
                break
            if roles[nxt] is Role.MERGE:
                producers = [alias_source(ir, roles, i) for i in ir.node(nxt).inputs]
                if max(producers) != cur:
                    break
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
