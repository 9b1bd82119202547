"""The compiled artifact's test accuracy, measured by running it, and the tolerance check.

Why the artifact and not the IR: the passes are checked where they end up.  Folding, fusing
and quantizing are simulated exactly by the torch executor, but the backend's own graph
rewrites, kernels and rounding are not, and they are what ships.  So on ``cpu`` the artifact
runs with its own runtime (:func:`nasc.backends.load_runner`: one load, one test sample per
call at the batch size it was built for); a target that is not this machine cannot run here,
and ONNX Runtime on the artifact's ``model.onnx`` (the int8 Q/DQ model TensorRT builds its
engine from) stands in, which the report says.  The stand-in runs the graph as written
(graph optimizations off): each DequantizeLinear, float kernel and QuantizeLinear in turn, the
arithmetic TensorRT's int8 engine computes up to float rounding.  Optimized, ONNX Runtime
would fuse them into its x86 integer kernels, which on CPUs without VNNI saturate 8-bit
weights (measured on an AVX2 host: a digits model TensorRT-quantized at 87.8% in the torch
simulation scored 65.0% so), a fault of this host's stand-in and not of the artifact.  When the drop from the retrained fp32 model
exceeds the experiment's ``accuracy_tolerance`` the compile fails, naming the first pass
after which the torch executor's accuracy falls below the floor (:mod:`nasc.passes.blame`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .errors import NascError

FP32_SOURCE = "the retrained model (ArchNet, torch fp32), as nasc train reports it"


class AccuracyLoss(NascError):
    """The passes cost more test accuracy than the experiment's tolerance allows."""


def artifact_accuracy(adir: Path, target: str, cfg: Mapping[str, Any], opt_dir: Path) -> dict[str, Any]:
    """``{"accuracy", "source", "test_samples"}`` of the artifact in ``adir`` on the test split
    (``opt_dir``: the passes' output it was built from, for an artifact without an ONNX model)."""
    import nasc.backends as nb

    from .search.data import load_dataset

    data = load_dataset(cfg["dataset"], cfg["split"], int(cfg["seed"]))
    if target == "cpu":
        art = nb.load_artifact(adir)
        run = nb.load_runner(art)
        source = (f"the artifact ({art.backend} {art.precision}, {art.entry}) run by its own runtime on this "
                  f"machine, one test sample per call")
        name = next(iter(art.input_shapes))
    else:
        run, name, source = _stand_in(adir, target, opt_dir)
    x, y = data.test.x.numpy(), data.test.y.numpy()
    correct = sum(int(np.argmax(run({name: x[i:i + 1]})[0], axis=1)[0] == y[i]) for i in range(len(y)))
    return {"accuracy": correct / max(1, len(y)), "source": source, "test_samples": int(len(y))}


def _stand_in(adir: Path, target: str,
              opt_dir: Path) -> tuple[Callable[[Mapping[str, np.ndarray]], list[np.ndarray]], str, str]:
    """ONNX Runtime on the checked artifact's model.onnx, for a target that is not this machine;
    an artifact without one (``--backend tvm``) is stood in for by the ONNX model it was built from."""
    import onnxruntime

    import nasc.backends as nb
    from nasc.backends.manifest import bundle_manifest
    from nasc.backends.onnxruntime import make_session

    art = nb.load_artifact(adir)  # checks the bundle's files and the primary form's
    bundle = bundle_manifest(adir)
    folder = adir / "tensorrt" if bundle is not None and bundle["forms"].get("tensorrt", {}).get("built") \
        else art.dir
    model = folder / "model.onnx"
    if model.is_file():
        what = f"{model.relative_to(adir).as_posix()}"
    else:
        model = opt_dir / "model.onnx"
        what = (f"the passes' output the {art.backend} artifact was built from ({opt_dir.name}/model.onnx; the "
                "artifact has no ONNX model)")
    sess = make_session(model, threads=2, level="none")
    source = (f"{what} measured on ONNX Runtime {onnxruntime.__version__} (CPU, graph run as written: its Q/DQ "
              f"arithmetic op by op) standing in for {target}, one test sample per call")
    return (lambda feeds: list(sess.run(None, dict(feeds)))), sess.get_inputs()[0].name, source


def accuracy_report(trained: Mapping[str, Any], measured: Mapping[str, Any], tolerance_points: float, pipeline: str,
                    blame: Callable[[], list[tuple[str, float]]]) -> dict[str, Any]:
    """The report's ``accuracy`` figures, once the drop is within the tolerance (else
    :class:`AccuracyLoss`, naming the pass ``blame`` finds)."""
    check_tolerance(trained["test_accuracy"], measured["accuracy"], tolerance_points, pipeline, blame,
                    measured["source"])
    return {"fp32": trained["test_accuracy"], "fp32_source": FP32_SOURCE, "after_passes": measured["accuracy"],
            "after_passes_source": measured["source"], "test_samples": measured["test_samples"],
            "tolerance_points": tolerance_points}


def accuracy_after_each_pass(arch_file: Path, weights: Path, pipeline: str,
                             config: tuple[dict[str, Any], str | None], loader: Any) -> list[tuple[str, float]]:
    """The torch executor's test accuracy after each pass of ``pipeline`` on the retrained arch."""
    from .passes.blame import accuracy_after_each_pass as after_each
    from .passes.driver import prepare

    return after_each(prepare(arch_file, weights, config=config, loader=loader), pipeline)


def check_tolerance(fp32: float, after: float, tolerance_points: float, pipeline: str,
                    blame: Callable[[], list[tuple[str, float]]], source: str) -> None:
    """Raise :class:`AccuracyLoss` when ``after`` is more than ``tolerance_points`` below ``fp32``
    (both fractions); ``blame`` gives the accuracy after each pass, asked only then."""
    from .passes.blame import first_loss

    drop = (fp32 - after) * 100
    if drop <= tolerance_points + 1e-9:
        return
    floor = fp32 - tolerance_points / 100
    steps = blame()
    culprit = first_loss(steps, floor)
    trail = ", ".join(f"{t} {a:.2%}" for t, a in steps)
    if culprit is not None:
        who = (f"The pass responsible is '{culprit[0]}': the torch executor of the IR after it scores "
               f"{culprit[1]:.2%} (after each pass: {trail}).")
    else:
        who = (f"No pass loses it in the torch executor (after each pass: {trail}), so the loss is in the "
               "backend's build of the optimized model; try another --backend.")
    raise AccuracyLoss(
        f"the optimized artifact's test accuracy is {after:.2%}, {drop:.2f} points below the retrained fp32 "
        f"model's {fp32:.2%}, more than the tolerance of {tolerance_points:g} points (measured: {source}). {who} "
        f"Change --passes (now '{pipeline}'; e.g. another quantize observer, or mixed-precision keeping more layers "
        "in fp32), or raise the experiment's accuracy_tolerance (--set accuracy_tolerance=N). The stages before "
        "this check stay cached.")
