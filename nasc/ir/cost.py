"""The exact cost model on the IR: parameters, MACs and peak activation memory.

For a fully decided IR these are exact per-sample counts (batch 1, fp32
activations).  For a space, :func:`space_costs` reports each metric's minimum and
maximum over all architectures (exactly, by variable elimination; see
:mod:`nasc.ir.analysis`).  Peak memory is not additive, so a space reports it only
when it is fully decided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .analysis import bounds
from .graph import IRGraph, Node
from .ops import Cost, OpLibrary
from .space import SearchSpace
from .sym import Budget, extremes, lift

BYTES_PER_ELEMENT = 4  # fp32 activations


@dataclass(frozen=True)
class ArchCost:
    params: int
    macs: int
    peak_memory: int  # bytes, batch 1

    def as_dict(self) -> dict[str, int]:
        return {"params": self.params, "macs": self.macs, "peak_memory": self.peak_memory}


def lifted_cost(lib: OpLibrary, op: str, in_shapes: list[tuple[Any, ...]], attrs: dict[str, Any],
                budget: Budget | None = None) -> Any:
    """The :class:`Cost` of one op application; a Sym of Costs when it depends on decisions."""
    return lift(lambda sh, at: lib.cost(op, sh, at), in_shapes, attrs, budget=budget)


def node_cost(lib: OpLibrary, graph: IRGraph, node: Node) -> tuple[Any, Any]:
    """(params, macs) of one node; Syms when they depend on decisions."""
    if node.kind not in ("op", "param_choice") or node.op is None:
        return 0, 0
    cost = graph.costs.get(node.id)
    if cost is None:
        cost = lifted_cost(lib, node.op, [graph.node(i).shape for i in node.inputs], dict(node.attrs))
    params = lift(lambda c: c.params, cost)
    macs = lift(lambda c: c.macs, cost)
    return params, macs


def tensor_bytes(shape: tuple[Any, ...], budget: Budget | None = None) -> int:
    """The largest size in bytes (fp32, batch 1) of a tensor of this shape over every decision.

    The first dimension is the batch and counts as 1, symbolic dimensions too.
    """
    numel = lift(lambda s: _numel(s[1:]), shape, budget=budget)
    return extremes(numel)[1] * BYTES_PER_ELEMENT


def op_footprint(cost: Any, out_shape: tuple[Any, ...], budget: Budget | None = None) -> tuple[int, int]:
    """(parameter bytes, output bytes at batch 1) of one op application with this (lifted)
    cost, each the largest over every decision (what building the largest candidate would
    allocate), at fp32."""
    params = lift(lambda c: c.params, cost, budget=budget)
    return extremes(params)[1] * BYTES_PER_ELEMENT, tensor_bytes(out_shape, budget)


def space_costs(space: SearchSpace, lib: OpLibrary) -> dict[str, tuple[int, int]]:
    """Min and max of params and MACs over the space (exact)."""
    params: dict[int, Any] = {}
    macs: dict[int, Any] = {}
    for node in space.graph:
        p, m = node_cost(lib, space.graph, node)
        params[node.id] = p
        macs[node.id] = m
    return {"params": bounds(space, params), "macs": bounds(space, macs)}


def arch_cost(graph: IRGraph, lib: OpLibrary) -> ArchCost:
    """Exact costs of a fully decided IR (nodes that reach no output are not counted)."""
    if not graph.is_decided():
        raise ValueError("arch_cost needs a fully decided IR")
    live = graph.live()
    total = Cost()
    for node in graph:
        if node.id in live and node.kind == "op":
            total = total + lib.cost(node.op or "", [graph.node(i).shape for i in node.inputs], dict(node.attrs))
    return ArchCost(total.params, total.macs, peak_memory(graph, lib))


def _numel(shape: tuple[Any, ...]) -> int:
    return math.prod(d if isinstance(d, int) else 1 for d in shape)


def peak_memory(graph: IRGraph, lib: OpLibrary) -> int:
    """Peak bytes of live activations when executing in id order, composites expanded.

    A tensor is allocated when produced and freed after its last consumer; the
    peak is taken while an op runs (its inputs and its output are all live).
    Parameters are not activations and are not counted.
    """
    live_nodes = graph.live()
    # flatten to primitive steps: (tensor key, bytes, input keys)
    steps: list[tuple[Any, int, list[Any]]] = []
    alias: dict[int, Any] = {}
    for node in graph:
        if node.id not in live_nodes:
            continue
        if node.kind == "input":
            steps.append((("n", node.id), _numel(node.shape) * BYTES_PER_ELEMENT, []))
            alias[node.id] = ("n", node.id)
            continue
        if node.kind == "output":
            continue
        ins = [alias[i] for i in node.inputs]
        opdef = lib.get(node.op or "")
        if opdef.composite:
            exp = lib.expand(node.op or "", [graph.node(i).shape for i in node.inputs], dict(node.attrs))
            local: dict[int, Any] = {}
            for j, p in enumerate(exp.nodes):
                key: tuple[Any, ...] = ("e", node.id, j)
                pins = [ins[-1 - i] if i < 0 else local[i] for i in p.inputs]
                steps.append((key, _numel(p.shape) * BYTES_PER_ELEMENT, pins))
                local[j] = key
            alias[node.id] = ins[-1 - exp.output] if exp.output < 0 else local[exp.output]
        else:
            key = ("n", node.id)
            steps.append((key, _numel(node.shape) * BYTES_PER_ELEMENT, ins))
            alias[node.id] = key
    last_use: dict[Any, int] = {}
    for t, (_, _, ins) in enumerate(steps):
        for k in ins:
            last_use[k] = t
    keep_forever = {alias[graph.node(o).inputs[0]] for o in graph.outputs}
    size = {k: b for k, b, _ in steps}
    current = peak = 0
    for t, (key, nbytes, ins) in enumerate(steps):
        current += nbytes
        peak = max(peak, current)
        for k in set(ins):
            if last_use.get(k) == t and k not in keep_forever:
                current -= size[k]
        if key not in last_use and key not in keep_forever:
            current -= nbytes
    return peak
