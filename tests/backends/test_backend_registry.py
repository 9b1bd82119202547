"""Registry, targets, protocol and manifest behaviour (no compiler needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nasc.backends as nb
from nasc.backends.base import MeasureProtocol
from nasc.errors import NascError, NascNameError


def test_import_does_not_load_heavy_libraries() -> None:
    code = textwrap.dedent("""
        import sys, json
        import nasc, nasc.backends as nb
        nb.list_targets(); nb.backend_names()
        for name in ("tvm", "tensorrt", "onnxruntime", "torch"):
            nb.get_backend(name).available(nb.get_target("cpu"))
        print(json.dumps(sorted(m for m in ("tvm", "tensorrt", "onnxruntime", "torch") if m in sys.modules)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_unknown_names_list_known_ones() -> None:
    with pytest.raises(NascNameError) as e:
        nb.get_backend("onnxrutime")
    assert "did you mean 'onnxruntime'" in e.value.message and "tvm" in e.value.message
    with pytest.raises(NascNameError) as e:
        nb.get_target("jetson-orin-nan")
    assert "did you mean 'jetson-orin-nano'" in e.value.message and "jetson-agx-orin" in e.value.message


def test_target_registry() -> None:
    targets = nb.known_targets()
    for name in ("cpu", "cuda", "jetson-orin-nano", "jetson-agx-orin", "jetson-xavier-nx", "jetson-agx-xavier",
                 "jetson-nano"):
        assert name in targets
    orin = targets["jetson-orin-nano"]
    assert (orin.kind, orin.device_arch, orin.host_triple) == ("jetson", "sm_87", "aarch64-linux-gnu")
    assert orin.tvm_target == "nvidia/jetson-orin-nano" and orin.tvm_host["mcpu"] == "cortex-a78"
    assert targets["jetson-nano"].device_arch == "sm_53"
    cpu = targets["cpu"]
    assert cpu.tvm_target["mcpu"] == "native"  # resolved by LLVM at build time, never hard-coded
    assert "znver" not in json.dumps([t.to_dict() for t in targets.values()])
    assert set(cpu.backends) == {"onnxruntime", "tvm", "torch"}


def test_protocol_validation_and_roundtrip() -> None:
    with pytest.raises(ValueError):
        MeasureProtocol(rpc="127.0.0.1:9190")
    with pytest.raises(ValueError):
        MeasureProtocol(repeats=0)
    p = MeasureProtocol(repeats=7, threads=1, isolate=True)
    assert MeasureProtocol.from_dict(p.to_dict()) == p


def test_entry_point_backend_is_discovered(tmp_path: Path) -> None:
    """A third-party package registering under the ``nasc.backends`` group is found by name."""
    (tmp_path / "fakebe.py").write_text(textwrap.dedent("""
        class FakeBackend:
            name = "fake"
            precisions = ("fp32",)
            def available(self, target): return True, ""
            def build(self, model, example_inputs, target, options, out_dir): raise NotImplementedError
            def measure(self, artifact, protocol): raise NotImplementedError
            def load_and_run(self, artifact, inputs): raise NotImplementedError
    """))
    dist = tmp_path / "fakebe-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakebe\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[nasc.backends]\nfake = fakebe:FakeBackend\ntorch = fakebe:FakeBackend\n")
    code = ("import nasc.backends as nb; b = nb.get_backend('fake'); "
            "print(type(b).__name__, 'fake' in nb.backend_names(), type(nb.get_backend('torch')).__name__)")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    # the third-party backend is found; a built-in name cannot be shadowed
    assert out.stdout.split() == ["FakeBackend", "True", "TorchBackend"]


def test_out_dir_that_is_not_an_artifact_is_refused(tmp_path: Path, tiny_model, tiny_input) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(NascError, match="refusing to overwrite"):
        nb.build(tiny_model, tiny_input, target="cpu", backend="torch", out_dir=tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_manifest_contents_and_hashes(tmp_path: Path, tiny_model, tiny_input) -> None:
    art = nb.build(tiny_model, tiny_input, target="cpu", backend="torch",
                   options=nb.BuildOptions(seed=3, weights="seed:3"), out_dir=tmp_path / "a")
    m = json.loads((art.dir / "manifest.json").read_text())
    for key in ("target", "backend", "precision", "files", "versions", "input_shapes", "seed", "options"):
        assert key in m
    assert m["target"]["name"] == "cpu" and m["backend"] == "torch" and m["precision"] == "fp32"
    assert m["input_shapes"] == {"x": [1, 3, 16, 16]} and m["seed"] == 3
    assert set(m["files"]) == {"model.pt2", "io_check.npz"}
    assert "torch" in m["versions"] and "python" in m["versions"]
    assert nb.verify_files(nb.load_artifact(art.dir)) == []
    (art.dir / "io_check.npz").write_bytes(b"tampered")
    assert nb.verify_files(art) == ["io_check.npz"]


def test_contradicting_protocol_is_refused(tmp_path: Path, tiny_model, tiny_input) -> None:
    art = nb.build(tiny_model, tiny_input, target="cpu", backend="torch", out_dir=tmp_path / "a")
    with pytest.raises(NascError, match="batch 4"):
        nb.measure(art, MeasureProtocol(batch=4))
    with pytest.raises(NascError, match="int8"):
        nb.measure(art, MeasureProtocol(precision="int8"))
