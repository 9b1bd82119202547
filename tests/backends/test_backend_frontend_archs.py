"""Acceptance: frozen archs of an example space, built as the frontend's ArchNet, give torch's outputs
on every CPU backend available here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import nasc.backends as nb

from backend_testlib import HAS_TVM, rel_err

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _arch(example: str, seed: int):
    from nasc import api
    from nasc.lower.arch import ArchNet

    compiled = api.load(EXAMPLES / f"{example}.nas")
    frozen = api.freeze(compiled, seed=seed)
    net = ArchNet(frozen.arch.graph, compiled.loader.ops).eval()
    rng = np.random.default_rng(seed)
    inputs = {n: rng.standard_normal(s).astype(np.float32) for n, s in zip(net.input_names, net.input_shapes)}
    with torch.inference_mode():
        out = net(*[torch.from_numpy(v) for v in inputs.values()])
    ref = (out if isinstance(out, torch.Tensor) else out[0]).numpy()
    return net, inputs, ref


@pytest.mark.parametrize("seed", [0, 1])
def test_digits_archs_onnxruntime(seed: int, tmp_path: Path) -> None:
    net, inputs, ref = _arch("digits_tiny", seed)
    art = nb.build(net, inputs, target="cpu", backend="onnxruntime",
                   options=nb.BuildOptions(output_names=tuple(net.output_names)), out_dir=tmp_path / "ort")
    assert art.output_names == tuple(net.output_names)
    assert rel_err(nb.load_and_run(art, inputs)[0], ref) < 1e-4


@pytest.mark.tvm
@pytest.mark.skipif(not HAS_TVM, reason="apache-tvm not installed")
def test_digits_arch_tvm(tmp_path: Path) -> None:
    net, inputs, ref = _arch("digits_tiny", 0)
    art = nb.build(net, inputs, target="cpu", backend="tvm", out_dir=tmp_path / "tvm")
    assert "folded" in art.details["bn_folding"] or art.details["bn_folding"] == "no BatchNorm layers"
    assert rel_err(nb.load_and_run(art, inputs)[0], ref) < 1e-4
