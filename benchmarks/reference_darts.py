"""A plain textbook DARTS search network (Liu et al. 2019), written without nasc.

It implements the same space as examples/darts.nas -- the same eight candidate
ops with the same definitions (no extra BN after pooling), 4 intermediate nodes
summing *all* incoming edges (DARTS' continuous relaxation of 'choose 2'), the
factorized-reduce / ReLU-conv-BN preprocessing -- with one MixedOp per edge
computing every candidate.  It is the baseline the nasc supernet is measured
against in benchmarks/search_step.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PRIMITIVES = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3", "dil_conv_5x5"]


class ReLUConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int, pad: int) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, pad, bias=False), nn.BatchNorm2d(cout, affine=False))


class DilConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int, pad: int, dil: int) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(cin, cin, k, stride, pad, dilation=dil, groups=cin, bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout, affine=False))


class SepConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int, pad: int) -> None:
        super().__init__(DilConv(cin, cin, k, stride, pad, 1), DilConv(cin, cout, k, 1, pad, 1))


class Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0) if self.stride == 1 else x[:, :, ::self.stride, ::self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout // 2, 1, 2, bias=False)
        self.c2 = nn.Conv2d(cin, cout // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        return self.bn(torch.cat([self.c1(x), self.c2(x[:, :, 1:, 1:])], 1))


def make_op(name: str, c: int, stride: int) -> nn.Module:
    return {
        "none": lambda: Zero(stride),
        "max_pool_3x3": lambda: nn.MaxPool2d(3, stride, 1),
        "avg_pool_3x3": lambda: nn.AvgPool2d(3, stride, 1, count_include_pad=False),
        "skip_connect": lambda: nn.Identity() if stride == 1 else FactorizedReduce(c, c),
        "sep_conv_3x3": lambda: SepConv(c, c, 3, stride, 1),
        "sep_conv_5x5": lambda: SepConv(c, c, 5, stride, 2),
        "dil_conv_3x3": lambda: DilConv(c, c, 3, stride, 2, 2),
        "dil_conv_5x5": lambda: DilConv(c, c, 5, stride, 4, 2),
    }[name]()


class MixedOp(nn.Module):
    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(make_op(p, c, stride) for p in PRIMITIVES)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return sum(wi * op(x) for wi, op in zip(w, self.ops))


class Cell(nn.Module):
    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0)
        self.ops = nn.ModuleList()
        for i in range(4):
            for j in range(2 + i):
                self.ops.append(MixedOp(c, 2 if reduction and j < 2 else 1))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        offset = 0
        for i in range(4):
            s = sum(self.ops[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-4:], dim=1)


class Network(nn.Module):
    def __init__(self, c: int = 16, layers: int = 8, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 3 * c, 3, padding=1, bias=False), nn.BatchNorm2d(3 * c))
        c_pp, c_p, c_cur = 3 * c, 3 * c, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_cur *= 2
            self.cells.append(Cell(c_pp, c_p, c_cur, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, 4 * c_cur
        self.classifier = nn.Linear(c_p, classes)
        k = sum(2 + i for i in range(4))
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(k, len(PRIMITIVES)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(k, len(PRIMITIVES)))

    def weights(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("alphas")]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        wn, wr = F.softmax(self.alphas_normal, -1), F.softmax(self.alphas_reduce, -1)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, wr if cell.reduction else wn)
        return self.classifier(s1.mean(dim=(2, 3)))
