"""``fold-bn``: fold an eval-mode BatchNorm into the conv / dwconv / linear before it.

With ``s = gamma / sqrt(running_var + eps)``, ``BN(W x + b) = (s W) x + (s (b - mean) + beta)``:
the producer gets weight ``s W`` (scaled per output channel) and a bias, the BN node
disappears and its consumers read the producer.  Computed in float64 and stored as
float32, so the folded model matches the unfolded one to float32 rounding (the test
asks for 1e-5).  ``eps`` is read from the op table's BN module (torch's default), the
module ArchNet trained.

A BN is folded only when its producer has weights and no other consumer (the unfolded
value must not be needed elsewhere).  BNs after a merge or concat (DARTS'
factorized_reduce, NAS-Bench-201's last BN) stay; ``fuse`` puts them into the epilogue of
the kernel before them, as TVM does with ``DecomposeOpsForInference``.
Run it before ``fuse`` and ``quantize``: they decide on the graph it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Mapping

from ...ir.graph import Node
from ..base import PassContext, PassError, PassResult
from ..from_arch import bn_eps
from ..optir import OptIR
from ..roles import Role, role_of

if TYPE_CHECKING:  # torch loads when a pass runs, not when a pipeline is parsed
    import torch


@dataclass(frozen=True)
class FoldBN:
    """Fold eval-mode BatchNorm into the preceding conv/linear weights and bias."""

    name: ClassVar[str] = "fold-bn"

    def run(self, ir: OptIR, ctx: PassContext) -> PassResult:
        if ir.kernels is not None or ir.act_quant:
            raise PassError("fold-bn changes the graph that fusion and quantization were decided on; "
                            "run it before fuse and quantize")
        eps = bn_eps()
        replace_by: dict[int, int] = {}  # removed bn -> producer
        new_weights = dict(ir.weights)
        new_nodes: dict[int, Node] = {}
        notes = dict(ir.notes)
        origin = dict(ir.origin)
        left: list[str] = []
        for n in ir.ops():
            if role_of(ctx.lib.get(n.op or "")) is not Role.NORM:
                continue
            p = ir.node(n.inputs[0])
            why = self._why_not(ir, ctx, p, n)
            if why:
                left.append(f"%{n.id}: {why}")
                continue
            w, b = _fold(ir.weights[p.id], ir.weights[n.id], eps)
            new_weights[p.id] = {"weight": w, "bias": b}
            del new_weights[n.id]
            attrs = tuple((k, True if k == "bias" else v) for k, v in p.attrs)
            new_nodes[p.id] = Node(p.id, p.kind, p.op, attrs, p.inputs, p.shape, name=p.name)
            notes[p.id] = (*notes.get(p.id, ()), f"folded bn %{n.id}")
            if n.id in origin:
                origin[p.id] = f"{origin[p.id]} + {origin.pop(n.id)}"
            replace_by[n.id] = p.id
        nodes = []
        for n in ir.nodes:
            if n.id in replace_by:
                continue
            n = new_nodes.get(n.id, n)
            if any(i in replace_by for i in n.inputs):
                n = Node(n.id, n.kind, n.op, n.attrs, tuple(replace_by.get(i, i) for i in n.inputs), n.shape,
                         name=n.name)
            nodes.append(n)
        precision = {k: v for k, v in ir.precision.items() if k not in replace_by}
        out = ir.evolve(nodes=tuple(nodes), weights=new_weights, notes=notes, origin=origin, precision=precision)
        return PassResult(out, {"folded": len(replace_by), "left": len(left), "left_reasons": left})

    @staticmethod
    def _why_not(ir: OptIR, ctx: PassContext, p: Node, bn: Node) -> str:
        if p.kind != "op" or not role_of(ctx.lib.get(p.op or "")).anchor:
            return f"its input comes from {p.op or p.kind}, which has no weights to fold into"
        if set(ir.consumers(p.id)) != {bn.id}:
            return f"%{p.id} ({p.op}) is also used elsewhere"
        if "weight" not in ir.weights.get(bn.id, {}) and "running_mean" not in ir.weights.get(bn.id, {}):
            return "no statistics"
        return ""


def _fold(conv: Mapping[str, torch.Tensor], bn: Mapping[str, torch.Tensor], eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    w = conv["weight"].double()
    c = w.shape[0]
    b = conv["bias"].double() if "bias" in conv else torch.zeros(c, dtype=torch.float64)
    gamma = bn["weight"].double() if "weight" in bn else torch.ones(c, dtype=torch.float64)
    beta = bn["bias"].double() if "bias" in bn else torch.zeros(c, dtype=torch.float64)
    s = gamma / torch.sqrt(bn["running_var"].double() + eps)
    w2 = w * s.reshape(-1, *([1] * (w.dim() - 1)))
    b2 = s * (b - bn["running_mean"].double()) + beta
    return w2.float().contiguous(), b2.float().contiguous()
