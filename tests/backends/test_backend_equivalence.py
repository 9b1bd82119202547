"""Every backend available here gives torch's outputs, and its latency record states its protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nasc.backends as nb
from nasc.backends import BuildOptions, MeasureProtocol

from backend_testlib import needs_tvm, rel_err

QUICK = MeasureProtocol(warmup=2, repeats=5, number=3)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_fp32_equivalence(backend: str, tmp_path: Path, tiny_model, tiny_input, tiny_reference) -> None:
    art = nb.build(tiny_model, tiny_input, target="cpu", backend=backend, out_dir=tmp_path / backend)
    out = nb.load_and_run(art, tiny_input)
    assert len(out) == 1 and out[0].shape == tiny_reference.shape
    assert rel_err(out[0], tiny_reference) < 1e-4


@pytest.mark.tvm
@needs_tvm
def test_tvm_fp32_equivalence(tvm_cpu_artifact, tiny_input, tiny_reference) -> None:
    assert rel_err(nb.load_and_run(tvm_cpu_artifact, tiny_input)[0], tiny_reference) < 1e-4


@pytest.mark.tvm
@needs_tvm
def test_tvm_fp16_is_close(tmp_path: Path, tiny_model, tiny_input, tiny_reference) -> None:
    """fp16 (ReLU6 exercises the clip rewrite that ToMixedPrecision needs)."""
    art = nb.build(tiny_model, tiny_input, target="cpu", backend="tvm", options=BuildOptions(precision="fp16"),
                   out_dir=tmp_path / "fp16")
    assert art.precision == "fp16"
    assert rel_err(nb.load_and_run(art, tiny_input)[0], tiny_reference) < 1e-2


def test_ort_int8_qdq(tmp_path: Path, tiny_model, tiny_input, tiny_reference) -> None:
    import onnx

    art = nb.build(tiny_model, tiny_input, target="cpu", backend="onnxruntime",
                   options=BuildOptions(precision="int8"), out_dir=tmp_path / "int8")
    ops = {n.op_type for n in onnx.load(str(art.entry_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    q = art.details["quantization"]
    assert q["format"] == "QDQ" and "random-normal" in q["calibration"]
    assert isinstance(q["reduce_range"], bool)
    assert rel_err(nb.load_and_run(art, tiny_input)[0], tiny_reference) < 5e-2


def test_onnx_export_has_named_io(tmp_path: Path, tiny_model, tiny_input) -> None:
    import onnx

    art = nb.build(tiny_model, tiny_input, target="cpu", backend="onnxruntime",
                   options=BuildOptions(output_names=("logits",)), out_dir=tmp_path / "named")
    g = onnx.load(str(art.entry_path))
    assert [i.name for i in g.graph.input] == ["x"] and [o.name for o in g.graph.output] == ["logits"]
    assert max(o.version for o in g.opset_import if o.domain in ("", "ai.onnx")) >= 17


@pytest.mark.parametrize("isolate", [False, True])
def test_latency_record_states_protocol(isolate: bool, tmp_path: Path, tiny_model, tiny_input) -> None:
    art = nb.build(tiny_model, tiny_input, target="cpu", backend="onnxruntime", out_dir=tmp_path / "ort")
    rec = nb.measure(art, MeasureProtocol(warmup=2, repeats=6, number=3, threads=1, isolate=isolate))
    assert rec.source == "measured" and rec.how.startswith("measured locally")
    assert ("isolated process" in rec.how) == isolate
    assert 0 < rec.min_ms <= rec.median_ms <= rec.p90_ms and rec.repeats == 6
    for key in ("warmup", "repeats", "number", "threads", "batch", "precision", "isolate", "timer"):
        assert key in rec.protocol
    assert rec.protocol["batch"] == 1 and rec.protocol["precision"] == "fp32" and rec.protocol["threads"] == 1
    assert rec.backend == "onnxruntime" and "onnxruntime" in rec.versions
    assert nb.LatencyRecord.from_dict(rec.to_dict()) == rec


def test_torch_measure(tmp_path: Path, tiny_model, tiny_input) -> None:
    art = nb.build(tiny_model, tiny_input, target="cpu", backend="torch", out_dir=tmp_path / "t")
    rec = nb.measure(art, QUICK)
    assert rec.source == "measured" and rec.median_ms > 0 and "torch" in rec.versions


def test_multi_output_model(tmp_path: Path) -> None:
    import torch

    class Two(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor):
            return a + b, torch.relu(a * b)

    inputs = {"a": np.ones((2, 3), np.float32), "b": np.full((2, 3), -2.0, np.float32)}
    art = nb.build(Two(), inputs, target="cpu", backend="onnxruntime", out_dir=tmp_path / "two")
    assert art.output_names == ("output_0", "output_1")
    s, r = nb.load_and_run(art, inputs)
    assert np.allclose(s, -1.0) and np.allclose(r, 0.0)


def test_bn_folding_through_varargs_forward(tiny_model, tiny_input, tiny_reference) -> None:
    """ArchNet-style ``forward(*xs)`` defeats torch.fx; the fixed-arity wrapper still folds BN."""
    import torch

    from nasc.backends.torch_ref.model import fold_batchnorm, run_torch

    class Varargs(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *xs: torch.Tensor) -> torch.Tensor:
            return self.inner(*[x for x in xs])

    folded, note = fold_batchnorm(Varargs(tiny_model), n_inputs=1)
    assert note == "folded 4 of 4 BatchNorm layers in torch (torch.fx fuse, through a fixed-arity wrapper)"
    assert rel_err(run_torch(folded, tiny_input)[0], tiny_reference) < 1e-5
