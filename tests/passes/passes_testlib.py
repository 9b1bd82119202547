"""Helpers for the pass tests: fixed archs with reproducible random weights, a trained digits model.

Not a conftest.py: tests/backends already has a rootless conftest module, and a second one
would collide under pytest's default import mode; tests import from here instead.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import pytest
import torch

from nasc.backends.torch_ref.model import randomize_bn

from nasc import api
from nasc.ir.graph import IRGraph
from nasc.ir.ops import OpLibrary
from nasc.lower.arch import ArchNet
from nasc.passes.base import Calibration, PassContext, parse_pipeline
from nasc.passes.optir import OptIR
from nasc.passes.from_arch import from_arch
from nasc.passes.registry import default_registry

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
EXAMPLES = ROOT / "examples"
GOLDEN_ARCH = FIXTURES / "golden_arch.nas"
DIGITS_ARCH = FIXTURES / "digits_found.nas"
UPDATE = os.environ.get("NASC_UPDATE_GOLDEN") == "1"


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Few threads: on a shared 2-core machine, 2 OpenMP threads competing with another
    process made `nasc train` 40x slower (125 s instead of 3 s for 8 epochs)."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def load_graph(path: Path | str) -> tuple[IRGraph, OpLibrary, str]:
    c = api.load(path)
    arch = c.elaborate()
    return arch.graph.prune(), c.loader.ops, arch.name


def random_archnet(graph: IRGraph, lib: OpLibrary, seed: int = 0) -> ArchNet:
    """ArchNet with random weights *and* random BN statistics/affines (eval mode), so a pass
    that mishandled BN would be visibly wrong."""
    torch.manual_seed(seed)
    net = ArchNet(graph, lib)
    return randomize_bn(net, seed + 1)


def example_input(graph: IRGraph, batch: int = 4, seed: int = 0) -> torch.Tensor:
    shape = graph.node(graph.inputs[0]).shape
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *[d for d in shape[1:]], generator=g)


def fixed_ir(path: Path | str = GOLDEN_ARCH, seed: int = 0) -> tuple[OptIR, ArchNet, IRGraph, OpLibrary]:
    graph, lib, name = load_graph(path)
    net = random_archnet(graph, lib, seed)
    return from_arch(graph, lib, net.state_dict(), name), net, graph, lib


def random_calibration(graph: IRGraph, n: int = 64, seed: int = 0) -> Calibration:
    name = graph.node(graph.inputs[0]).name or "x"

    def batches(k: int) -> list[dict[str, torch.Tensor]]:
        return [{name: example_input(graph, min(n, k), seed + 7)}]

    return Calibration(batches, f"{n} fixed random-normal samples (tests)")


def run(ir: OptIR, lib: OpLibrary, pipeline: str, calibration: Calibration | None = None) -> OptIR:
    return parse_pipeline(pipeline, default_registry()).run(ir, PassContext(lib, calibration)).ir


def example_archs() -> list[Path]:
    return sorted(EXAMPLES.glob("*.nas"))


def frozen_example(path: Path, tmp: Path, seed: int = 0) -> Path:
    """A random arch of an example space, written as a file (the experiment is irrelevant here)."""
    c = api.load(path)
    out = tmp / f"{path.stem}_{seed}.nas"
    out.write_text(api.freeze(c, None, [], seed, out_dir=tmp).text)
    return out


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits example's searched arch, retrained briefly (10 epochs, one thread: ~4 s)."""
    from nasc.experiment import resolve, select
    from nasc.train import train

    out = tmp_path_factory.mktemp("digits_train")
    compiled = api.load(DIGITS_ARCH)
    exp, _ = select(api.load(EXAMPLES / "digits.nas").module, "digits")
    cfg = resolve(exp, ["train.epochs=10"])
    with torch_threads(1):
        train(compiled, cfg, out)
    return out / "weights.safetensors"
