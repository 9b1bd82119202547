"""The value types of :class:`~nasc.passes.optir.OptIR`'s side tables: precision, quantization
parameters and kernel units.

Kept apart from ``OptIR`` because the modules that compute with them -- the int8
arithmetic (:mod:`nasc.passes.quant_math`) and the kernel signatures
(:mod:`nasc.passes.signature`) -- are also what ``OptIR`` uses to print and serialise
itself; with the types here, both can depend on them without depending on ``OptIR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

DTYPES = ("fp32", "fp16", "bf16", "int8")
#: the element type a value of each precision has in the float domain (int8 nodes compute
#: in float32 between their DequantizeLinear and QuantizeLinear)
VALUE_DTYPE = {"fp32": "f32", "fp16": "f16", "bf16": "bf16", "int8": "f32"}


@dataclass(frozen=True)
class Precision:
    """The dtype a node computes in, and why (shown in dumps so a kept node is visible)."""

    dtype: str
    reason: str = ""


@dataclass(frozen=True)
class QParams:
    """Affine quantization ``q = clamp(round(x / scale) + zero_point, qmin, qmax)``.

    ``axis`` is ``None`` per tensor, else the channel axis of per-channel scales.
    ``observed`` is the calibrated float range (activations only)."""

    dtype: str  # u8 | s8 | s32
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    qmin: int
    qmax: int
    axis: int | None = None
    observed: tuple[float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype, "scale": list(self.scale), "zero_point": list(self.zero_point),
                               "qmin": self.qmin, "qmax": self.qmax, "axis": self.axis}
        if self.observed is not None:
            out["observed"] = list(self.observed)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "QParams":
        obs = d.get("observed")
        return cls(d["dtype"], tuple(float(s) for s in d["scale"]), tuple(int(z) for z in d["zero_point"]),
                   int(d["qmin"]), int(d["qmax"]), d.get("axis"), tuple(obs) if obs is not None else None)

    def short(self) -> str:
        """4 significant digits: enough to read, stable across machines for golden files."""
        if self.axis is None:
            return f"{self.dtype}(s={self.scale[0]:.4g}, zp={self.zero_point[0]})"
        return f"{self.dtype}[axis {self.axis}, {len(self.scale)} ch](s<={max(self.scale):.4g})"


@dataclass(frozen=True)
class WeightQuant:
    """Per-channel symmetric int8 weight and the int32 bias it implies (``s_in * s_w``)."""

    weight: QParams
    bias: QParams | None = None

    def to_json(self) -> dict[str, Any]:
        return {"weight": self.weight.to_json(), "bias": self.bias.to_json() if self.bias else None}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "WeightQuant":
        return cls(QParams.from_json(d["weight"]), QParams.from_json(d["bias"]) if d.get("bias") else None)


@dataclass(frozen=True)
class Kernel:
    """A kernel unit: nodes that execute as one kernel, in execution order.

    Members form a chain (each member's value is consumed only inside the unit), so the
    last member's value is the unit's single output.  ``rule`` is the fusion family
    (``conv_bias_act``, ``conv_add_act``, ``dwconv_act``, ``pool``, ``linear_act``, ...)."""

    id: int
    rule: str
    nodes: tuple[int, ...]

    @property
    def output(self) -> int:
        return self.nodes[-1]
