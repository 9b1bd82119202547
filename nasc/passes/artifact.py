"""Reading an optimized-model folder back: what ``nasc build --from DIR`` hands to the backends.

``build_module(DIR)`` returns the torch module of the annotated IR, named example inputs,
output names and a :class:`PrecisionInfo` saying how to ask a backend for it:

* mixed fp16/bf16: the module *carries its casts* (fp16 weights, casts at precision
  boundaries), so a backend that exports it (ONNX Runtime, TensorRT via ONNX) honours the
  per-node precision as is; ask it for ``fp32`` (asking TVM for ``fp16`` would run
  ToMixedPrecision over the nodes kept in fp32 too).  TVM 0.27's torch frontend cannot
  import fp16 convs with a bias (``PrecisionInfo.notes`` says what to do instead);
* int8: by default the module is the float model (folded, unquantized), and
  ``build_precision`` is ``int8`` with the calibration inputs the pass used, so a
  backend's own int8 flow (ORT ``quantize_static``, TensorRT) calibrates on the same
  data; ``PrecisionInfo.onnx`` is our explicit-Q/DQ model with the pass's parameters,
  which ORT and TensorRT can also run directly.  ``simulate_quant=True`` gives the
  fake-quant module instead (the accuracy the Q/DQ model has, in torch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from ..errors import NascError
from .optir import OptIR, from_json


@dataclass(frozen=True)
class PrecisionInfo:
    build_precision: str  # what to pass as BuildOptions.precision
    summary: str
    node_precision: Mapping[str, int]
    onnx: Path | None
    calibration: tuple[dict[str, np.ndarray], ...] | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()


class BuiltModule(NamedTuple):
    module: Any  # torch.nn.Module (OptNet)
    example_inputs: dict[str, np.ndarray]
    output_names: tuple[str, ...]
    precision: PrecisionInfo


def load_opt(opt_dir: str | Path) -> OptIR:
    from ..weights import load_weights

    d = Path(opt_dir)
    for f in ("ir.json", "weights.safetensors"):
        if not (d / f).is_file():
            raise NascError(f"{d} is not an optimized model folder (no {f}); make one with nasc opt")
    return from_json(json.loads((d / "ir.json").read_text()), load_weights(d / "weights.safetensors"))


def build_module(opt_dir: str | Path, *, simulate_quant: bool = False, batch: int = 1,
                 seed: int = 0) -> BuiltModule:
    from ..ir.ops import builtin_library
    from .execute import OptNet

    d = Path(opt_dir)
    ir = load_opt(d)
    lib = builtin_library()  # an OptIR holds builtin primitives only (custom ops are refused by nasc opt)
    net = OptNet(ir, lib, simulate_quant=simulate_quant)
    rng = np.random.default_rng(seed)
    examples = {name: rng.standard_normal((batch, *shape[1:])).astype(np.float32)
                for name, shape in zip(net.input_names, net.input_shapes)}
    return BuiltModule(net, examples, tuple(net.output_names), precision_info(ir, d, simulate_quant))


def precision_info(ir: OptIR, d: Path, simulate_quant: bool) -> PrecisionInfo:
    counts: dict[str, int] = {}
    for n in ir.ops():
        counts[ir.dtype(n.id)] = counts.get(ir.dtype(n.id), 0) + 1
    onnx_path = d / "model.onnx" if (d / "model.onnx").is_file() else None
    if ir.act_quant:
        calib = None
        if (d / "calibration.npz").is_file():
            with np.load(d / "calibration.npz") as f:
                arrays = {k: f[k] for k in f.files}
            count = len(next(iter(arrays.values())))
            calib = tuple({k: v[i:i + 1] for k, v in arrays.items()} for i in range(count))
        mode = "fake-quant simulation" if simulate_quant else "float (unquantized) for the backend's int8 flow"
        notes = ("model.onnx is explicit Q/DQ with nasc's parameters; ORT/TensorRT can run it as is",)
        return PrecisionInfo("int8", f"int8 ({counts.get('int8', 0)} int8 nodes; module: {mode})",
                             dict(sorted(counts.items())), onnx_path, calib, notes)
    low = {k: v for k, v in counts.items() if k in ("fp16", "bf16")}
    if low:
        kept = counts.get("fp32", 0)
        summary = ", ".join(f"{v} {k}" for k, v in sorted(low.items())) + f", {kept} fp32"
        return PrecisionInfo("fp32", f"mixed precision ({summary}); casts are inside the module",
                             dict(sorted(counts.items())), onnx_path,
                             notes=("build with precision fp32: the module already runs its nodes in the "
                                    "annotated precision (ONNX Runtime: checked, casts at the boundaries)",
                                    "TVM 0.27 cannot import it: its torch frontend gives conv2d out_dtype float32 "
                                    "and then fails on the fp16 bias add; for TVM build the fp32 module with "
                                    "precision fp16 (ToMixedPrecision on every node) until the TVM backend "
                                    "converts conv2d in the input dtype"))
    return PrecisionInfo("fp32", "fp32", dict(sorted(counts.items())), onnx_path)
