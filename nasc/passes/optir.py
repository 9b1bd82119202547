"""The optimization IR (``OptIR``): the annotated graph that optimization passes read and write.

How it differs from :class:`nasc.ir.graph.IRGraph` (the package :mod:`nasc.ir`, the
elaborated *search space*): an ``IRGraph`` holds decisions, composites and cost bounds and
renumbers its nodes on construction; an ``OptIR`` is one *decided* architecture expanded
to primitives with its trained weights attached (:mod:`nasc.passes.from_arch` builds it).
Passes delete nodes (a folded BN) and must keep every other node's id, because
annotations, golden dumps and error messages refer to ids.  So an ``OptIR`` is a tuple of
the same immutable :class:`~nasc.ir.graph.Node` records (primitives only, ids increasing
in a topological order, gaps allowed) plus side tables for what passes compute (their
value types are in :mod:`nasc.passes.side_tables`):

* ``origin``   -- node -> the ArchNet parameter prefix its weights came from
  (``layers.n6_sep_conv.ops.2``; see :mod:`nasc.passes.from_arch`);
* ``weights``  -- node -> float32 master tensors (``weight``, ``bias``, BN statistics);
* ``precision``-- node -> :class:`Precision` (dtype and the reason for it);
* ``kernels``  -- the kernel units of ``fuse`` (``None`` before fusion);
* ``act_quant``-- tensor (producing node id) -> :class:`QParams` where a Q/DQ pair sits;
* ``weight_quant`` -- node -> :class:`WeightQuant` (per-channel weight and int32 bias);
* ``notes``    -- node -> what a pass did to it (``folded bn %2``).

An ``OptIR`` is never mutated: a pass returns a new one (``dataclasses.replace``).
``dump()`` is deterministic text (golden files, ``--print-after-each``); ``to_json()``
is the ``ir.json`` document, and :func:`from_json` reads it back (with the tensors of
``weights.safetensors``) so an optimized model can be rebuilt without the ``.nas`` file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from ..ir.graph import Node, fmt_value
from .side_tables import VALUE_DTYPE, Kernel, Precision, QParams, WeightQuant
from .signature import kernel_pattern, kernel_signature, kernel_signature_key

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

FORMAT = "nasc-opt-ir/1"


@dataclass(frozen=True)
class OptIR:
    """One decided architecture as primitives with weights and pass annotations (immutable)."""

    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    origin: Mapping[int, str]
    weights: Mapping[int, Mapping[str, "torch.Tensor"]]
    precision: Mapping[int, Precision] = field(default_factory=dict)
    kernels: tuple[Kernel, ...] | None = None
    act_quant: Mapping[int, QParams] = field(default_factory=dict)
    weight_quant: Mapping[int, WeightQuant] = field(default_factory=dict)
    quant_config: Mapping[str, Any] | None = None
    notes: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    applied: tuple[str, ...] = ()  # canonical text of the passes applied so far

    # -- queries
    @cached_property
    def _by_id(self) -> dict[int, Node]:
        return {n.id: n for n in self.nodes}

    @cached_property
    def _consumers(self) -> dict[int, tuple[int, ...]]:
        out: dict[int, list[int]] = {n.id: [] for n in self.nodes}
        for n in self.nodes:
            for i in n.inputs:
                out[i].append(n.id)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def _kernel_of(self) -> dict[int, Kernel]:
        return {m: k for k in self.kernels or () for m in k.nodes}

    def node(self, nid: int) -> Node:
        return self._by_id[nid]

    def __contains__(self, nid: int) -> bool:
        return nid in self._by_id

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def ops(self) -> Iterator[Node]:
        return (n for n in self.nodes if n.kind == "op")

    def consumers(self, nid: int) -> tuple[int, ...]:
        """Consumer ids, once per use (a node reading a value twice appears twice)."""
        return self._consumers[nid]

    def kernel_of(self, nid: int) -> Kernel | None:
        return self._kernel_of.get(nid)

    def dtype(self, nid: int) -> str:
        p = self.precision.get(nid)
        return p.dtype if p else "fp32"

    def in_shapes(self, node: Node) -> list[tuple[Any, ...]]:
        return [self.node(i).shape for i in node.inputs]

    def next_id(self) -> int:
        return max(n.id for n in self.nodes) + 1

    def evolve(self, **changes: Any) -> "OptIR":
        """A new IR with some fields replaced (cached views are recomputed)."""
        return replace(self, **changes)

    # -- printing
    def dump(self) -> str:
        """Deterministic text: one line per node, then one per kernel unit."""
        head = f"# {self.name}" + (f"  passes: {', '.join(self.applied)}" if self.applied else "  passes: (none)")
        lines = [head]
        if self.quant_config:
            cfg = ", ".join(f"{k}={fmt_value(v)}" for k, v in sorted(self.quant_config.items())
                            if k not in ("calibration", "reduce_range_reason"))
            lines.append(f"# quantization: {cfg}")
        for n in self.nodes:
            lines.append(self._dump_node(n))
        for k in self.kernels or ():
            members = ", ".join(f"%{m}" for m in k.nodes)
            lines.append(f"kernel k{k.id} {k.rule} [{members}] {kernel_pattern(self, k)} : "
                         f"{self.dtype(k.output)}  key={kernel_signature_key(self, k)}")
        return "\n".join(lines) + "\n"

    def _dump_node(self, n: Node) -> str:
        shape = _fmt_shape(n.shape, VALUE_DTYPE[self.dtype(n.id)])
        if n.kind == "input":
            body = f"%{n.id} = input {n.name} : {shape}"
        elif n.kind == "output":
            body = f"%{n.id} = output {n.name} (%{n.inputs[0]})"
        else:
            attrs = ", ".join(f"{k}={fmt_value(v)}" for k, v in n.attrs)
            ins = ", ".join(f"%{i}" for i in n.inputs)
            body = f"%{n.id} = {n.op}{f'({attrs})' if attrs else ''} ({ins}) : {shape}"
        extra: list[str] = []
        p = self.precision.get(n.id)
        if p is not None:
            extra.append(p.dtype + (f' "{p.reason}"' if p.reason else ""))
        k = self.kernel_of(n.id)
        if k is not None:
            extra.append(f"k{k.id}")
        q = self.act_quant.get(n.id)
        if q is not None:
            extra.append(f"q={q.short()}")
        wq = self.weight_quant.get(n.id)
        if wq is not None:
            extra.append(f"w={wq.weight.short()}" + (f" b={wq.bias.dtype}" if wq.bias else ""))
        for note in self.notes.get(n.id, ()):
            extra.append(note)
        if n.id in self.origin:
            extra.append(f"@{self.origin[n.id]}")
        return body + ("  {" + "; ".join(extra) + "}" if extra else "")

    # -- serialisation
    def tensor_name(self, nid: int, key: str) -> str:
        return f"n{nid}.{key}"

    def to_json(self) -> dict[str, Any]:
        """The ``ir.json`` document (sorted keys, no floats but scales and ranges)."""
        nodes = []
        for n in self.nodes:
            d: dict[str, Any] = {"id": n.id, "kind": n.kind, "inputs": list(n.inputs), "shape": list(n.shape)}
            if n.op:
                d["op"] = n.op
                d["attrs"] = [[k, v] for k, v in n.attrs]
            if n.name:
                d["name"] = n.name
            if n.id in self.origin:
                d["origin"] = self.origin[n.id]
            if n.id in self.precision:
                d["precision"] = {"dtype": self.precision[n.id].dtype, "reason": self.precision[n.id].reason}
            if n.id in self.weights:
                d["weights"] = {k: {"tensor": self.tensor_name(n.id, k), "shape": list(t.shape),
                                    "dtype": str(t.dtype).replace("torch.", "")}
                                for k, t in sorted(self.weights[n.id].items())}
            k = self.kernel_of(n.id)
            if k is not None:
                d["kernel"] = k.id
            if n.id in self.act_quant:
                d["act_quant"] = self.act_quant[n.id].to_json()
            if n.id in self.weight_quant:
                d["weight_quant"] = self.weight_quant[n.id].to_json()
            if self.notes.get(n.id):
                d["notes"] = list(self.notes[n.id])
            nodes.append(d)
        kernels = None
        if self.kernels is not None:
            kernels = [{"id": k.id, "rule": k.rule, "nodes": list(k.nodes), "pattern": kernel_pattern(self, k),
                        "precision": self.dtype(k.output), "signature": kernel_signature(self, k),
                        "key": kernel_signature_key(self, k)} for k in self.kernels]
        return {"format": FORMAT, "name": self.name, "passes": list(self.applied), "inputs": list(self.inputs),
                "outputs": list(self.outputs), "nodes": nodes, "kernels": kernels,
                "quantization": dict(self.quant_config) if self.quant_config else None}

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n"

    def tensors(self) -> dict[str, "torch.Tensor"]:
        """Every tensor of ``weights.safetensors``: float32 masters, plus the int8 weights and
        int32 biases that ``quantize`` derived (so a runtime can use them without recomputing)."""
        from .quant_math import quantized_bias, quantized_weight  # torch: loaded only when tensors are written

        out: dict[str, torch.Tensor] = {}
        for nid, ws in self.weights.items():
            for k, t in ws.items():
                out[self.tensor_name(nid, k)] = t.contiguous()
        for nid, wq in self.weight_quant.items():
            out[self.tensor_name(nid, "weight.int8")] = quantized_weight(self.weights[nid]["weight"], wq.weight)
            if wq.bias is not None and "bias" in self.weights[nid]:
                out[self.tensor_name(nid, "bias.int32")] = quantized_bias(self.weights[nid]["bias"], wq.bias)
        return out


def _fmt_shape(shape: tuple[Any, ...], dtype: str) -> str:
    return dtype + "[" + ", ".join(str(d) for d in shape) + "]"


def from_json(doc: Mapping[str, Any], tensors: Mapping[str, "torch.Tensor"]) -> OptIR:
    """Rebuild an :class:`OptIR` from ``ir.json`` and the tensors of ``weights.safetensors``."""
    from ..errors import NascError

    if doc.get("format") != FORMAT:
        raise NascError(f"not a nasc optimized IR (format {doc.get('format')!r}, expected {FORMAT!r})")
    nodes: list[Node] = []
    origin: dict[int, str] = {}
    weights: dict[int, dict[str, Any]] = {}
    precision: dict[int, Precision] = {}
    act_quant: dict[int, QParams] = {}
    weight_quant: dict[int, WeightQuant] = {}
    notes: dict[int, tuple[str, ...]] = {}
    for d in doc["nodes"]:
        nid = int(d["id"])
        attrs = tuple((k, v) for k, v in d.get("attrs", []))
        nodes.append(Node(nid, d["kind"], d.get("op"), attrs, tuple(d["inputs"]), tuple(d["shape"]),
                          name=d.get("name")))
        if "origin" in d:
            origin[nid] = d["origin"]
        if "weights" in d:
            try:
                weights[nid] = {k: tensors[v["tensor"]] for k, v in d["weights"].items()}
            except KeyError as e:
                raise NascError(f"weights file lacks tensor {e.args[0]} that ir.json names") from None
        if "precision" in d:
            precision[nid] = Precision(d["precision"]["dtype"], d["precision"].get("reason", ""))
        if "act_quant" in d:
            act_quant[nid] = QParams.from_json(d["act_quant"])
        if "weight_quant" in d:
            weight_quant[nid] = WeightQuant.from_json(d["weight_quant"])
        if d.get("notes"):
            notes[nid] = tuple(d["notes"])
    kernels = None
    if doc.get("kernels") is not None:
        kernels = tuple(Kernel(int(k["id"]), k["rule"], tuple(k["nodes"])) for k in doc["kernels"])
    return OptIR(doc["name"], tuple(nodes), tuple(doc["inputs"]), tuple(doc["outputs"]), origin, weights,
                 precision, kernels, act_quant, weight_quant, doc.get("quantization"), notes, tuple(doc["passes"]))
