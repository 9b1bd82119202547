"""Arch -> deployable artifact: the reference module, weights, example inputs, then a backend build.

This is the bridge between the frontend (an ``arch`` file, optional trained
weights) and ``nasc.backends`` (which only knows torch modules).  Without
weights the module is initialized from a seed, and the manifest says so; int8
builds calibrate on a seeded random sample of the arch's experiment's training split when it
has one (:mod:`nasc.calibration`, the sampler ``nasc opt`` uses too).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .api import Compiled, decided
from .latency.kernel_plan import arch_plan
from .lower.arch import ArchNet
from .lower.inputs import example_inputs


def reference_module(compiled: Compiled, name: str | None = None, weights: Path | None = None,
                     seed: int = 0) -> ArchNet:
    arch = decided(compiled, name, "build")
    torch.manual_seed(seed)
    net = ArchNet(arch.graph.prune(), compiled.loader.ops)
    if weights is not None:
        from .weights import load_weights

        net.load_state_dict(load_weights(weights, expected=net.state_dict(), model=f"arch '{arch.name}'"))
    return net.eval()


def calibration_batches(compiled: Compiled, net: ArchNet, samples: int,
                        seed: int) -> tuple[list[dict[str, np.ndarray]], str] | None:
    """Real int8 calibration inputs of the arch's experiment, one sample per batch (the
    artifact's batch size), and where they came from; None when the arch has no experiment or
    its data does not fit the arch's input (the backend then calibrates on labelled random data)."""
    from .calibration import calibration_dataset, calibration_origin, calibration_sample
    from .experiment_choice import experiment_for

    chosen = experiment_for(compiled)
    if chosen.reference() is None or len(net.input_names) != 1:
        return None
    cfg = chosen.config
    data = calibration_dataset(cfg, net.input_shapes[0][1:])
    if data is None:
        return None
    x = calibration_sample(data, samples, seed).numpy()
    name = net.input_names[0]
    return [{name: x[i:i + 1]} for i in range(len(x))], calibration_origin(cfg["dataset"], seed)


def build_arch(compiled: Compiled, out: Path, *, target: str = "cpu", backend: str = "auto",
               weights: Path | None = None, precision: str = "fp32", seed: int = 0, tune_trials: int = 0,
               batch: int = 1, repeats: int = 30, name: str | None = None, tuning_database: bool = True,
               tune_device_key: str | None = None) -> Any:
    """Build the arch of ``compiled`` (seeded initialization unless ``weights``); TVM applies
    the target's tuning database (``tune_device_key``: that RPC device's, not this host's)."""
    import nasc.backends as nb
    from nasc.backends import BuildOptions, MeasureProtocol

    net = reference_module(compiled, name, weights, seed)
    inputs = example_inputs(net, batch, seed)
    calib = calibration_batches(compiled, net, 64, seed) if precision == "int8" else None
    batches, origin = calib if calib is not None else (None, "")
    options = BuildOptions(precision=precision, seed=seed,
                           weights=str(weights) if weights else f"random initialization (seed {seed})",
                           output_names=tuple(net.output_names), tune_trials=tune_trials,
                           tuning_database=tuning_database, tune_device_key=tune_device_key, calibration=batches,
                           calibration_origin=origin,
                           kernel_plan=arch_plan(decided(compiled, name, "build").graph.prune(), compiled.loader.ops,
                                                 net, precision, batch, seed))
    return nb.build(net, inputs, out_dir=out, target=target, backend=backend, options=options,
                    protocol=MeasureProtocol(repeats=repeats))


def build_optimized(opt_dir: Path, out: Path, *, target: str = "cpu", backend: str = "auto", seed: int = 0,
                    tune_trials: int = 0, batch: int = 1, repeats: int = 30, tuning_database: bool = True,
                    tune_device_key: str | None = None) -> Any:
    """Build the output of `nasc opt` (folded, fused, precision-annotated, maybe quantized IR).

    For a GPU target with ``backend="auto"`` every form is built (:mod:`nasc.backends.bundle`:
    TensorRT from the ONNX model, Q/DQ for int8, and TVM, which has no int8 and builds the
    float model at fp16 then); a named backend builds that form alone.  ``tune_device_key``: TVM
    applies that RPC device's tuning database instead of this host's."""
    import nasc.backends as nb
    from nasc.backends import BuildOptions, MeasureProtocol, get_target

    from .ir.ops import builtin_library
    from .latency.kernel_plan import opt_kernel_plan
    from .passes.artifact import build_module, load_opt

    built = build_module(opt_dir, batch=batch, seed=seed)
    info = built.precision
    options = BuildOptions(precision=info.build_precision, seed=seed, weights=f"nasc opt output {opt_dir}",
                           output_names=tuple(built.output_names), tune_trials=tune_trials,
                           tuning_database=tuning_database, tune_device_key=tune_device_key,
                           calibration=list(info.calibration) if info.calibration else None,
                           calibration_origin=f"the calibration inputs nasc opt saved in {opt_dir / 'calibration.npz'}"
                           if info.calibration else "",
                           kernel_plan=partial(opt_kernel_plan, load_opt(opt_dir), builtin_library(), batch, seed),
                           extra={"from": str(opt_dir), "node_precision": dict(info.node_precision),
                                  **_qdq_extra(opt_dir, info),
                                  # mixed fp16/bf16: backends that import ONNX keep the per-node casts
                                  **({"onnx_model": str(info.onnx)} if info.onnx is not None and
                                     set(info.node_precision) - {"fp32", "int8"} else {})})
    tgt = get_target(target)
    if backend == "auto" and tgt.kind != "cpu":
        from nasc.backends.bundle import build_bundle

        return build_bundle(built.module.eval(), built.example_inputs, tgt, gpu_forms(options), out,
                            options.precision)
    return nb.build(built.module.eval(), built.example_inputs, out_dir=out, target=target, backend=backend,
                    options=options, protocol=MeasureProtocol(repeats=repeats))


def gpu_forms(options: Any) -> list[Any]:
    """The forms of a GPU build: TensorRT as asked, TVM as asked or, for int8 (which TVM cannot
    compile), the float model at fp16 -- Jetson GPUs run fp16 natively; the form's note says so."""
    from dataclasses import replace

    from nasc.backends.bundle import Form

    counts = dict(options.extra.get("node_precision") or {})
    mixed = ("per-node mixed precision from the passes (" + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
             + " nodes): built as fp32 with the casts in the model, so each node runs as annotated"
             if set(counts) & {"fp16", "bf16"} else "")
    tvm = Form("tvm", options, mixed)
    if options.precision == "int8":
        tvm = Form("tvm", replace(options, precision="fp16", calibration=None, calibration_origin=""),
                   "TVM has no int8: this form is the folded float model at fp16 (ToMixedPrecision); the "
                   "int8 model is the TensorRT form's model.onnx")
    return [Form("tensorrt", options, mixed), tvm]


def _qdq_extra(opt_dir: Path, info: Any) -> dict[str, Any]:
    """For an int8 opt output: its explicit-Q/DQ ``model.onnx``, which ONNX Runtime and TensorRT
    builds ship as is (the quantization the pass chose and its accuracy was measured on)."""
    import json

    from .backends.onnxruntime.quantize import QDQ_KEY

    if info.build_precision != "int8" or info.onnx is None:
        return {}
    config = json.loads((opt_dir / "ir.json").read_text()).get("quantization") or {}
    return {QDQ_KEY: {"path": str(info.onnx), "activations": str(config.get("activations", "")),
                      "origin": f"nasc quantize pass ({config.get('activations', '')} activations, "
                                f"{config.get('weights', '')} weights; {config.get('calibration', '')}), "
                                f"{info.onnx}"}}
