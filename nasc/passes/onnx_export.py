"""OptIR -> ONNX, honouring every annotation: folded weights, per-node precision, explicit Q/DQ.

Why an emitter of our own rather than ``torch.onnx.export`` of the executor: the int8
model must be *explicit* QDQ with the parameters the quantize pass computed, and ONNX
Runtime only turns ``DQ -> Conv -> Q`` into an int8 QLinearConv when the bias is an int32
DequantizeLinear (a float bias from a traced fake-quant module leaves the conv in float).
The IR is primitives with static attributes, so each maps to one or two ONNX ops:

* precision -- initializers are stored in the node's dtype and ``Cast`` nodes sit where
  a value crosses a precision boundary (graph inputs and outputs stay float32);
* quantization -- a value with ``act_quant`` is followed by QuantizeLinear/DequantizeLinear
  and every consumer reads the dequantized value; int8 weights are int8 initializers
  behind a per-channel DequantizeLinear (axis 0), biases int32 behind one.

Opset 17 (what the backends export), or 22 when a node is bf16 (ONNX added bf16 to Conv,
pools and activations in opset 22).  The batch dimension stays symbolic (``B``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from ..ir.graph import Node
from .from_arch import bn_eps
from .optir import OptIR
from .quant_math import quantized_bias, quantized_weight
from .side_tables import QParams

OPSET = 17
OPSET_BF16 = 22
ELEM = {"fp32": TensorProto.FLOAT, "fp16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16,
        "int8": TensorProto.FLOAT}
QTYPE = {"u8": TensorProto.UINT8, "s8": TensorProto.INT8, "s32": TensorProto.INT32}
NP_Q = {"u8": np.uint8, "s8": np.int8, "s32": np.int32}
BIG = 2**62


class _Emitter:
    def __init__(self, ir: OptIR) -> None:
        self.ir = ir
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.value: dict[int, tuple[str, int]] = {}  # node id -> (float value name, elem type)
        self.qvalue: dict[int, tuple[str, str, str]] = {}  # node id -> (quantized name, scale, zero point)
        self.casts: dict[tuple[str, int], str] = {}
        self.uid = 0

    # -- helpers
    def fresh(self, base: str) -> str:
        self.uid += 1
        return f"{base}_{self.uid}"

    def node(self, op: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        out = output or self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op}_{out}", **attrs))
        return out

    def const(self, name: str, value: torch.Tensor | np.ndarray, elem: int) -> str:
        t = torch.as_tensor(value)
        if elem == TensorProto.BFLOAT16:
            raw = t.to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()
            self.inits.append(helper.make_tensor(name, elem, list(t.shape), raw, raw=True))
            return name
        np_types: dict[int, Any] = {TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16, TensorProto.INT8: np.int8,
                    TensorProto.UINT8: np.uint8, TensorProto.INT32: np.int32, TensorProto.INT64: np.int64}
        np_dtype = np_types[elem]
        # np.array, not np.ascontiguousarray: the latter turns a 0-d scale into shape [1], and ORT
        # fuses Q/DQ around Add/Mul only with scalar scales and zero points
        self.inits.append(numpy_helper.from_array(np.array(t.numpy(), dtype=np_dtype), name))
        return name

    def cast(self, name: str, have: int, want: int) -> str:
        if have == want:
            return name
        key = (name, want)
        if key not in self.casts:
            self.casts[key] = self.node("Cast", [name], f"{name}_as{want}", to=want)
        return self.casts[key]

    def use(self, nid: int, want: int) -> str:
        """The value of ``nid`` for one consumer: a dedicated DequantizeLinear when it is quantized
        (ORT fuses ``DQ -> op -> Q`` into an int8 kernel only if each DQ feeds one node)."""
        if nid in self.qvalue:
            qn, s, z = self.qvalue[nid]
            self.uid += 1
            dq = self.node("DequantizeLinear", [qn, s, z], f"{qn}_dq{self.uid}")
            return self.cast(dq, TensorProto.FLOAT, want)
        name, elem = self.value[nid]
        return self.cast(name, elem, want)

    def quantize(self, name: str, elem: int, q: QParams, base: str) -> tuple[str, str, str]:
        """QuantizeLinear of a float value: (quantized name, scale, zero point)."""
        x = self.cast(name, elem, TensorProto.FLOAT)
        s = self.const(f"{base}.scale", torch.tensor(q.scale[0], dtype=torch.float32), TensorProto.FLOAT)
        z = self.const(f"{base}.zero_point", np.array(q.zero_point[0], dtype=NP_Q[q.dtype]), QTYPE[q.dtype])
        return self.node("QuantizeLinear", [x, s, z], f"{base}_q"), s, z

    def param(self, n: Node, key: str, elem: int) -> str:
        """A weight or bias input: DQ of the int8/int32 tensor when quantized, else a plain initializer."""
        t = self.ir.weights[n.id][key]
        wq = self.ir.weight_quant.get(n.id)
        base = self.ir.tensor_name(n.id, key)
        if wq is not None and key in ("weight", "bias") and (key == "weight" or wq.bias is not None):
            q = wq.weight if key == "weight" else wq.bias
            assert q is not None
            data = quantized_weight(t, q) if key == "weight" else quantized_bias(t, q)
            qi = self.const(f"{base}.q", data, QTYPE[q.dtype])
            per_channel = len(q.scale) > 1
            scale = torch.tensor(q.scale if per_channel else q.scale[0], dtype=torch.float32)
            zero = np.zeros(len(q.scale), dtype=NP_Q[q.dtype]) if per_channel else np.array(0, dtype=NP_Q[q.dtype])
            s = self.const(f"{base}.scale", scale, TensorProto.FLOAT)
            z = self.const(f"{base}.zero_point", zero, QTYPE[q.dtype])
            attrs = {"axis": 0} if per_channel else {}
            return self.node("DequantizeLinear", [qi, s, z], f"{base}_dq", **attrs)
        return self.const(base, t, elem)

    # -- ops
    def emit(self, n: Node) -> None:
        src = n.inputs[0] if n.inputs else None
        if n.op in ("skip", "dropout", "flatten") and src in self.qvalue and n.id not in self.ir.act_quant:
            qn, s, z = self.qvalue[src]  # pass the int8 value through, so the consumer still sees a DQ
            if n.op == "flatten":
                qn = self.node("Flatten", [qn], f"t{n.id}_q", axis=1)
            self.qvalue[n.id] = (qn, s, z)
            return
        elem = ELEM[self.ir.dtype(n.id)]
        xs = [self.use(i, elem) for i in n.inputs]
        a = n.attr
        out = f"t{n.id}"
        q = self.ir.act_quant.get(n.id)
        op = n.op
        if op in ("conv", "dwconv"):
            cin = self.ir.node(n.inputs[0]).shape[1]
            k, st, d = a["k"], a["stride"], a["dilation"]
            p = d * (k - 1) // 2
            ins = [xs[0], self.param(n, "weight", elem)] + ([self.param(n, "bias", elem)] if a["bias"] else [])
            self.node("Conv", ins, out, kernel_shape=[k, k], strides=[st, st], pads=[p, p, p, p],
                      dilations=[d, d], group=cin if op == "dwconv" else a["groups"])
        elif op == "linear":
            ins = [xs[0], self.param(n, "weight", elem)] + ([self.param(n, "bias", elem)] if a["bias"] else [])
            self.node("Gemm", ins, out, transB=1)
        elif op == "bn":
            c = self.ir.node(n.inputs[0]).shape[1]
            ws = self.ir.weights[n.id]
            base = f"n{n.id}"
            scale = self.const(f"{base}.weight", ws.get("weight", torch.ones(c)), elem)
            bias = self.const(f"{base}.bias", ws.get("bias", torch.zeros(c)), elem)
            mean = self.const(f"{base}.running_mean", ws["running_mean"], elem)
            var = self.const(f"{base}.running_var", ws["running_var"], elem)
            self.node("BatchNormalization", [xs[0], scale, bias, mean, var], out, epsilon=bn_eps())
        elif op == "relu":
            self.node("Relu", xs, out)
        elif op == "relu6":
            lo = self.const(f"n{n.id}.min", torch.tensor(0.0), elem)
            hi = self.const(f"n{n.id}.max", torch.tensor(6.0), elem)
            self.node("Clip", [xs[0], lo, hi], out)
        elif op == "hswish":
            self.node("HardSwish", xs, out)
        elif op == "hsigmoid":
            self.node("HardSigmoid", xs, out, alpha=1.0 / 6.0, beta=0.5)
        elif op == "sigmoid":
            self.node("Sigmoid", xs, out)
        elif op in ("avg_pool", "max_pool"):
            k, st = a["k"], a["stride"]
            p = (k - 1) // 2
            if op == "avg_pool":
                self.node("AveragePool", xs, out, kernel_shape=[k, k], strides=[st, st], pads=[p, p, p, p],
                          count_include_pad=0)
            else:
                self.node("MaxPool", xs, out, kernel_shape=[k, k], strides=[st, st], pads=[p, p, p, p])
        elif op == "gap":
            pooled = self.node("GlobalAveragePool", xs, out if a["keepdim"] else f"t{n.id}_pooled")
            if not a["keepdim"]:
                if q is not None:  # Q right after the pool (ORT needs DQ -> GAP -> Q), again after Flatten
                    qn, s, z = self.quantize(pooled, elem, q, f"t{n.id}_pooled")
                    pooled = self.node("DequantizeLinear", [qn, s, z], f"t{n.id}_pooled_dq")
                    elem = TensorProto.FLOAT
                self.node("Flatten", [pooled], out, axis=1)
        elif op in ("flatten",):
            self.node("Flatten", xs, out, axis=1)
        elif op in ("skip", "dropout"):
            self.node("Identity", xs, out)
        elif op == "add":
            acc = xs[0]
            for i, x in enumerate(xs[1:]):
                acc = self.node("Add", [acc, x], out if i == len(xs) - 2 else None)
            if len(xs) == 1:
                self.node("Identity", xs, out)
        elif op == "mean":
            s = self.node("Sum", xs)
            self.node("Mul", [s, self.const(f"n{n.id}.inv_n", torch.tensor(1.0 / len(xs)), elem)], out)
        elif op == "mul":
            self.node("Mul", xs, out)
        elif op == "concat":
            self.node("Concat", xs, out, axis=1)
        elif op == "zero":
            x = xs[0]
            if a["stride"] > 1:
                x = self._slice(n, x, 0, a["stride"])
            self.node("Mul", [x, self.const(f"n{n.id}.zero", torch.tensor(0.0), elem)], out)
        elif op == "crop":
            self._slice(n, xs[0], a["offset"], 1, out)
        else:
            raise NotImplementedError(f"no ONNX lowering for op '{op}'")
        self.value[n.id] = (out, elem)
        if q is not None:
            self.qvalue[n.id] = self.quantize(out, elem, q, f"t{n.id}")

    def _slice(self, n: Node, x: str, start: int, step: int, out: str | None = None) -> str:
        base = f"n{n.id}.slice"
        starts = self.const(f"{base}.starts", np.array([start, start], dtype=np.int64), TensorProto.INT64)
        ends = self.const(f"{base}.ends", np.array([BIG, BIG], dtype=np.int64), TensorProto.INT64)
        axes = self.const(f"{base}.axes", np.array([2, 3], dtype=np.int64), TensorProto.INT64)
        steps = self.const(f"{base}.steps", np.array([step, step], dtype=np.int64), TensorProto.INT64)
        return self.node("Slice", [x, starts, ends, axes, steps], out)


def _dims(shape: tuple[Any, ...]) -> list[int | str]:
    return [d if isinstance(d, int) else str(d) for d in shape]


def build_onnx(ir: OptIR) -> onnx.ModelProto:
    e = _Emitter(ir)
    inputs = []
    for nid in ir.inputs:
        n = ir.node(nid)
        name = n.name or f"in{nid}"
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, _dims(n.shape)))
        e.value[nid] = (name, TensorProto.FLOAT)
        q = ir.act_quant.get(nid)
        if q is not None:
            e.qvalue[nid] = e.quantize(name, TensorProto.FLOAT, q, f"{name}_in")
    for n in ir.ops():
        e.emit(n)
    outputs = []
    for oid in ir.outputs:
        o = ir.node(oid)
        name = o.name or f"out{oid}"
        e.node("Identity", [e.use(o.inputs[0], TensorProto.FLOAT)], name)
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, _dims(o.shape)))
    opset = OPSET_BF16 if any(ir.dtype(n.id) == "bf16" for n in ir.ops()) else OPSET
    graph = helper.make_graph(e.nodes, ir.name, inputs, outputs, e.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="nasc-opt", producer_version="1")
    model.ir_version = min(model.ir_version, 10)  # readable by onnxruntime 1.32
    return model


def export_onnx(ir: OptIR, path: Path | str) -> Path:
    path = Path(path)
    model = build_onnx(ir)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
