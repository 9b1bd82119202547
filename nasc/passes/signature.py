"""Stable kernel-unit signatures: the latency-table key of a fused kernel.

A signature is canonical text built only from op names, integer/bool attributes, shapes
(the batch stays symbolic when the arch says ``B``) and the precision -- never from node
ids, names, weights or floats -- so the same kernel gets the same key in every run, on
every machine, in every arch that contains it.  Members refer to their inputs as
``i<n>`` (the unit's external inputs, numbered by first use) or ``%<j>`` (the j-th member)::

    fp32 | conv{C=16,k=3,stride=1,groups=1,dilation=1,bias=true}(i0); add(%0, i1); relu(%1)
         | in i0=[B,16,8,8] i1=[B,16,8,8] | out [B,16,8,8]

The key is the first 16 hex digits of its sha256.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from ..ir.graph import Node, fmt_value
from .side_tables import Kernel


class KernelGraph(Protocol):
    """What a signature reads of an :class:`~nasc.passes.optir.OptIR`.  Declared here rather
    than importing ``OptIR``, because ``OptIR`` prints these signatures in its dump and
    ``ir.json``: the dependency runs one way only."""

    def node(self, nid: int) -> Node: ...

    def kernel_of(self, nid: int) -> Kernel | None: ...

    def dtype(self, nid: int) -> str: ...


def _shape(shape: tuple) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _source(ir: KernelGraph, nid: int) -> int:
    """Look through aliases (skip, dropout, flatten): after fuse, they are the only ops in no kernel."""
    while ir.node(nid).kind == "op" and ir.kernel_of(nid) is None:
        nid = ir.node(nid).inputs[0]
    return nid


def kernel_signature(ir: KernelGraph, k: Kernel) -> str:
    local = {nid: j for j, nid in enumerate(k.nodes)}
    external: dict[int, str] = {}
    parts = []
    for nid in k.nodes:
        n = ir.node(nid)
        refs = []
        for i in (_source(ir, i) for i in n.inputs):
            if i in local:
                refs.append(f"%{local[i]}")
            else:
                external.setdefault(i, f"i{len(external)}")
                refs.append(external[i])
        attrs = ",".join(f"{key}={fmt_value(v)}" for key, v in n.attrs)
        parts.append(f"{n.op}{{{attrs}}}({', '.join(refs)})" if attrs else f"{n.op}({', '.join(refs)})")
    ins = " ".join(f"{name}={_shape(ir.node(i).shape)}" for i, name in external.items())
    return f"{ir.dtype(k.output)} | {'; '.join(parts)} | in {ins} | out {_shape(ir.node(k.output).shape)}"


def signature_key(signature: str) -> str:
    """The latency-table key of a signature text: the first 16 hex digits of its sha256."""
    return hashlib.sha256(signature.encode()).hexdigest()[:16]


def kernel_signature_key(ir: KernelGraph, k: Kernel) -> str:
    return signature_key(kernel_signature(ir, k))


def kernel_pattern(ir: KernelGraph, k: Kernel) -> str:
    """Human-readable op sequence (``conv+bias+add+relu``)."""
    out = []
    for nid in k.nodes:
        n = ir.node(nid)
        out.append(n.op or "?")
        if n.attr.get("bias") is True:
            out.append("bias")
    return "+".join(out)
