"""What each primitive *does at inference*, the one fact fusion, precision and quantization share.

Derived from the op library's typed flags (``conv``, ``depthwise``, ``linear``, ``norm``,
``act``, ``pool``, ``reduction``, ``merge``, ``elementwise``, ``identity``, ``zero``), so
a new primitive with the right flags is handled without editing the passes.  Three
builtins carry no flag that says what inference makes of them; they are listed in
:data:`INFERENCE_OVERRIDES` (``dropout`` is the identity in eval mode, ``flatten`` is a
view of a contiguous tensor, ``crop`` is a slice), rather than guessed from names.

The queries that follow from roles live here too, because fusion, the passes and the
verifier must agree on them: aliases compute nothing, so a value's real producer and
real consumers are found by looking through them (:func:`alias_source`,
:func:`effective_consumers`).
"""

from __future__ import annotations

from enum import Enum
from types import MappingProxyType
from typing import Mapping

from ..ir.ops import OpDef, OpLibrary
from .optir import OptIR


class Role(str, Enum):
    CONV = "conv"  # dense / grouped convolution: a fusion anchor with weights
    DWCONV = "dwconv"  # depthwise convolution
    LINEAR = "linear"
    NORM = "norm"  # batch norm in eval mode: a per-channel affine map
    ACT = "act"  # unary elementwise activation
    MERGE = "merge"  # n-ary elementwise (add, mean, mul)
    POOL = "pool"  # windowed pool
    REDUCE = "reduce"  # global reduction (gap): numerically sensitive
    INJECTIVE = "injective"  # data movement or constant output (concat, crop, zero)
    ALIAS = "alias"  # no computation at inference (skip, dropout, flatten)

    @property
    def anchor(self) -> bool:
        """Ops with weights that start a kernel and absorb an epilogue."""
        return self in (Role.CONV, Role.DWCONV, Role.LINEAR)

    @property
    def epilogue(self) -> bool:
        """Elementwise ops a producer kernel can absorb after its main loop."""
        return self in (Role.NORM, Role.ACT, Role.MERGE)


INFERENCE_OVERRIDES: Mapping[str, Role] = MappingProxyType({
    "dropout": Role.ALIAS,
    "flatten": Role.ALIAS,
    "crop": Role.INJECTIVE,
})

#: activations that a u8 QuantizeLinear with zero point 0 implements exactly (ORT removes them)
CLAMP_ACTS = frozenset({"relu", "relu6"})
#: primitives with an int8 kernel in ONNX Runtime's QDQ path (a backend fact, per op)
INT8_OPS = frozenset({"conv", "dwconv", "linear", "add", "mul", "max_pool", "avg_pool", "gap", "concat"})


class RoleError(Exception):
    """A primitive whose inference role cannot be derived (a custom op without flags)."""


def role_of(opdef: OpDef) -> Role:
    if opdef.name in INFERENCE_OVERRIDES:
        return INFERENCE_OVERRIDES[opdef.name]
    f = opdef.flags
    if "conv" in f:
        return Role.DWCONV if "depthwise" in f else Role.CONV
    if "linear" in f:
        return Role.LINEAR
    if "norm" in f:
        return Role.NORM
    if "act" in f:
        return Role.ACT
    if "identity" in f:
        return Role.ALIAS
    if "zero" in f:
        return Role.INJECTIVE
    if "reduction" in f:
        return Role.REDUCE
    if "pool" in f:
        return Role.POOL
    if "elementwise" in f:
        return Role.MERGE if opdef.arity != 1 else Role.ACT
    if "merge" in f:
        return Role.INJECTIVE  # concat: joins without arithmetic
    raise RoleError(f"op '{opdef.name}' has no flag that says what it does at inference "
                    "(conv, linear, norm, act, pool, reduction, elementwise, merge, identity)")


def node_roles(ir: OptIR, lib: OpLibrary) -> dict[int, Role]:
    """The role of every op node of ``ir``."""
    return {n.id: role_of(lib.get(n.op or "")) for n in ir.ops()}


def alias_source(ir: OptIR, roles: Mapping[int, Role], nid: int) -> int:
    """The node that computes the value ``nid`` holds (through skip/dropout/flatten)."""
    while roles.get(nid) is Role.ALIAS:
        nid = ir.node(nid).inputs[0]
    return nid


def effective_consumers(ir: OptIR, roles: Mapping[int, Role], nid: int) -> list[int]:
    """Consumers of a value, looking through aliases (an alias is not a use)."""
    out: list[int] = []
    for c in ir.consumers(nid):
        if roles.get(c) is Role.ALIAS:
            out.extend(effective_consumers(ir, roles, c))
        else:
            out.append(c)
    return out
