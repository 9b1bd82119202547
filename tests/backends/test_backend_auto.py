"""--backend auto keeps the fastest measured candidate and records the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nasc.backends as nb
from nasc.backends import BuildOptions, MeasureProtocol
from nasc.backends.auto import build_auto

from backend_testlib import HAS_CROSS, HAS_TVM, rel_err

PROTO = MeasureProtocol(warmup=2, repeats=7, number=5)


@pytest.mark.tvm
@pytest.mark.skipif(not HAS_TVM, reason="apache-tvm not installed: auto must be tested with all three CPU backends")
def test_auto_picks_fastest_measured(tmp_path: Path, tiny_model, tiny_input, tiny_reference) -> None:
    candidates = ["onnxruntime", "torch", "tvm"]
    art = build_auto(tiny_model, tiny_input, nb.get_target("cpu"), BuildOptions(), tmp_path / "auto", PROTO,
                     candidates=candidates)
    sel = json.loads((art.dir / "manifest.json").read_text())["selection"]
    measured = {n: c for n, c in sel["candidates"].items() if c["status"] == "measured"}
    assert set(measured) == set(candidates)
    fastest = min(measured, key=lambda n: measured[n]["median_ms"])
    assert sel["chosen"] == fastest == art.backend
    assert "same protocol" in sel["rule"] and sel["protocol"]["repeats"] == 7
    assert nb.verify_files(art) == []  # files moved intact
    assert rel_err(nb.load_and_run(art, tiny_input)[0], tiny_reference) < 1e-4


def test_auto_is_the_default_of_build(tmp_path: Path, tiny_model, tiny_input) -> None:
    art = nb.build(tiny_model, tiny_input, target="cpu", out_dir=tmp_path / "a",
                   options=BuildOptions(precision="int8"), protocol=PROTO)
    sel = json.loads((art.dir / "manifest.json").read_text())["selection"]
    # only ONNX Runtime does int8 on CPU; the others are reported, not silently dropped
    assert art.backend == "onnxruntime" and art.precision == "int8"
    assert sel["candidates"]["torch"]["status"] == "not available"


@pytest.mark.tvm
@pytest.mark.skipif(not (HAS_TVM and HAS_CROSS), reason="needs apache-tvm and aarch64-linux-gnu-g++")
def test_auto_for_jetson_without_device_keeps_complete_build(tmp_path: Path, tiny_model, tiny_input) -> None:
    art = nb.build(tiny_model, tiny_input, target="jetson-orin-nano", out_dir=tmp_path / "j",
                   options=BuildOptions(device_code="source"), protocol=PROTO)
    sel = json.loads((art.dir / "manifest.json").read_text())["selection"]
    assert art.backend == "tvm"  # TensorRT's engine cannot be built here, TVM's artifact is complete
    assert sel["candidates"]["tvm"]["status"] == "built, not measured"
    assert sel["candidates"]["tensorrt"]["status"] == "built, not measured"
    assert "no candidate could be measured" in sel["rule"]
