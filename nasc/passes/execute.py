"""Execute an :class:`~nasc.passes.optir.OptIR` in torch: the reference for every pass.

Each primitive runs through the one op table (:func:`nasc.lower.ops_torch.make_primitive`),
so an un-optimized OptIR computes exactly what ArchNet computes.  Annotations are
honoured the way a deployment would:

* precision -- a node's module is cast to fp16/bf16 and its inputs are cast on entry
  (explicit casts at precision boundaries; graph outputs are returned as float32);
* quantization (``simulate_quant=True``) -- weights and biases are replaced by their
  dequantized int8/int32 values and every tensor with activation parameters goes through
  a quantize-dequantize pair, the same arithmetic the ONNX Q/DQ model runs.

``run(..., on_value=...)`` lets calibration observe every value without a second executor.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..ir.ops import OpLibrary
from ..lower.ops_torch import concrete_shape, make_primitive
from .optir import OptIR
from .quant_math import dequantized_bias, dequantized_weight, fake_quant
from .side_tables import QParams

TORCH_DTYPE = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.float32}


class OptNet(nn.Module):
    """The torch module of an optimized IR (submodules named ``n{id}_{op}`` like ArchNet's)."""

    def __init__(self, ir: OptIR, lib: OpLibrary, simulate_quant: bool = True) -> None:
        super().__init__()
        self.input_names = [ir.node(i).name or f"in{i}" for i in ir.inputs]
        self.output_names = [ir.node(o).name or f"out{o}" for o in ir.outputs]
        self.input_shapes = [concrete_shape(ir.node(i).shape) for i in ir.inputs]
        self.layers = nn.ModuleDict()
        self.plan: list[tuple[int, str, tuple[int, ...], torch.dtype]] = []
        self._inputs = list(ir.inputs)
        self._outputs = [ir.node(o).inputs[0] for o in ir.outputs]
        self._act_q: dict[int, QParams] = dict(ir.act_quant) if simulate_quant else {}
        for n in ir.ops():
            mod = make_primitive(n.op or "", ir.in_shapes(n), n.attr)
            _load(mod, ir.weights.get(n.id, {}), f"%{n.id} ({n.op})")
            wq = ir.weight_quant.get(n.id) if simulate_quant else None
            if wq is not None:
                weight, bias = mod.weight, getattr(mod, "bias", None)
                assert isinstance(weight, torch.Tensor)  # only weighted ops carry weight quantization
                with torch.no_grad():
                    weight.copy_(dequantized_weight(weight, wq.weight))
                    if wq.bias is not None and isinstance(bias, torch.Tensor):
                        bias.copy_(dequantized_bias(bias, wq.bias))
            dtype = TORCH_DTYPE[ir.dtype(n.id)]
            mod = mod.to(dtype).eval()
            key = f"n{n.id}_{n.op}"
            self.layers[key] = mod
            self.plan.append((n.id, key, n.inputs, dtype))
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def run(self, *xs: torch.Tensor,
            on_value: Callable[[int, torch.Tensor], None] | None = None) -> list[torch.Tensor]:
        vals: dict[int, torch.Tensor] = {}
        for nid, x in zip(self._inputs, xs):
            x = x.float()
            if on_value is not None:
                on_value(nid, x)
            vals[nid] = fake_quant(x, self._act_q[nid]) if nid in self._act_q else x
        for nid, key, ins, dtype in self.plan:
            args = [vals[i] if vals[i].dtype == dtype else vals[i].to(dtype) for i in ins]
            y = self.layers[key](*args)
            if on_value is not None:
                on_value(nid, y)
            if nid in self._act_q:
                y = fake_quant(y, self._act_q[nid])
            vals[nid] = y
        return [vals[o].float() for o in self._outputs]

    def forward(self, *xs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        outs = self.run(*xs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def example_inputs(self, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        return tuple(torch.randn(batch, *s[1:], generator=g) for s in self.input_shapes)


def _load(mod: nn.Module, tensors: Mapping[str, Any], what: str) -> None:
    """Copy a node's tensors into its module; every parameter/buffer but training counters must come."""
    own = dict(mod.named_parameters()) | dict(mod.named_buffers())
    for k, t in tensors.items():
        if k not in own:
            raise ValueError(f"{what}: the op table's module has no tensor '{k}'")
        with torch.no_grad():
            own[k].copy_(t)
    missing = [k for k in own if k not in tensors and k != "num_batches_tracked"]
    if missing:
        raise ValueError(f"{what}: no value for '{missing[0]}'")
