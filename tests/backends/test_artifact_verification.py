"""Artifacts are checked against their manifest before anything in them is loaded.

The tampered-library cases run ``nasc measure`` in a subprocess: a TVM library that were
loaded anyway would crash that process (SIGBUS for a truncated one) or time it with exit 0,
so exit 2 with a message naming the file proves the check came first.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nasc.backends as nb
from nasc.backends import ArtifactIntegrityError, MeasureProtocol

from backend_testlib import needs_tvm

QUICK = ["--repeat", "3", "--warmup", "1"]


def nasc(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nasc", *args], capture_output=True, text=True, timeout=timeout)


def copy_artifact(art: nb.Artifact, dest: Path) -> Path:
    shutil.copytree(art.dir, dest, symlinks=True)
    return dest


def flipped_copy(art: nb.Artifact, dest: Path) -> Path:
    """A copy of a TVM artifact whose model.so has one bit flipped in the middle."""
    copy_artifact(art, dest)
    lib = bytearray((dest / "model.so").read_bytes())
    lib[len(lib) // 2] ^= 0x01
    (dest / "model.so").write_bytes(bytes(lib))
    return dest


def edit_manifest(art_dir: Path, **fields: object) -> None:
    path = art_dir / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def assert_refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "nothing was loaded" in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def ort_artifact(tmp_path_factory: pytest.TempPathFactory, tiny_model, tiny_input) -> nb.Artifact:
    return nb.build(tiny_model, tiny_input, target="cpu", backend="onnxruntime",
                    out_dir=tmp_path_factory.mktemp("ort") / "a")


@pytest.mark.tvm
@needs_tvm
def test_tvm_library_with_one_flipped_byte_is_not_loaded(tvm_cpu_artifact, tmp_path: Path) -> None:
    art = flipped_copy(tvm_cpu_artifact, tmp_path / "flipped")
    assert_refused(nasc("measure", str(art), *QUICK), "model.so: changed")
    assert_refused(nasc("measure", str(art), *QUICK, "--isolate"), "model.so: changed")
    # the isolated child checks on its own too (it may be started directly)
    child = subprocess.run([sys.executable, "-m", "nasc.backends.measure_worker", str(art),
                            json.dumps(MeasureProtocol(repeats=3).to_dict())], capture_output=True, text=True)
    assert_refused(child, "model.so: changed")
    with pytest.raises(ArtifactIntegrityError, match="model.so: changed"):
        nb.load_and_run(art, {"x": np.zeros((1, 3, 16, 16), np.float32)})


@pytest.mark.tvm
@needs_tvm
def test_rpc_measurement_checks_before_contacting_the_tracker(tvm_cpu_artifact, tmp_path: Path) -> None:
    art = flipped_copy(tvm_cpu_artifact, tmp_path / "flipped")
    # no tracker listens there: reaching the upload would fail differently (MeasurementUnavailable)
    with pytest.raises(ArtifactIntegrityError, match="model.so: changed"):
        nb.measure(art, MeasureProtocol(repeats=3, rpc="127.0.0.1:9", device_key="nasc-test"))


@pytest.mark.tvm
@needs_tvm
def test_device_runner_checks_the_artifact_too(tvm_cpu_artifact, tmp_path: Path) -> None:
    art = flipped_copy(tvm_cpu_artifact, tmp_path / "flipped")
    proc = subprocess.run([sys.executable, str(art / "run_on_device.py"), "--device", "cpu", "--repeats", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "model.so: changed" in proc.stderr and "nothing was loaded" in proc.stderr
    edit_manifest(art, entry="../../../etc/passwd")
    proc = subprocess.run([sys.executable, str(art / "run_on_device.py"), "--no-verify"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and "outside the artifact" in proc.stderr


@pytest.mark.tvm
@needs_tvm
def test_truncated_tvm_library_is_refused_instead_of_crashing(tvm_cpu_artifact, tmp_path: Path) -> None:
    art = copy_artifact(tvm_cpu_artifact, tmp_path / "truncated")
    with open(art / "model.so", "r+b") as f:
        f.truncate(4096)
    proc = nasc("measure", str(art), *QUICK)
    assert proc.returncode != -7 and proc.returncode != 135  # no SIGBUS
    assert_refused(proc, "model.so: changed", "now 4096 bytes")


@pytest.mark.tvm
@needs_tvm
def test_deleted_library_is_reported_missing(tvm_cpu_artifact, tmp_path: Path) -> None:
    art = copy_artifact(tvm_cpu_artifact, tmp_path / "deleted")
    (art / "io_check.npz").unlink()
    assert_refused(nasc("measure", str(art), *QUICK), "io_check.npz: missing")
    (art / "model.so").unlink()
    proc = nasc("measure", str(art), *QUICK, "--no-verify")
    assert_refused(proc, "model.so: missing")  # layout is checked even without --no-verify's sha256


@pytest.mark.parametrize("entry,why", [("../../../etc/passwd", "outside the artifact ('..' in the path)"),
                                       ("/etc/passwd", "outside the artifact (absolute path)"),
                                       ("./model.onnx", "not a normalized path")])
def test_entry_outside_the_artifact_is_refused(ort_artifact, tmp_path: Path, entry: str, why: str) -> None:
    art = copy_artifact(ort_artifact, tmp_path / "a")
    edit_manifest(art, entry=entry)
    for extra in ([], ["--no-verify"]):  # never skippable: editing an artifact never needs a path out of it
        proc = nasc("measure", str(art), *QUICK, *extra)
        assert_refused(proc, f"entry {entry!r}: {why}")
        assert "--no-verify" not in proc.stderr.split("nothing was loaded")[1]


def test_listed_file_outside_the_artifact_is_refused(ort_artifact, tmp_path: Path) -> None:
    art = copy_artifact(ort_artifact, tmp_path / "a")
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["files"]["../secret"] = "0" * 64
    (art / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactIntegrityError, match=r"\.\./secret: outside the artifact"):
        nb.load_artifact(art)


def test_symlink_leading_out_of_the_artifact_is_refused(ort_artifact, tmp_path: Path) -> None:
    outside = tmp_path / "outside.onnx"
    shutil.copyfile(ort_artifact.dir / "model.onnx", outside)
    art = copy_artifact(ort_artifact, tmp_path / "a")
    (art / "model.onnx").unlink()
    (art / "model.onnx").symlink_to(outside)  # same bytes, so only the confinement check can catch it
    with pytest.raises(ArtifactIntegrityError, match="model.onnx: outside the artifact .a symlink"):
        nb.measure(art, MeasureProtocol(repeats=3, warmup=1), verify=False)


def test_unlisted_loadable_file_is_reported(ort_artifact, tmp_path: Path) -> None:
    art = copy_artifact(ort_artifact, tmp_path / "a")
    (art / "libextra.so").write_bytes(b"\x7fELF")
    with pytest.raises(ArtifactIntegrityError, match="libextra.so: present but not listed in the manifest"):
        nb.measure(art, MeasureProtocol(repeats=3, warmup=1))


def test_no_verify_measures_an_artifact_edited_on_purpose(ort_artifact, tmp_path: Path) -> None:
    import onnx

    art = copy_artifact(ort_artifact, tmp_path / "edited")
    model = onnx.load(str(art / "model.onnx"))
    model.doc_string = "edited by hand"  # still a valid model, different bytes
    onnx.save(model, str(art / "model.onnx"))
    assert_refused(nasc("measure", str(art), *QUICK), "model.onnx: changed", "--no-verify")
    proc = nasc("measure", str(art), *QUICK, "--no-verify", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warning: --no-verify" in proc.stderr
    record = json.loads(proc.stdout)
    assert record["source"] == "measured" and record["protocol"]["verify"] is False


def test_library_api_verifies_by_default_and_can_opt_out(ort_artifact, tmp_path: Path) -> None:
    art = copy_artifact(ort_artifact, tmp_path / "a")
    edit_manifest(art, notes=["a manifest edit changes no file"])
    loaded = nb.load_artifact(art)
    assert nb.verify_files(loaded) == []
    (art / "io_check.npz").write_bytes(b"edited")
    with pytest.raises(ArtifactIntegrityError, match="io_check.npz: changed"):
        nb.load_artifact(art)
    with pytest.raises(ArtifactIntegrityError, match="io_check.npz: changed"):
        nb.measure(loaded, MeasureProtocol(repeats=3, warmup=1))  # an Artifact object is checked as well
    rec = nb.measure(art, MeasureProtocol(repeats=3, warmup=1), verify=False)
    assert rec.protocol["verify"] is False


@pytest.mark.parametrize("bad", [{"files": ["model.onnx"]}, {"entry": 3}, {"input_shapes": {"x": "1x3"}},
                                 {"target": "cpu"}])
def test_malformed_manifest_is_a_user_error(ort_artifact, tmp_path: Path, bad: dict) -> None:
    art = copy_artifact(ort_artifact, tmp_path / "a")
    edit_manifest(art, **bad)
    proc = nasc("measure", str(art), *QUICK)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"field '{next(iter(bad))}'" in proc.stderr
