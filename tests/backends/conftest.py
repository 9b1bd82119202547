"""Fixtures for backend tests (models and helpers live in backend_testlib.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from backend_testlib import HAS_TVM, TinyNet, randomised


@pytest.fixture(scope="session")
def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return randomised(TinyNet())


@pytest.fixture(scope="session")
def tiny_input() -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32)}


@pytest.fixture(scope="session")
def tiny_reference(tiny_model: nn.Module, tiny_input: dict[str, np.ndarray]) -> np.ndarray:
    with torch.inference_mode():
        return tiny_model(torch.from_numpy(tiny_input["x"])).numpy()


@pytest.fixture(scope="session")
def tvm_cpu_artifact(tmp_path_factory: pytest.TempPathFactory, tiny_model: nn.Module,
                     tiny_input: dict[str, np.ndarray]):
    """One untuned CPU TVM build shared by the TVM tests (a build costs ~6 s)."""
    if not HAS_TVM:
        pytest.skip("apache-tvm not installed")
    from nasc.backends import build

    return build(tiny_model, tiny_input, target="cpu", backend="tvm", out_dir=tmp_path_factory.mktemp("tvm") / "cpu")
