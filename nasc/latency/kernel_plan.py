"""An optimized IR as a backend's :class:`~nasc.backends.KernelPlan`: one micro-model per kernel.

Why: the latency tables and the TVM tuning database are keyed by the kernels of nasc's fuse
pass, each measured and tuned as a standalone micro-model (:mod:`nasc.latency.micro`).  A
backend that partitions a whole arch its own way runs other kernels -- TVM's FuseOps decides
differently which producer a residual or cell-sum ``add`` joins -- so a tuned space would
not cover its archs, and a kernel sum would not add up what runs.  Here each kernel of the
IR becomes the same micro-model its signature gives, carrying the arch's own weights, so a
backend building the steps one by one runs exactly the kernels that were tuned and timed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..backends.base import KernelPlan, KernelStep
from ..ir.graph import IRGraph
from ..ir.ops import OpLibrary
from ..lower.inputs import example_inputs
from ..passes.optir import OptIR
from ..passes.signature import _source, kernel_signature
from .micro import micro_ir

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

PLANNED_PRECISIONS = ("fp32", "fp16")
"""Precisions whose pipeline leaves a float kernel plan (int8 kernels carry quantizers)."""


def kernel_plan(ir: OptIR, lib: OpLibrary, batch: int = 1, seed: int = 0) -> KernelPlan:
    """The kernels of ``ir`` (after ``fuse``) as standalone modules with ``ir``'s weights.

    Steps run in order of each kernel's *last* member: a merge kernel may wait for a value
    produced by a kernel that starts later (NB201's ``conv; add; add`` waits for a pool).
    Aliases in no kernel (skip, dropout, flatten) are looked through, as signatures do."""
    from ..passes.execute import OptNet

    if ir.kernels is None or ir.act_quant:
        raise ValueError("a kernel plan needs a float IR after the fuse pass")
    steps = []
    for k in sorted(ir.kernels, key=lambda k: k.nodes[-1]):
        reads: list[int] = []
        for nid in k.nodes:
            for src in (_source(ir, i) for i in ir.node(nid).inputs):
                if src not in k.nodes and src not in reads:
                    reads.append(src)  # first use: the signature's i0, i1, ...
        weights = [dict(ir.weights.get(nid, {})) for nid in k.nodes]
        signature = kernel_signature(ir, k)
        net = OptNet(micro_ir(signature, lib, weights=weights), lib).eval()
        steps.append(KernelStep(net, example_inputs(net, batch, seed), tuple(reads), k.nodes[-1], signature))
    outputs = tuple(_source(ir, ir.node(o).inputs[0]) for o in ir.outputs)
    return KernelPlan(tuple(ir.inputs), tuple(steps), outputs, origin=f"nasc's fuse pass ({len(steps)} kernels)")


def arch_kernel_plan(graph: IRGraph, lib: OpLibrary, state: Any, precision: str = "fp32",
                     batch: int = 1, seed: int = 0) -> KernelPlan | None:
    """The plan of a decided, pruned arch with ``state`` (its ArchNet's weights) after the
    pipeline of ``precision``; None for a precision without a float plan."""
    from .arch_kernels import arch_opt_ir

    if precision not in PLANNED_PRECISIONS:
        return None
    return kernel_plan(arch_opt_ir(graph, lib, precision, state=state, seed=seed), lib, batch, seed)


def opt_kernel_plan(ir: OptIR, lib: OpLibrary, batch: int = 1, seed: int = 0) -> KernelPlan | None:
    """The plan of ``nasc opt``'s IR, or None when it has none to follow (not fused, or int8:
    its kernels carry quantizers that micro-models do not)."""
    return None if ir.kernels is None or ir.act_quant else kernel_plan(ir, lib, batch, seed)


def arch_plan(graph: IRGraph, lib: OpLibrary, net: torch.nn.Module, precision: str, batch: int,
              seed: int) -> Callable[[], Any]:
    """The :class:`nasc.backends.KernelPlan` of an arch and its ArchNet ``net``, made only if a
    backend asks (TVM on the cpu target: it then runs the kernels ``nasc profile`` tuned)."""

    def plan() -> Any:
        return arch_kernel_plan(graph, lib, net.state_dict(), precision, batch, seed)
    return plan
