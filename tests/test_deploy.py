"""Arch files through every backend available here: same outputs as the torch reference; CLI contract."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import nasc.backends as nb
from nasc import api
from nasc.backends import BuildOptions
from nasc.backends.torch_ref.model import randomize_bn
from nasc.cli import main
from nasc.deploy import example_inputs, reference_module

from .conftest import EXAMPLES

HAS_TVM = importlib.util.find_spec("tvm") is not None
SPACES = ["digits", "digits_tiny", "nb201", "edge_budget", "darts", "mbv2_macro", "mobilenet_v2", "resnet18"]


def _arch(name: str, seed: int, tmp_path: Path) -> Path:
    compiled = api.load(EXAMPLES / f"{name}.nas")
    path = tmp_path / f"{name}_{seed}.nas"
    if compiled.elaborate().kind == "arch":
        path.write_text((EXAMPLES / f"{name}.nas").read_text())
    else:
        path.write_text(api.freeze(compiled, seed=seed).text)
    return path


NEEDS_TVM = pytest.mark.skipif(not HAS_TVM, reason="apache-tvm (the [tvm] extra) is not installed")
# every backend is its own test case: one that cannot run here is a visible skip, never a silent omission
BACKENDS = ["torch", "onnxruntime", pytest.param("tvm", marks=[pytest.mark.tvm, NEEDS_TVM])]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", SPACES)
def test_every_backend_matches_the_reference(name: str, backend: str, tmp_path: Path) -> None:
    seeds = [0, 1] if name in ("digits", "digits_tiny", "nb201", "edge_budget") else [0]
    for seed in seeds:
        path = _arch(name, seed, tmp_path)
        compiled = api.load(path)
        net = reference_module(compiled, seed=seed)
        randomize_bn(net, seed)  # non-trivial BN statistics, so a skipped BN fold would show
        inputs = example_inputs(net, 1, seed)
        with torch.no_grad():
            ref = net(*[torch.from_numpy(v) for v in inputs.values()]).numpy()
        scale = float(np.abs(ref).max()) or 1.0
        art = nb.build(net, inputs, out_dir=tmp_path / f"{backend}_{seed}", target="cpu", backend=backend,
                       options=BuildOptions(seed=seed, output_names=tuple(net.output_names)))
        assert art.backend == backend
        (out,) = nb.load_and_run(art, inputs)
        err = float(np.abs(out - ref).max()) / scale
        assert err < 1e-4, f"{name} seed {seed} on {backend}: relative error {err:.2e}"


def test_build_and_measure_cli_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = _arch("digits", 0, tmp_path)
    out = tmp_path / "ort"
    assert main(["build", str(arch), "--target", "cpu", "--backend", "onnxruntime", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"target", "backend", "precision", "files", "versions", "input_shapes"} <= set(manifest)
    assert manifest["backend"] == "onnxruntime" and manifest["input_shapes"]["x"] == [1, 1, 8, 8]
    assert all(len(h) == 64 for h in manifest["files"].values())
    capsys.readouterr()
    assert main(["measure", str(out), "--repeat", "5", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert {"median_ms", "p90_ms", "repeats", "source", "protocol"} <= set(rec)
    assert rec["source"] == "measured" and rec["repeats"] == 5 and 0 < rec["median_ms"] <= rec["p90_ms"]


def test_auto_keeps_the_fastest_and_records_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = _arch("digits_tiny", 2, tmp_path)
    out = tmp_path / "auto"
    assert main(["build", str(arch), "--backend", "auto", "--repeat", "5", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    sel = manifest["selection"]["candidates"]
    measured = {k: v for k, v in sel.items() if v.get("median_ms") is not None}
    assert manifest["backend"] in measured and len(measured) >= 2
    assert measured[manifest["backend"]]["median_ms"] == min(v["median_ms"] for v in measured.values())


def test_tensorrt_without_gpu_writes_onnx_and_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = _arch("digits", 1, tmp_path)
    out = tmp_path / "trt"
    code = main(["build", str(arch), "--target", "jetson-orin-nano", "--backend", "tensorrt", "--precision", "int8",
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "engine: not built (no GPU)" in printed
    assert (out / "model.onnx").exists() and (out / "build_engine.sh").exists()


def test_targets_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["targets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["jetson-orin-nano"]["device_arch"] == "sm_87"
    assert rows["cpu"]["backends"]["onnxruntime"]["available"]


def test_compile_runs_every_stage_and_caches_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fast = ["--set", "search.epochs=1", "--set", "search.batch=256", "--set", "train.epochs=1"]
    out = tmp_path / "c"
    src = str(EXAMPLES / "digits.nas")
    assert main(["compile", src, "--target", "cpu", "--backend", "onnxruntime", "--out", str(out), *fast]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["latency"]["source"] == "measured" and report["backend"] == "onnxruntime"
    assert (out / "search" / "arch.nas").exists() and (out / "artifact" / "manifest.json").exists()
    capsys.readouterr()
    assert main(["compile", src, "--target", "cpu", "--backend", "onnxruntime", "--out", str(out), *fast]) == 0
    err = capsys.readouterr().err
    assert "[search] cached" in err and "[train] cached" in err and "[build] cached" in err
    fast[-1] = "train.epochs=2"
    assert main(["compile", src, "--target", "cpu", "--backend", "onnxruntime", "--out", str(out), *fast]) == 0
    err = capsys.readouterr().err
    assert "[search] cached" in err and "[train] running" in err and "[build] running" in err
    assert json.loads((out / "report.json").read_text())["latency"]["threads"] == 2
    # another thread count: the same artifact measured (and recorded) on one thread
    db = tmp_path / "lat.sqlite"
    assert main(["compile", src, "--target", "cpu", "--backend", "onnxruntime", "--out", str(out), *fast,
                 "--threads", "1", "--record-latency", "--latency-db", str(db)]) == 0
    assert "[build] cached" in capsys.readouterr().err
    assert json.loads((out / "report.json").read_text())["latency"]["threads"] == 1
    from nasc.latency.store import LatencyStore

    with LatencyStore(db) as store:
        assert [r.protocol.threads for r in store.query(kind="arch")] == [1]


def test_compile_for_a_device_not_attached_predicts_latency(tmp_path: Path) -> None:
    """Named by its alias, the board is named in the report; its latency is predicted, and
    the report says that nothing was measured instead of drawing a picture of nothing."""
    fast = ["--set", "search.epochs=1", "--set", "search.batch=256", "--set", "train.epochs=1"]
    out = tmp_path / "j"
    assert main(["compile", str(EXAMPLES / "digits.nas"), "--target", "jetson", "--backend", "tensorrt",
                 "--out", str(out), *fast]) == 0
    report = json.loads((out / "report.json").read_text())
    lat = report["latency"]
    assert lat["source"] == "predicted" and "roofline-prior:jetson-orin-nano" in lat["how"]
    assert "nothing measured on this target: its error is unknown" in lat["how"]
    assert report["target"] == "jetson-orin-nano" and report["target_note"] == "target 'jetson' is jetson-orin-nano"
    figures = report["latency_figures"]
    assert figures["measured"] is None and figures["predicted"]["median_ms"] == pytest.approx(lat["median_ms"])
    plots = {p["name"]: p for p in report["plots"]}
    assert plots["latency_predicted_measured"]["file"] is None and plots["alpha"]["file"] == "plots/alpha.png"
    md = (out / "report.md").read_text()
    assert "Not drawn: nothing was measured in this run: predicted (roofline-prior:jetson-orin-nano" in md
    assert "(target 'jetson' is jetson-orin-nano)" in md


def _optimized(tmp_path: Path, seed: int, pipeline: str) -> tuple[Path, Path, Path]:
    """A frozen digits arch, trained one epoch, then `nasc opt -p pipeline`: (arch, train dir, opt dir)."""
    arch = _arch("digits", seed, tmp_path)
    train_dir = tmp_path / "train"
    exp = f"{EXAMPLES / 'digits.nas'}:digits"
    assert main(["train", str(arch), "--out", str(train_dir), "--experiment", exp, "--set", "train.epochs=1"]) == 0
    opt = tmp_path / "opt"
    assert main(["opt", str(arch), "-w", str(train_dir / "weights.safetensors"), "-p", pipeline, "--out", str(opt),
                 "--experiment", exp]) == 0
    return arch, train_dir, opt


def test_build_from_an_optimized_ir(tmp_path: Path) -> None:
    """nasc opt (fold-bn, fuse) then nasc build --from: same outputs as the unoptimized reference."""
    arch, train_dir, opt = _optimized(tmp_path, 4, "fold-bn,fuse")
    out = tmp_path / "art"
    assert main(["build", "--from", str(opt), "--backend", "onnxruntime", "--out", str(out)]) == 0
    net = reference_module(api.load(arch), weights=train_dir / "weights.safetensors")
    x = example_inputs(net, 1, 7)
    with torch.no_grad():
        ref = net(torch.from_numpy(x["x"])).numpy()
    (got,) = nb.load_and_run(out, x)
    assert float(np.abs(got - ref).max()) / float(np.abs(ref).max()) < 1e-4
    assert json.loads((out / "manifest.json").read_text())["options"]["extra"]["from"] == str(opt)


@pytest.mark.tvm
@NEEDS_TVM
def test_build_from_mixed_precision_with_every_backend(tmp_path: Path) -> None:
    """A per-node fp16 opt output builds with ONNX Runtime and with TVM (through its ONNX importer)."""
    from nasc.passes.artifact import build_module

    _, _, opt = _optimized(tmp_path, 6, "fold-bn,fuse,mixed-precision{dtype=fp16}")
    built = build_module(opt)
    x = built.example_inputs
    with torch.no_grad():
        ref = built.module.eval()(torch.from_numpy(x["x"])).float().numpy()
    for backend in ("onnxruntime", "tvm"):
        out = tmp_path / backend
        assert main(["build", "--from", str(opt), "--backend", backend, "--out", str(out)]) == 0
        (got,) = nb.load_and_run(out, x)
        assert float(np.abs(got - ref).max()) / max(1.0, float(np.abs(ref).max())) < 5e-3, backend
