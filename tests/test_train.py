"""Retraining and datasets: `nasc train` writes weights and metrics; npz and folder data load deterministically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from nasc import api
from nasc.cli import main
from nasc.errors import NascError
from nasc.ir.cost import arch_cost
from nasc.lower.arch import ArchNet
from nasc.search.data import load_dataset

from .conftest import EXAMPLES

SPLIT = {"train": 0.6, "val": 0.2, "test": 0.2}


def test_train_cli_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = tmp_path / "arch.nas"
    assert main(["freeze", str(EXAMPLES / "digits.nas"), "--random", "3", "-o", str(arch)]) == 0
    out = tmp_path / "train"
    assert main(["train", str(arch), "--out", str(out), "--experiment", f"{EXAMPLES / 'digits.nas'}:digits",
                 "--set", "train.epochs=3"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m) >= {"test_accuracy", "params", "macs", "epochs", "seconds"}
    assert 0.5 < m["test_accuracy"] <= 1.0 and m["epochs"] == 3  # 3 epochs already learn digits
    compiled = api.load(arch)
    space = compiled.elaborate()
    assert m["params"] == arch_cost(space.graph.prune(), space.ops).params
    state = load_file(str(out / "weights.safetensors"))
    net = ArchNet(space.graph.prune(), space.ops)
    net.load_state_dict(state)  # the saved weights load into the arch's reference module
    assert sum(p.numel() for p in net.parameters()) == m["params"]


@pytest.mark.parametrize("name", ["digits_tiny", "nb201", "darts", "edge_budget", "mbv2_macro"])
def test_reference_module_has_exactly_the_cost_models_parameters(name: str) -> None:
    compiled = api.load(EXAMPLES / f"{name}.nas")
    frozen = api.freeze(compiled, seed=5)
    net = ArchNet(frozen.arch.graph, compiled.loader.ops)
    assert sum(p.numel() for p in net.parameters()) == arch_cost(frozen.arch.graph, compiled.loader.ops).params
    x = net.example_inputs(batch=2)
    assert net.eval()(*x).shape[0] == 2


def test_npz_dataset_is_split_deterministically(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(50, 6, 6)).astype(np.float32), y=rng.integers(0, 3, 50))
    a = load_dataset(f"npz:{tmp_path / 'd.npz'}", SPLIT, seed=1)
    b = load_dataset(f"npz:{tmp_path / 'd.npz'}", SPLIT, seed=1)
    assert a.input_shape == (1, 6, 6) and a.classes == 3
    assert (len(a.train), len(a.val), len(a.test)) == (30, 10, 10)
    assert torch.equal(a.test.x, b.test.x)
    other = load_dataset(f"npz:{tmp_path / 'd.npz'}", SPLIT, seed=2)
    assert not torch.equal(other.test.x, a.test.x)  # the seed decides the split
    batches = [y for _, y in a.train.batches(8, seed=1, epoch=0)]
    assert [len(y) for y in batches] == [8, 8, 8, 6]
    assert torch.equal(torch.cat(batches).sort().values, a.train.y.sort().values)


def test_folder_dataset(tmp_path: Path) -> None:
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(5):
            np.save(tmp_path / label / f"{i}.npy", np.full((2, 4, 4), i, dtype=np.float32))
    d = load_dataset(f"folder:{tmp_path}", SPLIT, seed=0)
    assert d.classes == 2 and d.input_shape == (2, 4, 4) and len(d.train) + len(d.val) + len(d.test) == 10


def test_missing_dataset_is_a_clear_error() -> None:
    with pytest.raises(NascError, match="dataset file not found"):
        load_dataset("npz:/nonexistent/d.npz", SPLIT, 0)
    with pytest.raises(NascError, match="unknown dataset 'cifar99'"):
        load_dataset("cifar99", SPLIT, 0)
