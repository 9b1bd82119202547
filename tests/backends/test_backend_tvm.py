"""TVM backend: CPU build/run, per-kernel timing, device runner, Jetson cross-compile, RPC, tuning cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import nasc.backends as nb
from nasc.backends import BuildOptions, MeasureProtocol, MeasurementUnavailable
from nasc.backends.timing import random_inputs

from backend_testlib import HAS_CROSS, elf_machine, loopback_tracker, needs_tvm, rel_err

pytestmark = [pytest.mark.tvm, needs_tvm]
QUICK = MeasureProtocol(warmup=2, repeats=5, number=3)
EM_AARCH64 = 183


def test_cpu_build_is_host_library(tvm_cpu_artifact) -> None:
    art = tvm_cpu_artifact
    assert art.entry == "model.so" and set(art.files) >= {"model.so", "io_check.npz", "run_on_device.py"}
    assert elf_machine(art.entry_path) == 62 or os.uname().machine != "x86_64"
    tgt = art.details["tvm_target"]
    assert tgt["kind"] == "llvm" and tgt["mcpu"] not in ("", "native", "generic")  # the host CPU was detected
    assert art.details["bn_folding"] == "folded 4 of 4 BatchNorm layers in torch (torch.fx fuse)"
    assert any("untuned" in n for n in art.notes)


def test_cpu_measure_with_per_kernel_times(tvm_cpu_artifact) -> None:
    cores = os.sched_getaffinity(0)
    rec = nb.measure(tvm_cpu_artifact, MeasureProtocol(warmup=2, repeats=5, number=3, per_kernel=True))
    assert os.sched_getaffinity(0) == cores  # TVM's thread pool pinned the process to one core
    nb.load_and_run(tvm_cpu_artifact, random_inputs(tvm_cpu_artifact, 0))
    assert os.sched_getaffinity(0) == cores
    assert rec.source == "measured" and rec.how == "measured locally" and rec.median_ms > 0
    names = [k.name for k in rec.per_kernel]
    assert any(n.startswith("fused_conv2d") for n in names), names
    assert all(not n.startswith("vm.") for n in names)
    assert all(k.median_us > 0 and k.calls_per_run >= 1 for k in rec.per_kernel)
    assert "apache-tvm" in rec.versions


def test_a_cpu_artifact_is_timed_beside_the_reference_in_one_process(tvm_cpu_artifact, tmp_path: Path) -> None:
    """A TVM CPU artifact shares a timing loop (``timed_call``) at one thread: ``nasc bench``
    and ``nasc profile --beside-reference`` time it beside the reference workload (ONNX
    Runtime) in one process, alternating samples; at two threads it is not paired."""
    from nasc.bench.paired import beside_reference, pairable
    from nasc.bench.reference import materialize

    assert pairable("tvm", 1) and not pairable("tvm", 2)
    ref = materialize(tmp_path / "ref")
    pair = beside_reference(Path(tvm_cpu_artifact.dir), MeasureProtocol(warmup=2, repeats=20, number=5, threads=1),
                            Path(ref.dir))
    art, other = pair.records["artifact"], pair.records["reference"]
    assert art.backend == "tvm" and other.backend == "onnxruntime" and "alternating samples" in art.how
    assert 0.5 < pair.ratio / (art.median_ms / other.median_ms) < 2  # the artifact's over the reference's


def test_device_runner_script_runs_the_artifact(tvm_cpu_artifact) -> None:
    out = subprocess.run([sys.executable, str(tvm_cpu_artifact.dir / "run_on_device.py"), "--device", "cpu",
                          "--repeats", "3", "--number", "2", "--warmup", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    record = json.loads(out.stdout[out.stdout.index("{"):])
    assert record["source"] == "measured" and record["check"]["relative_to_output_scale"] < 1e-4


@pytest.mark.skipif(not HAS_CROSS, reason="aarch64-linux-gnu-g++ not installed "
                                          "(backends/tvm/install_cross_toolchain.sh installs it)")
def test_jetson_orin_nano_cross_compile(tmp_path: Path, tiny_model, tiny_input) -> None:
    art = nb.build(tiny_model, tiny_input, target="jetson-orin-nano", backend="tvm", out_dir=tmp_path / "orin")
    assert art.entry == "model.so"
    assert elf_machine(art.entry_path) == EM_AARCH64
    code = art.details["device_code"]
    assert code["arch"] == "sm_87" and code["form"] in ("binary", "source")
    assert code["verified_from_file"] is True
    if code["form"] == "binary":  # nvcc + libcuda stub available (true on this project's machines)
        assert code["fatbin_entries"] and all(e["sm"] == 87 for e in code["fatbin_entries"])
        assert code["compiled_with"].startswith("nvcc ")
    needs = art.details["device_needs"]
    assert "TVM 0.27" in needs["tvm_runtime"] and "CUDA" in needs["cuda"]
    assert art.details["tvm_target"]["host"]["mtriple"] == "aarch64-linux-gnu"
    manifest = json.loads((art.dir / "manifest.json").read_text())
    assert manifest["target"]["device_arch"] == "sm_87"
    with pytest.raises(MeasurementUnavailable, match="rpc"):
        nb.measure(art, QUICK)  # a Jetson artifact cannot be timed on this host


def test_jetson_tar_fallback_without_cross_compiler(tmp_path: Path, tiny_model, tiny_input,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import nasc.backends.tvm as tvm_backend

    from nasc.backends.tvm.toolchain import LinkPlan

    monkeypatch.setattr(tvm_backend, "link_plan",
                        lambda triple: LinkPlan("model.tar", None, "no cross compiler (test)"))
    art = nb.build(tiny_model, tiny_input, target="jetson-orin-nano", backend="tvm",
                   options=BuildOptions(device_code="source"), out_dir=tmp_path / "tar")
    assert art.entry == "model.tar"
    with tarfile.open(art.entry_path) as tf:
        objects = [tf.extractfile(m).read() for m in tf.getmembers() if m.name.endswith(".o")]
    assert objects and all(elf_machine_bytes(o) == EM_AARCH64 for o in objects)
    assert art.details["device_code"]["form"] == "source"
    assert "g++ on the device" in art.details["device_needs"]["link"]
    assert any("no cross compiler" in n for n in art.notes)


def elf_machine_bytes(data: bytes) -> int | None:
    from nasc.backends.tvm.device_code import elf_machine

    return elf_machine(data)


def test_measure_via_rpc_tracker(tvm_cpu_artifact) -> None:
    with loopback_tracker("nasc-test") as tracker:
        proto = MeasureProtocol(warmup=2, repeats=5, number=3, rpc=tracker, device_key="nasc-test")
        rec = nb.measure(tvm_cpu_artifact, proto)
        assert rec.source == "measured" and rec.how.startswith("measured via rpc")
        assert "nasc-test" in rec.how and rec.protocol["rpc"] == tracker
        assert rec.median_ms > 0


@pytest.mark.slow
def test_tuning_database_reuses_seen_kernels(tmp_path: Path) -> None:
    """One-kernel model, 2 trials: the second build finds the kernel in the database (~30 s)."""

    class ConvRelu(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.conv(x))

    torch.manual_seed(0)
    model = ConvRelu().eval()
    x = {"x": np.random.default_rng(0).standard_normal((1, 8, 8, 8)).astype(np.float32)}
    opts = BuildOptions(tune_trials=2, cache_dir=str(tmp_path / "cache"))
    first = nb.build(model, x, target="cpu", backend="tvm", options=opts, out_dir=tmp_path / "a")
    t1 = first.details["tuning"]
    assert t1["tasks"] >= 1 and t1["tasks_tuned_now"] == t1["tasks"]
    second = nb.build(model, x, target="cpu", backend="tvm", options=opts, out_dir=tmp_path / "b")
    t2 = second.details["tuning"]
    assert t2["tasks_tuned_now"] == 0 and t2["tasks_from_database"] == t1["tasks"]
    with torch.inference_mode():
        ref = model(torch.from_numpy(x["x"])).numpy()
    assert rel_err(nb.load_and_run(second, x)[0], ref) < 1e-4


def test_gpu_tuning_is_refused_clearly(tmp_path: Path, tiny_model, tiny_input) -> None:
    with pytest.raises(nb.BuildError, match="cpu target only"):
        nb.build(tiny_model, tiny_input, target="jetson-orin-nano", backend="tvm",
                 options=BuildOptions(tune_trials=4), out_dir=tmp_path / "x")


@pytest.mark.gpu
@pytest.mark.skipif(nb.get_target("cuda").device_arch is None, reason="no NVIDIA GPU and driver on this machine")
def test_cuda_build_matches_torch(tmp_path: Path, tiny_model, tiny_input, tiny_reference) -> None:
    art = nb.build(tiny_model, tiny_input, target="cuda", backend="tvm", out_dir=tmp_path / "cuda")
    assert art.details["device_code"]["form"] in ("binary", "source")  # source when nvcc is absent
    assert rel_err(nb.load_and_run(art, tiny_input)[0], tiny_reference) < 1e-4
    assert nb.measure(art, QUICK).median_ms > 0


