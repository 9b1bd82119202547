"""Arch IR (fully decided) -> ``torch.nn.Module``, the reference implementation of an architecture.

The module executes the IR's nodes in id order (a topological order) with one
submodule per op node, named after the node (``n12_conv``), so a state dict is
stable for a given arch text.  It is what ``nasc train`` trains, what the ONNX
export traces, and what every backend is compared against.
"""

from __future__ import annotations

import torch
from torch import nn

from ..ir.graph import IRGraph
from ..ir.ops import OpLibrary
from .ops_torch import concrete_shape, init_weights, make_op


class ArchNet(nn.Module):
    def __init__(self, graph: IRGraph, lib: OpLibrary, affine: bool = True) -> None:
        super().__init__()
        if not graph.is_decided():
            raise ValueError("ArchNet needs a fully decided IR (use the supernet for a space)")
        self.input_names = [graph.node(i).name or f"in{i}" for i in graph.inputs]
        self.output_names = [graph.node(o).name or f"out{o}" for o in graph.outputs]
        self.input_shapes = [concrete_shape(graph.node(i).shape) for i in graph.inputs]
        self.layers = nn.ModuleDict()
        self.plan: list[tuple[int, str, tuple[int, ...]]] = []  # (node id, kind, inputs)
        for n in graph:
            if n.kind == "op":
                key = f"n{n.id}_{n.op}"
                shapes = [graph.node(i).shape for i in n.inputs]
                self.layers[key] = make_op(lib, n.op or "", shapes, dict(n.attrs), affine)
                self.plan.append((n.id, key, n.inputs))
            elif n.kind == "input":
                self.plan.append((n.id, "@input", ()))
            elif n.kind == "output":
                self.plan.append((n.id, "@output", n.inputs))
        self._inputs = list(graph.inputs)
        init_weights(self)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        vals: dict[int, torch.Tensor] = dict(zip(self._inputs, xs))
        outs: list[torch.Tensor] = []
        for nid, key, ins in self.plan:
            if key == "@input":
                continue
            if key == "@output":
                outs.append(vals[ins[0]])
                continue
            vals[nid] = self.layers[key](*[vals[i] for i in ins])
        return outs[0] if len(outs) == 1 else tuple(outs)

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        return tuple(torch.randn(batch, *s[1:]) for s in self.input_shapes)
