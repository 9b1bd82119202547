"""``mixed-precision{dtype=fp16|bf16}``: per-node precision, sensitive nodes kept in fp32.

Kept in fp32 (each with its reason, visible in the IR dump and ``ir.json``):

* reductions (``gap``; a softmax would be too): long sums lose most in 16 bits;
* the first layers (``keep_first``): convs/linears with no conv/linear before them see
  the raw input, whose range is the least controlled;
* the last layers (``keep_last``): convs/linears with none after them produce the logits.

Decisions are made per kernel unit (the units of ``fuse`` if it ran, else the units it
would form), so a unit never mixes precisions and fusion is not broken by casts: the
ReLU after a kept first conv stays fp32 with it.  Nodes already quantized to int8 are
left alone.  Execution honours the annotation with explicit casts at precision
boundaries (:mod:`nasc.passes.execute`, :mod:`nasc.passes.onnx_export`); graph inputs
and outputs stay fp32.

Tolerance (tests/passes/test_pass_precision.py, all examples, random weights):
``max|y - y_fp32| <= tol * max(1, max|y_fp32|)`` with ``tol`` = 5e-3 for fp16 and
3e-2 for bf16 (8 significant bits: ~4e-3 per rounding, compounded over the layers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ..base import PassContext, PassResult
from ..kernels import plan_kernels, split_at_precision
from ..optir import OptIR
from ..roles import Role, alias_source, node_roles
from ..side_tables import Precision


@dataclass(frozen=True)
class MixedPrecision:
    """Annotate fp16/bf16 per node, keeping reductions and first/last layers in fp32."""

    name: ClassVar[str] = "mixed-precision"
    dtype: Literal["fp16", "bf16"] = "fp16"
    keep_first: bool = True
    keep_last: bool = True
    keep_reductions: bool = True

    def run(self, ir: OptIR, ctx: PassContext) -> PassResult:
        roles = node_roles(ir, ctx.lib)
        if ir.kernels is not None:
            groups = [k.nodes for k in ir.kernels]
        else:
            groups = [m for _, m in plan_kernels(ir, ctx.lib, respect_precision=False)]
        reasons = self._kept(ir, roles)
        precision = dict(ir.precision)
        kept: list[str] = []
        for members in groups:
            free = [m for m in members if ir.dtype(m) != "int8"]
            why = next(((m, reasons[m]) for m in free if m in reasons), None)
            for m in free:
                if why is None:
                    precision[m] = Precision(self.dtype)
                    continue
                own = reasons.get(m)
                reason = f"kept: {own}" if own else f"kept: fused with %{why[0]} ({why[1]})"
                precision[m] = Precision("fp32", reason)
                kept.append(f"%{m} {ir.node(m).op}: {reason}")
        for n in ir.ops():  # aliases compute nothing: they take their source's precision
            if roles[n.id] is Role.ALIAS:
                src = alias_source(ir, roles, n.id)
                precision[n.id] = precision.get(src, Precision("fp32"))
        out = ir.evolve(precision=precision)
        out = out.evolve(kernels=split_at_precision(out, ctx.lib))
        counts: dict[str, int] = {}
        for n in out.ops():
            if roles[n.id] is not Role.ALIAS:
                counts[out.dtype(n.id)] = counts.get(out.dtype(n.id), 0) + 1
        return PassResult(out, {"dtype": self.dtype, "nodes": dict(sorted(counts.items())), "kept_fp32": kept})

    def _kept(self, ir: OptIR, roles: dict[int, Role]) -> dict[int, str]:
        """Nodes that must stay fp32 on their own account, with the reason."""
        out: dict[int, str] = {}
        anchor_above: dict[int, bool] = {}
        for n in ir.nodes:
            anchor_above[n.id] = any(anchor_above[i] or (i in roles and roles[i].anchor) for i in n.inputs)
        anchor_below: dict[int, bool] = {}
        for n in reversed(ir.nodes):
            anchor_below[n.id] = any(anchor_below[c] or (c in roles and roles[c].anchor) for c in ir.consumers(n.id))
        for n in ir.ops():
            r = roles[n.id]
            if self.keep_reductions and r is Role.REDUCE:
                out[n.id] = f"reduction ({n.op})"
            elif r.anchor and self.keep_first and not anchor_above[n.id]:
                out[n.id] = "first layer"
            elif r.anchor and self.keep_last and not anchor_below[n.id]:
                out[n.id] = "last layer"
        return out
