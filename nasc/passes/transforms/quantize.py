"""``quantize{scheme=int8,calib=N,per_channel=true,observer=minmax|percentile|entropy}``: static PTQ.

What gets quantized: the ops that have int8 kernels in ONNX Runtime's QDQ path
(:data:`INT8_OPS`: QLinearConv, QGemm, QLinearAdd/Mul, u8 MaxPool, QLinearAveragePool,
QLinearGlobalAveragePool, QLinearConcat).  Where the Q/DQ pairs go (``act_quant``):

* every input value of an int8 op;
* every output value of an int8 op, except a graph output (logits stay float) and
  except when its only consumer is a ReLU/ReLU6 with u8 activations: that activation
  joins the int8 op and only its output is quantized -- a u8 zero point of 0 *is* the
  ReLU clamp, which is how ORT removes it (``QDQRemovableActivation``).

Weights are symmetric per output channel (``per_channel=false``: per tensor) with 8-bit,
or 7-bit with ``reduce_range`` (default ``auto``: on x86 without VNNI, where ORT's u8s8
kernels saturate, docs/toolchain.md §1); biases are int32 with scale ``s_in * s_w``.  Activation
ranges come from ``calib`` samples of the experiment's training split (the passes'
:class:`~nasc.passes.base.Calibration`), observed at the annotated precision; without
a dataset the pass uses seeded random-normal inputs and says so in ``quant_config``.
Nodes a previous ``mixed-precision`` kept in fp32 stay fp32 (they were told to).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ..base import PassContext, PassError, PassResult
from ..kernels import OptIRView, joins_int8, split_at_precision
from ..optir import OptIR
from ..roles import INT8_OPS, Role, alias_source, effective_consumers, node_roles
from ..side_tables import Precision, WeightQuant

if TYPE_CHECKING:  # torch loads when the pass runs, not when a pipeline is parsed (nasc compile checks it first)
    import torch

#: ops whose outputs are a subset of their input values: the output reuses the input's
#: parameters (exact), and ORT drops the Q/DQ pair around them only when both sides match
SAME_SCALE_OPS = frozenset({"max_pool"})


@dataclass(frozen=True)
class Quantize:
    """Static post-training int8 quantization with calibration data (explicit Q/DQ)."""

    name: ClassVar[str] = "quantize"
    scheme: Literal["int8"] = "int8"
    calib: int = 256
    per_channel: bool = True
    observer: Literal["minmax", "percentile", "entropy"] = "minmax"
    percentile: float = 99.99
    act: Literal["u8", "s8"] = "u8"
    reduce_range: Literal["auto", "true", "false"] = "auto"
    batch: int = 64

    def __post_init__(self) -> None:
        if self.calib < 1:
            raise ValueError("calib must be at least 1 sample")
        if not 50.0 < self.percentile <= 100.0:
            raise ValueError("percentile must be in (50, 100]")
        if self.batch < 1:
            raise ValueError("batch must be at least 1")

    def run(self, ir: OptIR, ctx: PassContext) -> PassResult:
        from ..quant_math import activation_qparams, bias_qparams, weight_qparams

        if ir.act_quant:
            raise PassError("the IR is already quantized")
        roles = node_roles(ir, ctx.lib)
        int8 = self._int8_nodes(ir)
        if not int8:
            raise PassError("no op of this arch has an int8 kernel (conv, dwconv, linear, add, pool, ...)")
        removable = self._removable_acts(ir, roles, int8)
        tensors = self._quantized_tensors(ir, roles, int8 | removable, removable)
        reduce, reduce_why = self._reduce_range()
        t0 = time.perf_counter()
        batches, source = self._calibration(ir, ctx)
        ranges = calibrate(ir, ctx.lib, tensors, batches, self.observer, self.percentile)
        calib_s = time.perf_counter() - t0
        act_quant = {t: activation_qparams(*ranges[t], self.act) for t in sorted(tensors)}
        for t in sorted(tensors):  # in id order, so a chain of max pools inherits from the first input
            n = ir.node(t)
            if n.kind == "op" and n.op in SAME_SCALE_OPS:
                src = alias_source(ir, roles, n.inputs[0])
                if src in act_quant:
                    act_quant[t] = act_quant[src]
        weight_quant: dict[int, WeightQuant] = {}
        for nid in sorted(int8):
            ws = ir.weights.get(nid)
            if not ws or "weight" not in ws:
                continue
            wq = weight_qparams(ws["weight"], self.per_channel, reduce)
            src = alias_source(ir, roles, ir.node(nid).inputs[0])
            bq = bias_qparams(act_quant[src].scale[0], wq, ws["weight"].shape[0]) if "bias" in ws else None
            weight_quant[nid] = WeightQuant(wq, bq)
        precision = dict(ir.precision)
        for nid in int8 | removable:
            precision[nid] = Precision("int8", "quantize")
        config: dict[str, Any] = {
            "scheme": self.scheme, "activations": f"{self.act} per-tensor "
            + ("asymmetric" if self.act == "u8" else "symmetric"),
            "weights": "s8 symmetric " + ("per-channel (axis 0)" if self.per_channel else "per-tensor"),
            "bias": "s32 (scale = s_input * s_weight)", "observer": self.observer,
            "calib_samples": sum(_batch_len(b) for b in batches), "calibration": source,
            "reduce_range": reduce, "reduce_range_reason": reduce_why, "format": "QDQ (explicit Q/DQ pairs)",
        }
        if self.observer == "percentile":
            config["percentile"] = self.percentile
        out = ir.evolve(act_quant=act_quant, weight_quant=weight_quant, precision=precision, quant_config=config)
        out = out.evolve(kernels=split_at_precision(out, ctx.lib))
        stats = {"int8_nodes": len(int8 | removable), "quantized_tensors": len(act_quant),
                 "weights_quantized": len(weight_quant), "calibration": source,
                 "calibration_seconds": round(calib_s, 3), "reduce_range": reduce}
        return PassResult(out, stats)

    # -- placement
    def _int8_nodes(self, ir: OptIR) -> set[int]:
        out = set()
        for n in ir.ops():
            p = ir.precision.get(n.id)
            if p is not None and p.reason.startswith("kept"):
                continue
            if n.op in INT8_OPS:
                out.add(n.id)
        return out

    def _removable_acts(self, ir: OptIR, roles: dict[int, Role], int8: set[int]) -> set[int]:
        if self.act != "u8":
            return set()  # a symmetric s8 zero point does not clamp at 0
        view = OptIRView(ir, roles)
        out = set()
        for n in ir.ops():
            if joins_int8(view, n.id, int8):
                p = ir.precision.get(n.id)
                if p is None or not p.reason.startswith("kept"):
                    out.add(n.id)
        return out

    def _quantized_tensors(self, ir: OptIR, roles: dict[int, Role], int8: set[int], removable: set[int]) -> set[int]:
        graph_out = {alias_source(ir, roles, ir.node(o).inputs[0]) for o in ir.outputs}
        out: set[int] = set()
        for nid in int8:
            n = ir.node(nid)
            if nid not in removable:
                out.update(alias_source(ir, roles, i) for i in n.inputs)
            if nid in graph_out:
                continue
            if set(effective_consumers(ir, roles, nid)) <= removable and effective_consumers(ir, roles, nid):
                continue
            out.add(nid)
        return out

    def _reduce_range(self) -> tuple[bool, str]:
        if self.reduce_range != "auto":
            return self.reduce_range == "true", "set by the pipeline"
        from ...backends.hostinfo import has_vnni, host_triple

        if host_triple().startswith("x86_64") and not has_vnni():
            return True, "auto: x86_64 without VNNI (ORT u8s8 kernels saturate without 7-bit weights)"
        return False, "auto: this host has VNNI or is not x86"

    def _calibration(self, ir: OptIR, ctx: PassContext) -> tuple[list[tuple[torch.Tensor, ...]], str]:
        import torch

        names = [ir.node(i).name or "" for i in ir.inputs]  # graph inputs are always named
        if ctx.calibration is not None:
            samples = ctx.calibration.batches(self.calib)
            xs = [torch.cat([torch.as_tensor(s[name]).float() for s in samples]) for name in names]
            n = xs[0].shape[0]
            batches = [tuple(x[i:i + self.batch] for x in xs) for i in range(0, n, self.batch)]
            return batches, f"{n} samples of {ctx.calibration.source}"
        g = torch.Generator().manual_seed(ctx.seed)
        batches = []
        for i in range(0, self.calib, self.batch):
            b = min(self.batch, self.calib - i)
            batches.append(tuple(torch.randn(b, *[d for d in ir.node(j).shape[1:]], generator=g)
                                 for j in ir.inputs))
        return batches, (f"{self.calib} random-normal samples (seed {ctx.seed}; no dataset): "
                         "fine for latency, not for accuracy")


def _batch_len(b: tuple[torch.Tensor, ...]) -> int:
    return int(b[0].shape[0])


def calibrate(ir: OptIR, lib: Any, tensors: set[int], batches: list[tuple[torch.Tensor, ...]], observer: str,
              percentile: float) -> dict[int, tuple[float, float]]:
    """Observed float range of each value in ``tensors`` over the calibration batches."""
    import torch

    from ..execute import OptNet
    from ..observers import make_observer

    net = OptNet(ir, lib, simulate_quant=False)
    obs = {t: make_observer(observer, percentile) for t in tensors}
    passes = max((o.passes for o in obs.values()), default=1)
    with torch.no_grad():
        for p in range(passes):
            def seen(nid: int, value: torch.Tensor, p: int = p) -> None:
                if nid in obs:
                    obs[nid].observe(value, p)
            for b in batches:
                net.run(*b, on_value=seen)
    return {t: o.range() for t, o in obs.items()}
