"""Weights files carry the sha256 of their tensors; every nasc command that loads them checks it,
and checks that the tensors fit the arch (names, shapes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from nasc import api
from nasc.cli import main
from nasc.deploy import reference_module
from nasc.weights import CONTENTS_KEY, WeightsError, contents_sha256, load_weights, save_weights

from .conftest import EXAMPLES, frozen_arch

BUILD = ["--target", "cpu", "--backend", "onnxruntime"]


@pytest.fixture(scope="module")
def arch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return frozen_arch(tmp_path_factory.mktemp("arch") / "arch.nas", "digits", 0)


@pytest.fixture(scope="module")
def weights(arch: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "weights.safetensors"
    save_weights(path, reference_module(api.load(arch), seed=3).state_dict(), {"arch": "test"})
    return path


def build(arch: Path, weights: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["build", str(arch), "--weights", str(weights), *BUILD, "--out", str(out)])
    return code, capsys.readouterr().err


def flip_one_bit(src: Path, dest: Path, offset_from_end: int = 64) -> Path:
    data = bytearray(src.read_bytes())
    data[len(data) - offset_from_end] ^= 0x10
    dest.write_bytes(bytes(data))
    return dest


def test_hash_is_recorded_and_ignores_memory_layout(weights: Path) -> None:
    with safe_open(str(weights), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    assert meta[CONTENTS_KEY] == contents_sha256(tensors)[0] and meta["arch"] == "test"
    t = torch.arange(6.0).reshape(2, 3)
    assert contents_sha256({"a": t.t()}) == contents_sha256({"a": t.t().contiguous()})
    assert contents_sha256({"a": t})[0] != contents_sha256({"b": t})[0]  # names are part of it
    assert contents_sha256({"a": t})[0] != contents_sha256({"a": t.reshape(3, 2)})[0]  # shapes too
    assert contents_sha256({"a": t})[0] != contents_sha256({"a": t.double()})[0]  # and dtypes


def test_intact_weights_build(arch: Path, weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = build(arch, weights, tmp_path / "ok", capsys)
    assert code == 0, err
    assert "warning" not in err


def test_bit_flipped_weights_are_refused_by_build(arch: Path, weights: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = flip_one_bit(weights, tmp_path / "flipped.safetensors")
    code, err = build(arch, bad, tmp_path / "out", capsys)
    assert code == 2 and "Traceback" not in err
    assert str(bad) in err and "differ from the sha256 recorded" in err and "changed" in err
    assert not (tmp_path / "out").exists()


def test_truncated_weights_are_refused_by_build(arch: Path, weights: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(weights.read_bytes()[:-100])
    code, err = build(arch, bad, tmp_path / "out", capsys)
    assert code == 2 and "Traceback" not in err
    assert f"cannot read weights {bad}" in err and "truncated or corrupt" in err


def test_weights_of_another_arch_are_refused(arch: Path, weights: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    other = frozen_arch(tmp_path / "other.nas", "digits", 1)
    code, err = build(other, weights, tmp_path / "out", capsys)
    assert code == 2 and "Traceback" not in err
    assert f"weights {weights} do not match arch" in err and "is missing" in err


def test_wrong_shape_is_named(arch: Path, weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = load_weights(weights)
    name = next(k for k, v in state.items() if v.dim() == 4)
    state[name] = torch.zeros(*state[name].shape[:-1], state[name].shape[-1] + 1)
    bad = tmp_path / "shape.safetensors"
    save_weights(bad, state)  # an honest file, hash and all, for the wrong shapes
    code, err = build(arch, bad, tmp_path / "out", capsys)
    assert code == 2 and "Traceback" not in err
    assert f"tensor '{name}' has shape" in err


def test_weights_from_other_tools_load_with_a_warning(arch: Path, weights: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain.safetensors"
    save_file(load_weights(weights), str(plain))
    code, err = build(arch, plain, tmp_path / "out", capsys)
    assert code == 0, err
    assert f"warning: weights {plain} carry no nasc content hash" in err and "cannot be verified" in err


def test_opt_refuses_flipped_weights_with_the_same_check(arch: Path, weights: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    bad = flip_one_bit(weights, tmp_path / "flipped.safetensors")
    capsys.readouterr()
    assert main(["opt", str(arch), "-w", str(bad), "-p", "fold-bn", "--out", str(tmp_path / "opt")]) == 2
    err = capsys.readouterr().err
    assert "differ from the sha256 recorded" in err and "Traceback" not in err


def test_opt_output_weights_carry_their_hash_and_build_from_checks_them(
        arch: Path, weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    opt = tmp_path / "opt"
    assert main(["opt", str(arch), "-w", str(weights), "-p", "fold-bn", "--out", str(opt)]) == 0
    with safe_open(str(opt / "weights.safetensors"), framework="pt") as f:
        assert CONTENTS_KEY in f.metadata()
    flip_one_bit(opt / "weights.safetensors", opt / "weights.safetensors")
    capsys.readouterr()
    assert main(["build", "--from", str(opt), *BUILD, "--out", str(tmp_path / "art")]) == 2
    assert "differ from the sha256 recorded" in capsys.readouterr().err


def test_train_writes_verifiable_weights(arch: Path, tmp_path: Path) -> None:
    out = tmp_path / "train"
    assert main(["train", str(arch), "--out", str(out), "--experiment", f"{EXAMPLES / 'digits.nas'}:digits",
                 "--set", "train.epochs=1"]) == 0
    warnings: list[str] = []
    state = load_weights(out / "weights.safetensors", warn=warnings.append,
                         expected=reference_module(api.load(arch)).state_dict())
    assert state and warnings == []
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1
    # no temporaries left (train.jsonl: the epochs' log)
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "train.jsonl", "weights.safetensors"]


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="weights file not found"):
        load_weights(tmp_path / "none.safetensors")
