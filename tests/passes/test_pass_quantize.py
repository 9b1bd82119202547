"""quantize: int8 of the digits example within 1 point of fp32, really executed as int8 by ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nasc.backends.onnxruntime import optimized_op_counts
from nasc.passes.driver import optimize
from nasc.passes.observers import Entropy, MinMax, Percentile
from passes_testlib import DIGITS_ARCH, GOLDEN_ARCH, fixed_ir, run, torch_threads, trained_digits  # noqa: F401


@pytest.fixture(scope="module")
def int8_digits(trained_digits: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("int8")
    with torch_threads(1):
        optimize(DIGITS_ARCH, trained_digits, "fold-bn,fuse,quantize{calib=256}", out)
    return out


def test_int8_digits_loses_at_most_one_point_on_onnxruntime(int8_digits: Path, tmp_path: Path) -> None:
    doc = json.loads((int8_digits / "opt.json").read_text())
    assert doc["accuracy_after_source"].startswith("model.onnx on ONNX Runtime")
    assert doc["accuracy_before"] > 0.9  # a trained model, so the comparison means something
    assert doc["accuracy_before"] - doc["accuracy_after"] <= 0.01, doc
    # the torch fake-quant simulation predicts the deployed accuracy
    assert abs(doc["accuracy_after_torch"] - doc["accuracy_after"]) <= 0.01
    q = doc["quantization"]
    assert q["calib_samples"] == 256 and "training split" in q["calibration"]
    # ORT runs every conv, add, pool and the linear as int8 kernels: no float conv is left
    ops = optimized_op_counts(int8_digits / "model.onnx", tmp_path, "extended")  # after its QDQ fusion
    assert ops["QLinearConv"] == 10 and ops["Conv"] == 0, ops
    assert ops["QLinearAdd"] == 3 and ops["QGemm"] == 1 and ops["QLinearGlobalAveragePool"] == 1, ops


@pytest.mark.parametrize("observer", ["percentile", "entropy"])
def test_other_observers(trained_digits: Path, tmp_path: Path, observer: str) -> None:  # noqa: F811
    with torch_threads(1):
        res = optimize(DIGITS_ARCH, trained_digits, f"fold-bn,fuse,quantize{{calib=128,observer={observer}}}",
                       tmp_path)
    doc = res.doc
    assert doc["quantization"]["observer"] == observer
    assert doc["accuracy_before"] - doc["accuracy_after"] <= 0.01, doc


def test_build_module_for_the_backends(int8_digits: Path, tmp_path: Path) -> None:
    """What `nasc build --from DIR` gets: a float module, inputs, output names, and int8 with the
    calibration data; the ORT backend's own int8 flow accepts it."""
    from nasc.backends import BuildOptions, build, load_and_run
    from nasc.passes import build_module

    module, example, names, info = build_module(int8_digits)
    assert names == ("logits",) and list(example) == ["x"] and example["x"].shape == (1, 1, 8, 8)
    assert info.build_precision == "int8" and info.onnx == int8_digits / "model.onnx"
    assert info.calibration is not None and len(info.calibration) == 256
    art = build(module, example, target="cpu", backend="onnxruntime", out_dir=tmp_path / "art",
                options=BuildOptions(precision=info.build_precision, calibration=info.calibration[:64],
                                     output_names=names))
    out = load_and_run(art, example)[0]
    with torch.no_grad():
        ref = module(torch.from_numpy(example["x"])).numpy()
    assert out.shape == ref.shape == (1, 10)


def test_random_calibration_without_data_says_so() -> None:
    ir, _, _, lib = fixed_ir(GOLDEN_ARCH)
    q = run(ir, lib, "fold-bn,quantize{calib=16}")
    assert "random-normal" in q.quant_config["calibration"] and "not for accuracy" in q.quant_config["calibration"]


@pytest.mark.parametrize("reduce_range,tol", [("false", 1e-5), ("true", 2e-3)])
def test_quantized_onnx_matches_the_torch_simulation(tmp_path: Path, reduce_range: str, tol: float) -> None:
    """Same Q/DQ placement and rounding in both.  With 8-bit weights ORT's integer kernels and
    the fake-quant simulation agree to float rounding (3e-8 measured) on a CPU with VNNI; on
    one without, those kernels saturate 8-bit weights (0.10 measured on an AVX2 host), so there
    the graph runs as written, Q/DQ op by op, what TensorRT computes.  With 7-bit weights a
    requantization tie occasionally rounds the other way (6e-4 measured, logits ~0.27)."""
    from nasc.backends.hostinfo import has_vnni
    from nasc.backends.onnxruntime import make_session
    from nasc.passes.execute import OptNet
    from nasc.passes.onnx_export import export_onnx
    from passes_testlib import example_input, random_calibration

    ir, _, graph, lib = fixed_ir(GOLDEN_ARCH)
    q = run(ir, lib, f"fold-bn,fuse,quantize{{calib=64,reduce_range={reduce_range}}}", random_calibration(graph))
    path = export_onnx(q, tmp_path / "q.onnx")
    x = example_input(graph, 64, seed=7)
    level = "all" if reduce_range == "true" or has_vnni() else "none"
    got = make_session(path, threads=1, level=level).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        want = OptNet(q, lib)(x).numpy()
    assert np.abs(got - want).max() <= tol


def test_symmetric_s8_activations_run_on_onnxruntime(tmp_path: Path) -> None:
    """act=s8 is the TensorRT form (symmetric, zero point 0): ReLUs stay explicit ops then.
    ONNX Runtime's integer kernels run it where they do not saturate 8-bit weights (a CPU with
    VNNI); elsewhere the graph runs as written, as the compile's stand-in for TensorRT does."""
    from nasc.backends.hostinfo import has_vnni
    from nasc.backends.onnxruntime import make_session
    from nasc.passes.execute import OptNet
    from nasc.passes.onnx_export import export_onnx
    from passes_testlib import example_input, random_calibration

    ir, _, graph, lib = fixed_ir(GOLDEN_ARCH)
    q = run(ir, lib, "fold-bn,fuse,quantize{calib=64,act=s8,reduce_range=false}", random_calibration(graph))
    assert {p.dtype for p in q.act_quant.values()} == {"s8"} and {p.zero_point for p in q.act_quant.values()} == {(0,)}
    assert q.dtype(3) != "int8"  # the ReLU after the first conv is not folded into the quantizer
    x = example_input(graph, 16, seed=3)
    got = make_session(export_onnx(q, tmp_path / "q.onnx"), threads=1,
                       level="all" if has_vnni() else "none").run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        want = OptNet(q, lib)(x).numpy()
    assert np.abs(got - want).max() <= 2e-3


def test_observers_clip_outliers() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100_000, generator=g)
    x[0] = 60.0  # one outlier
    obs = [MinMax(), Percentile(percentile=99.9), Entropy()]
    for p in range(2):
        for o in obs:
            o.observe(x, p)
    mm, pc, en = (o.range() for o in obs)
    assert mm[1] == pytest.approx(60.0)
    assert pc[1] < 5.0 and en[1] < 10.0
    assert pc[0] < 0 and en[0] < 0
