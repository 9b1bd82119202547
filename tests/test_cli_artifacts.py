"""CLI mistakes around artifacts are user errors: exit 2, a message naming the flag or file, no traceback."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from nasc.cli import main

from .conftest import frozen_arch


@pytest.fixture(scope="module")
def arch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return frozen_arch(tmp_path_factory.mktemp("arch") / "arch.nas", "digits_tiny", 0)


@pytest.fixture(scope="module")
def artifact(arch: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("art") / "ort"
    assert main(["build", str(arch), "--backend", "onnxruntime", "--out", str(out)]) == 0
    return out


def user_error(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("flag,value,message", [
    ("--repeat", "0", "argument --repeat: must be at least 1, got 0"),
    ("--threads", "0", "argument --threads: must be at least 1, got 0"),
    ("--threads", "-2", "argument --threads: must be at least 1, got -2"),
    ("--warmup", "-1", "argument --warmup: must be at least 0, got -1"),
    ("--repeat", "many", "argument --repeat: expected an integer, got 'many'"),
])
def test_measure_bad_numbers(artifact: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str,
                             message: str) -> None:
    user_error(["measure", str(artifact), f"{flag}={value}"], capsys, message)


def test_measure_rpc_without_device_key(artifact: Path, capsys: pytest.CaptureFixture[str]) -> None:
    user_error(["measure", str(artifact), "--rpc", "127.0.0.1:9190"], capsys, "--device-key")


def test_measure_on_a_file(artifact: Path, capsys: pytest.CaptureFixture[str]) -> None:
    user_error(["measure", str(artifact / "model.onnx")], capsys, f"{artifact / 'model.onnx'} is a file")


def test_measure_on_a_folder_without_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    user_error(["measure", str(tmp_path)], capsys, f"{tmp_path} is not a nasc artifact (no manifest.json)")
    user_error(["measure", str(tmp_path / "nowhere")], capsys, f"artifact folder {tmp_path / 'nowhere'} does not exist")


def test_measure_with_deleted_files(artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    art = tmp_path / "a"
    shutil.copytree(artifact, art)
    (art / "model.onnx").unlink()
    user_error(["measure", str(art)], capsys, "model.onnx: missing")
    user_error(["measure", str(art), "--no-verify"], capsys, "model.onnx: missing (the entry)")
    (art / "manifest.json").unlink()
    user_error(["measure", str(art)], capsys, "no manifest.json")


def test_build_bad_numbers(arch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for flag, value in (("--repeat", "0"), ("--batch", "0"), ("--tune-trials", "-1")):
        user_error(["build", str(arch), "--out", str(tmp_path / "o"), flag, value], capsys, f"argument {flag}:")


def test_build_out_is_an_existing_file(arch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "taken"
    f.write_text("keep me")
    user_error(["build", str(arch), "--backend", "onnxruntime", "--out", str(f)], capsys,
               f"--out {f} is a file, not a directory")
    user_error(["build", str(arch), "--backend", "onnxruntime", "--out", str(f / "sub")], capsys,
               f"--out {f / 'sub'}: {f} is a file")
    assert f.read_text() == "keep me"


def unwritable_dir(tmp_path: Path) -> Path:
    """A folder this process cannot write: permission bits where they bind, else sysfs (root)."""
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir(mode=0o500)
        return d
    if not Path("/sys").is_dir() or _can_write("/sys"):
        pytest.skip("running as root with no unwritable folder to point --out at")
    return Path("/sys")


def _can_write(folder: str) -> bool:
    try:
        probe = Path(folder) / ".nasc-probe"
        probe.write_text("")
        probe.unlink()
        return True
    except OSError:
        return False


def test_build_out_in_an_unwritable_folder(arch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = unwritable_dir(tmp_path)
    user_error(["build", str(arch), "--backend", "onnxruntime", "--out", str(d / "nasc-out")], capsys,
               f"--out {d / 'nasc-out'}: cannot write in {d}")
