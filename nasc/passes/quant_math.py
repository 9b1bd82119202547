"""The arithmetic of int8 quantization, shared by the quantize pass, the torch executor and
the ONNX emitter so that all three round the same way.

Conventions (those of ONNX QuantizeLinear, which ORT and TensorRT implement):
``q = saturate(round_half_even(x / scale) + zero_point)``, ``x' = (q - zero_point) * scale``.
Weights: symmetric per output channel (axis 0), zero point 0, ``|q| <= 127`` -- or
``<= 63`` with ``reduce_range`` (7-bit weights, which keep ORT's u8s8 kernels from
saturating their int16 intermediate sums on x86 without VNNI, docs/toolchain.md §1).
Bias: int32, scale ``s_input * s_weight[c]``, zero point 0 (what QLinearConv expects).
Activations: per tensor, asymmetric u8 (ORT CPU) or symmetric s8 (TensorRT).
"""

from __future__ import annotations

import torch

from .side_tables import QParams

INT32_MAX = 2**31 - 1


def activation_qparams(lo: float, hi: float, dtype: str) -> QParams:
    """Per-tensor parameters covering [lo, hi] (the range always includes 0, so 0 is exact)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if dtype == "u8":
        scale = (hi - lo) / 255.0 if hi > lo else 1.0
        zp = int(min(255, max(0, round(-lo / scale))))
        return QParams("u8", (scale,), (zp,), 0, 255, None, (lo, hi))
    if dtype == "s8":
        amax = max(-lo, hi)
        scale = amax / 127.0 if amax > 0 else 1.0
        return QParams("s8", (scale,), (0,), -128, 127, None, (lo, hi))
    raise ValueError(f"unknown activation type {dtype!r}")


def weight_qparams(w: torch.Tensor, per_channel: bool, reduce_range: bool) -> QParams:
    qmax = 63 if reduce_range else 127
    flat = w.detach().double().reshape(w.shape[0], -1).abs()
    amax = flat.amax(dim=1) if per_channel else flat.amax().reshape(1)
    scale = torch.where(amax > 0, amax / qmax, torch.ones_like(amax))
    n = len(scale)
    return QParams("s8", tuple(float(s) for s in scale.float()), (0,) * n, -qmax, qmax, 0 if per_channel else None)


def bias_qparams(input_scale: float, weight: QParams, channels: int) -> QParams:
    ws = weight.scale if len(weight.scale) == channels else weight.scale * channels
    scale = tuple(float(torch.tensor(input_scale, dtype=torch.float32) * torch.tensor(s, dtype=torch.float32))
                  for s in ws)
    return QParams("s32", scale, (0,) * channels, -INT32_MAX, INT32_MAX, 0)


def _view(q: QParams, t: torch.Tensor) -> torch.Tensor:
    """Scales shaped to broadcast along ``q.axis`` of ``t``."""
    s = torch.tensor(q.scale, dtype=torch.float32)
    if q.axis is None or len(q.scale) == 1:
        return s.reshape(()) if len(q.scale) == 1 else s
    shape = [1] * t.dim()
    shape[q.axis] = -1
    return s.reshape(shape)


def quantized_weight(w: torch.Tensor, q: QParams) -> torch.Tensor:
    return torch.clamp(torch.round(w.float() / _view(q, w)), q.qmin, q.qmax).to(torch.int8)


def quantized_bias(b: torch.Tensor, q: QParams) -> torch.Tensor:
    s = torch.tensor(q.scale, dtype=torch.float64)
    return torch.clamp(torch.round(b.double() / s), q.qmin, q.qmax).to(torch.int32)


def dequantized_weight(w: torch.Tensor, q: QParams) -> torch.Tensor:
    return quantized_weight(w, q).float() * _view(q, w)


def dequantized_bias(b: torch.Tensor, q: QParams) -> torch.Tensor:
    return (quantized_bias(b, q).double() * torch.tensor(q.scale, dtype=torch.float64)).float()


def fake_quant(x: torch.Tensor, q: QParams) -> torch.Tensor:
    """Quantize-dequantize an activation (float32), exactly as a Q/DQ pair computes it."""
    return torch.fake_quantize_per_tensor_affine(x.float(), q.scale[0], q.zero_point[0], q.qmin, q.qmax)
