"""The one op table: IR op -> torch module, shared by search, retraining and the backends.

Primitives map to torch layers with the padding rule of :mod:`nasc.ir.ops`;
composites run their expansion (the same expansion that defines their shape and
cost), so a composite can never count differently from how it computes.  Custom
ops call the factory registered with them.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..ir.ops import Expansion, OpLibrary, Shape


class Zero(nn.Module):
    """DARTS' 'none': zeros, strided like the edge (keeps the graph connected)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x * 0.0
        return x[:, :, :: self.stride, :: self.stride] * 0.0


class Crop(nn.Module):
    def __init__(self, offset: int) -> None:
        super().__init__()
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, self.offset:, self.offset:]


class GAP(nn.Module):
    def __init__(self, keepdim: bool) -> None:
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=self.keepdim)


class Merge(nn.Module):
    """add / mean / mul / concat over the inputs, in order."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.kind == "concat":
            return torch.cat(xs, dim=1)
        if self.kind == "mul":
            return xs[0] * xs[1]
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out / len(xs) if self.kind == "mean" else out


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _pad(k: int, dilation: int = 1) -> int:
    return dilation * (k - 1) // 2


def make_primitive(op: str, in_shapes: Sequence[Shape], a: Mapping[str, Any], affine: bool = True) -> nn.Module:
    """A torch module for one primitive with concrete input shapes and attributes."""
    # shapes are concrete ints by the time a primitive is built (Any: Dim also admits symbols)
    cin: Any = in_shapes[0][1] if in_shapes and len(in_shapes[0]) > 1 else None
    if op == "conv":
        return nn.Conv2d(cin, a["C"], a["k"], a["stride"], _pad(a["k"], a["dilation"]), a["dilation"], a["groups"],
                         bias=a["bias"])
    if op == "dwconv":
        return nn.Conv2d(cin, cin, a["k"], a["stride"], _pad(a["k"], a["dilation"]), a["dilation"], cin,
                         bias=a["bias"])
    if op == "bn":
        return (nn.BatchNorm2d if len(in_shapes[0]) == 4 else nn.BatchNorm1d)(cin, affine=affine)
    simple: dict[str, Callable[[], nn.Module]] = {
        "relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish, "hsigmoid": nn.Hardsigmoid,
        "sigmoid": nn.Sigmoid, "skip": Identity, "flatten": lambda: nn.Flatten(1),
    }
    if op in simple:
        return simple[op]()
    if op == "avg_pool":
        return nn.AvgPool2d(a["k"], a["stride"], _pad(a["k"]), count_include_pad=False)
    if op == "max_pool":
        return nn.MaxPool2d(a["k"], a["stride"], _pad(a["k"]))
    if op == "gap":
        return GAP(a["keepdim"])
    if op == "linear":
        return nn.Linear(cin, a["n"], bias=a["bias"])
    if op == "dropout":
        return nn.Dropout(a["p"])
    if op == "zero":
        return Zero(a["stride"])
    if op == "crop":
        return Crop(a["offset"])
    if op in ("add", "mean", "mul", "concat"):
        return Merge(op)
    raise KeyError(op)


class Expanded(nn.Module):
    """A composite op: runs its expansion's primitives in order."""

    def __init__(self, lib: OpLibrary, exp: Expansion, in_shapes: Sequence[Shape], affine: bool) -> None:
        super().__init__()
        self.exp = exp
        mods = []
        for n in exp.nodes:
            shapes = [exp.nodes[i].shape if i >= 0 else in_shapes[-1 - i] for i in n.inputs]
            mods.append(make_primitive(n.op, shapes, dict(n.attrs), affine))
        self.ops = nn.ModuleList(mods)
        self.wiring = [tuple(n.inputs) for n in exp.nodes]
        self.out = exp.output

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        vals: list[torch.Tensor] = []
        for mod, ins in zip(self.ops, self.wiring):
            vals.append(mod(*[vals[i] if i >= 0 else xs[-1 - i] for i in ins]))
        return vals[self.out] if self.out >= 0 else xs[-1 - self.out]


def make_op(lib: OpLibrary, op: str, in_shapes: Sequence[Shape], attrs: Mapping[str, Any],
            affine: bool = True) -> nn.Module:
    """The torch module of any op of the library (primitive, composite or custom)."""
    opdef = lib.get(op)
    if opdef.module_fn is not None:
        return opdef.module_fn([tuple(s) for s in in_shapes], **attrs)
    if opdef.composite:
        return Expanded(lib, lib.expand(op, in_shapes, attrs), in_shapes, affine)
    return make_primitive(op, in_shapes, attrs, affine)


def concrete_shape(shape: Shape, batch: int = 1) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else batch for d in shape)


def init_weights(module: nn.Module) -> None:
    """Kaiming for convs, standard for linear, unit BN (a fixed, documented initialization)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


F = F  # re-exported for modules that build on this table
