"""TensorRT backend: without a GPU it writes ONNX + build scripts and says the engine is not built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nasc.backends as nb
from nasc.backends import BuildOptions, MeasurementUnavailable
from nasc.backends.hostinfo import local_gpu_arch
from nasc.backends.tensorrt import NOT_BUILT

NO_GPU = local_gpu_arch() is None


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU; the no-GPU path is not taken")
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_build_without_gpu_writes_onnx_and_scripts(precision: str, tmp_path: Path, tiny_model, tiny_input) -> None:
    import onnx

    art = nb.build(tiny_model, tiny_input, target="jetson-orin-nano", backend="tensorrt",
                   options=BuildOptions(precision=precision), out_dir=tmp_path / precision)
    assert {"model.onnx", "build_engine.sh", "build_engine.py", "io_check.npz"} <= set(art.files)
    assert "model.engine" not in art.files
    engine = art.details["engine"]
    assert engine["built"] is False and engine["status"] == NOT_BUILT == "engine: not built (no GPU)"
    assert any(n.startswith(NOT_BUILT) for n in art.notes)
    script = (art.dir / "build_engine.sh").read_text()
    assert "trtexec" in script and "--onnx=model.onnx" in script and "--timingCacheFile" in script
    assert f"--{precision}" in script
    ops = {n.op_type for n in onnx.load(str(art.dir / "model.onnx")).graph.node}
    if precision == "int8":
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops
        assert art.details["quantization"]["activations"] == "s8 symmetric"
    with pytest.raises(MeasurementUnavailable, match="not built"):
        nb.measure(art)
    manifest = json.loads((art.dir / "manifest.json").read_text())
    assert manifest["details"]["complete"] is False


def test_tensorrt_is_not_offered_for_cpu() -> None:
    ok, why = nb.get_backend("tensorrt").available(nb.get_target("cpu"))
    assert not ok and "GPU" in why


@pytest.mark.gpu
@pytest.mark.skipif(NO_GPU, reason="no NVIDIA GPU and driver on this machine")
def test_engine_build_on_gpu(tmp_path: Path, tiny_model, tiny_input, tiny_reference) -> None:
    pytest.importorskip("tensorrt", reason="TensorRT Python package not installed")
    from backend_testlib import rel_err

    art = nb.build(tiny_model, tiny_input, target="cuda", backend="tensorrt", out_dir=tmp_path / "trt")
    assert art.entry == "model.engine" and art.details["engine"]["built"] is True
    assert rel_err(nb.load_and_run(art, tiny_input)[0], tiny_reference) < 1e-3
    assert nb.measure(art).source == "measured"
