"""Invariants of an OptIR, checked between passes by ``nasc opt`` (unless ``--no-verify-each``) and by the tests.

A pass that breaks one of these produces a model that computes something else or
cannot be emitted, usually far from the cause; checking after each pass names the pass.
"""

from __future__ import annotations

import math

from ..errors import VerifyError
from ..ir.ops import OpError, OpLibrary
from .from_arch import expected_params
from .optir import OptIR
from .roles import Role, alias_source, effective_consumers, node_roles
from .side_tables import DTYPES, QParams


def verify(ir: OptIR, lib: OpLibrary) -> None:
    _structure(ir, lib)
    roles = node_roles(ir, lib)
    _weights(ir, lib)
    _kernels(ir, roles)
    _precision(ir)
    _quant(ir, roles)


def _fail(msg: str) -> None:
    raise VerifyError(msg)


def _structure(ir: OptIR, lib: OpLibrary) -> None:
    seen: set[int] = set()
    last = -1
    for n in ir.nodes:
        if n.id <= last:
            _fail(f"node ids must increase (a topological order): %{n.id} comes after %{last}")
        last = n.id
        for i in n.inputs:
            if i not in seen:
                _fail(f"%{n.id} reads %{i}, which is not defined before it")
        seen.add(n.id)
        if n.kind == "input":
            continue
        if n.kind == "output":
            if len(n.inputs) != 1:
                _fail(f"output %{n.id} must read exactly one value")
            continue
        if n.kind != "op":
            _fail(f"%{n.id} is a '{n.kind}' node; the optimized IR holds decided primitives only")
        opdef = lib.get(n.op or "")
        if opdef.composite:
            _fail(f"%{n.id} is the composite '{n.op}'; passes work on primitives")
        try:
            shape = lib.shape(n.op or "", ir.in_shapes(n), n.attr)
        except OpError as e:
            _fail(f"%{n.id} ({n.op}): {e}")
        if tuple(shape) != tuple(n.shape):
            _fail(f"%{n.id} ({n.op}) records shape {list(n.shape)} but its inputs give {list(shape)}")
    if set(ir.inputs) != {n.id for n in ir.nodes if n.kind == "input"}:
        _fail("the input list does not match the input nodes")
    if set(ir.outputs) != {n.id for n in ir.nodes if n.kind == "output"}:
        _fail("the output list does not match the output nodes")


def _weights(ir: OptIR, lib: OpLibrary) -> None:
    for n in ir.ops():
        want = expected_params(n, ir.in_shapes(n), lib)
        have = ir.weights.get(n.id, {})
        for k, shape in want.items():
            if k not in have:
                if n.op == "bn" and k in ("weight", "bias"):
                    continue  # affine=False
                _fail(f"%{n.id} ({n.op}) has no '{k}' tensor")
            if tuple(have[k].shape) != shape:
                _fail(f"%{n.id} ({n.op}) '{k}' has shape {list(have[k].shape)}, expected {list(shape)}")
        extra = sorted(set(have) - set(want))
        if extra:
            _fail(f"%{n.id} ({n.op}) carries tensors it does not use: {', '.join(extra)}")
    for nid in ir.weights:
        if nid not in ir:
            _fail(f"weights are attached to %{nid}, which is not in the IR")


def _kernels(ir: OptIR, roles: dict[int, Role]) -> None:
    if ir.kernels is None:
        return
    owner: dict[int, int] = {}
    for k in ir.kernels:
        for m in k.nodes:
            if m not in roles:
                _fail(f"kernel k{k.id} lists %{m}, which is not an op of the IR")
            if m in owner:
                _fail(f"%{m} is in kernels k{owner[m]} and k{k.id}")
            owner[m] = k.id
        for a, b in zip(k.nodes, k.nodes[1:]):
            if set(effective_consumers(ir, roles, a)) != {b}:
                _fail(f"kernel k{k.id}: %{a} is used outside the kernel, so it cannot be fused with %{b}")
        dtypes = {ir.dtype(m) for m in k.nodes}
        if len(dtypes) > 1:
            _fail(f"kernel k{k.id} mixes precisions {sorted(dtypes)}")
    for nid, role in roles.items():
        if role is Role.ALIAS and nid in owner:
            _fail(f"%{nid} computes nothing (alias) but is in kernel k{owner[nid]}")
        if role is not Role.ALIAS and nid not in owner:
            _fail(f"%{nid} ({ir.node(nid).op}) belongs to no kernel")
    by_id = {k.id: k for k in ir.kernels}
    for k in ir.kernels:  # kernels can run in order of their output node
        for m in k.nodes:
            for i in ir.node(m).inputs:
                src = alias_source(ir, roles, i)
                if src in owner and owner[src] != k.id and by_id[owner[src]].output >= k.output:
                    _fail(f"kernel k{k.id} reads k{owner[src]}, which finishes later: the kernel order has a cycle")


def _precision(ir: OptIR) -> None:
    for nid, p in ir.precision.items():
        if nid not in ir:
            _fail(f"precision is annotated on %{nid}, which is not in the IR")
        if p.dtype not in DTYPES:
            _fail(f"%{nid} has precision '{p.dtype}'; valid: {', '.join(DTYPES)}")


def _qparams_ok(q: QParams, what: str) -> None:
    if not q.scale or any(not (math.isfinite(s) and s > 0) for s in q.scale):
        _fail(f"{what}: scales must be positive and finite")
    if len(q.zero_point) != len(q.scale):
        _fail(f"{what}: {len(q.scale)} scales but {len(q.zero_point)} zero points")
    if any(not q.qmin <= z <= q.qmax for z in q.zero_point):
        _fail(f"{what}: zero point outside [{q.qmin}, {q.qmax}]")


def _quant(ir: OptIR, roles: dict[int, Role]) -> None:
    for nid, q in ir.act_quant.items():
        if nid not in ir:
            _fail(f"activation quantization is annotated on %{nid}, which is not in the IR")
        _qparams_ok(q, f"%{nid} activation")
    for nid, wq in ir.weight_quant.items():
        if nid not in ir.weights or "weight" not in ir.weights[nid]:
            _fail(f"%{nid} has weight quantization but no weight")
        c = ir.weights[nid]["weight"].shape[0]
        _qparams_ok(wq.weight, f"%{nid} weight")
        if len(wq.weight.scale) not in (1, c):
            _fail(f"%{nid} weight: {len(wq.weight.scale)} scales for {c} output channels")
        if wq.bias is not None:
            _qparams_ok(wq.bias, f"%{nid} bias")
            src = alias_source(ir, roles, ir.node(nid).inputs[0])
            if src not in ir.act_quant:
                _fail(f"%{nid} has an int32 bias but its input %{src} is not quantized")
