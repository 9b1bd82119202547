"""``nasc opt`` as a library function: arch + weights + pipeline -> optimized model folder.

The stages, in order (each a function of its inputs):

1. parse the pipeline (first: a typo should not cost a dataset load);
2. load the arch, its experiment (:func:`nasc.experiment_choice.experiment_for`: ``--experiment``,
   else the ``# experiment:`` header ``nasc search`` writes, else the file's own) and the weights;
3. expand to primitives with the weights attached (:mod:`nasc.passes.from_arch`);
4. run the passes with the calibration data of the experiment's *training* split
   (the test split is only ever used for the accuracy report);
5. write ``ir.json``, ``weights.safetensors``, ``model.onnx`` (explicit casts and Q/DQ),
   ``calibration.npz`` (when int8 calibration used real data) and ``opt.json``;
6. report test accuracy before (ArchNet, torch fp32) and after (the deployed form: the
   ONNX model on ONNX Runtime when it can run it, else the torch executor).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..fsio import atomic_path, atomic_write
from ..weights import load_weights, save_weights
from .base import Calibration, Instrument, PassContext, PassRegistry, PipelineRun, parse_pipeline
from .optir import OptIR

OPT_FORMAT = "nasc-opt/1"


@dataclass(frozen=True)
class OptOutcome:
    ir: OptIR
    doc: dict[str, Any]
    out: Path


def _calibration(data: Any, input_name: str, seed: int, dataset: str) -> Calibration:
    from ..calibration import calibration_origin, calibration_sample

    return Calibration(lambda n: [{input_name: calibration_sample(data, n, seed)}], calibration_origin(dataset, seed))


def accuracy_torch(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / max(1, len(y))


def accuracy_onnx(path: Path, input_name: str, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    from ..backends.onnxruntime import make_session

    sess = make_session(path, threads=2)
    correct = 0
    for i in range(0, len(y), batch):
        out = sess.run(None, {input_name: x[i:i + batch].numpy()})[0]
        correct += int((np.argmax(out, 1) == y[i:i + batch].numpy()).sum())
    return correct / max(1, len(y))


@dataclass(frozen=True)
class Prepared:
    """What every pipeline run starts from: the arch's primitive IR with its weights, the
    reference network, and the experiment's data (None when it has none matching the input)."""

    arch_name: str
    ir: OptIR
    reference: torch.nn.Module
    state: dict[str, torch.Tensor]
    lib: Any
    cfg: dict[str, Any]
    experiment: str | None
    data: Any
    input_name: str
    calibration: Calibration | None
    single_input: bool


def prepare(arch_path: Path, weights: str | Path, *, experiment: str | None = None, overrides: Sequence[str] = (),
            space: str | None = None, loader: Any = None,
            config: tuple[dict[str, Any], str | None] | None = None) -> Prepared:
    """Load the arch, its weights and its experiment (``config``: an already resolved
    experiment and its reference, as ``nasc compile`` holds it, instead of ``experiment``)."""
    from .. import api
    from ..calibration import calibration_dataset
    from ..experiment_choice import experiment_for
    from ..lower.arch import ArchNet
    from .from_arch import from_arch

    compiled = api.load(arch_path, loader)
    arch = api.decided(compiled, space, "optimize")
    graph = arch.graph.prune()
    lib = compiled.loader.ops
    reference = ArchNet(graph, lib)
    state = load_weights(weights, expected=reference.state_dict(), model=f"arch '{arch.name}'")
    ir0 = from_arch(graph, lib, state, arch.name)
    if config is None:
        chosen = experiment_for(compiled, experiment, overrides)
        config = chosen.config, chosen.reference()
    cfg, exp_ref = config
    single = len(graph.inputs) == 1
    in_node = graph.node(graph.inputs[0])
    name = in_node.name or "x"
    data = calibration_dataset(cfg, in_node.shape[1:]) if exp_ref is not None and single else None
    calib = _calibration(data, name, int(cfg["seed"]), cfg["dataset"]) if data is not None else None
    return Prepared(arch.name, ir0, reference, state, lib, cfg, exp_ref, data, name, calib, single)


def optimize(arch_path: str | Path, weights: str | Path, pipeline: str, out_dir: str | Path, *,
             registry: PassRegistry | None = None, experiment: str | None = None, overrides: Sequence[str] = (),
             space: str | None = None, instruments: Sequence[Instrument] = (), loader: Any = None,
             evaluate: bool = True, config: tuple[dict[str, Any], str | None] | None = None) -> OptOutcome:
    """``config`` is an already resolved experiment and its reference (``nasc compile``), used
    instead of ``experiment`` and ``overrides``."""
    from .onnx_export import export_onnx
    from .registry import default_registry

    t0 = time.perf_counter()
    pipe = parse_pipeline(pipeline, registry or default_registry())
    arch_path = Path(arch_path)
    prep = prepare(arch_path, weights, experiment=experiment, overrides=overrides, space=space, loader=loader,
                   config=config)
    ir0, lib, data, calib, exp_ref, cfg = prep.ir, prep.lib, prep.data, prep.calibration, prep.experiment, prep.cfg
    seed = int(cfg["seed"])
    run: PipelineRun = pipe.run(ir0, PassContext(lib, calib, seed), instruments)
    ir = run.ir
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = _write(ir, out, calib if ir.act_quant else None)
    onnx_path = export_onnx(ir, out / "model.onnx")
    files["model.onnx"] = "the optimized model as ONNX: explicit casts and Q/DQ as annotated"
    doc: dict[str, Any] = {
        "format": OPT_FORMAT, "arch": prep.arch_name, "arch_file": str(arch_path), "weights": str(weights),
        "pipeline": pipe.text(), "passes": [r.to_json() for r in run.records],
        "timing": "pass seconds are wall clock (time.perf_counter) on this machine",
        "experiment": exp_ref, "kernels": len(ir.kernels) if ir.kernels is not None else None,
        "precision": _precision_counts(ir), "quantization": dict(ir.quant_config) if ir.quant_config else None,
        "files": files,
    }
    if evaluate and data is not None:
        doc.update(evaluate_accuracy(prep.reference, prep.state, ir, lib, data, prep.input_name, onnx_path))
        doc["dataset"] = cfg["dataset"]
    elif data is None:
        doc["accuracy_note"] = ("no accuracy: the arch has no experiment with a dataset matching its input"
                                if exp_ref is None or prep.single_input else "no accuracy: several inputs")
    doc["seconds"] = round(time.perf_counter() - t0, 3)
    atomic_write(out / "opt.json", json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return OptOutcome(ir, doc, out)


def evaluate_accuracy(reference: torch.nn.Module, state: dict[str, torch.Tensor], ir: OptIR, lib: Any, data: Any,
                      input_name: str, onnx_path: Path) -> dict[str, Any]:
    """Test accuracy before (ArchNet, fp32) and after: the deployed form -- the ONNX model on
    ONNX Runtime when ORT can run it, else the torch executor -- plus the torch executor's
    own figure (the fake-quant simulation for int8), so the two can be compared."""
    from .execute import OptNet

    reference.load_state_dict(state)
    x, y = data.test.x, data.test.y
    out: dict[str, Any] = {"test_samples": len(data.test), "accuracy_before": accuracy_torch(reference, x, y),
                           "accuracy_before_source": "ArchNet (the unoptimized reference), torch fp32",
                           "accuracy_after_torch": accuracy_torch(OptNet(ir, lib, simulate_quant=True), x, y)}
    if _ort_can_run(ir):
        import onnxruntime

        out["accuracy_after"] = accuracy_onnx(onnx_path, input_name, x, y)
        out["accuracy_after_source"] = f"model.onnx on ONNX Runtime {onnxruntime.__version__} (CPU)"
    else:
        out["accuracy_after"] = out["accuracy_after_torch"]
        out["accuracy_after_source"] = "torch executor of the annotated IR (ONNX Runtime has no CPU kernels for bf16)"
    return out


def _precision_counts(ir: OptIR) -> dict[str, int]:
    counts: dict[str, int] = {}
    for n in ir.ops():
        counts[ir.dtype(n.id)] = counts.get(ir.dtype(n.id), 0) + 1
    return dict(sorted(counts.items()))


def _ort_can_run(ir: OptIR) -> bool:
    return not any(ir.dtype(n.id) == "bf16" for n in ir.ops())


def _write(ir: OptIR, out: Path, calib: Calibration | None) -> dict[str, str]:
    atomic_write(out / "ir.json", ir.to_json_text())
    save_weights(out / "weights.safetensors", ir.tensors(), {"format": "nasc-opt-v1", "arch": ir.name})
    files = {"ir.json": "the annotated IR", "weights.safetensors": "tensors named in ir.json (n<id>.<param>)"}
    if calib is not None and ir.quant_config:
        n = int(ir.quant_config.get("calib_samples", 0))
        batch = calib.batches(n)[0]
        with atomic_path(out / "calibration.npz") as tmp, tmp.open("wb") as fh:
            np.savez(fh, **{k: v.numpy() for k, v in batch.items()})
        files["calibration.npz"] = f"the {n} calibration inputs ({calib.source}), for backends that calibrate"
    return files
