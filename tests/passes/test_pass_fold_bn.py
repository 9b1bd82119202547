"""fold-bn: the folded model equals the unfolded one (eval mode) on random weights and BN statistics.

Tolerance: ``max|y_folded - y| <= 1e-5 * max(1, max|y|)`` -- 1e-5 absolute for the
O(1) logits of the digits and DARTS examples; relative for nets whose random BN
statistics blow the logits up (NAS-Bench-201 reaches |y| ~ 1e3, where float32 rounding of
the reference alone is ~1e-4).  Folding is computed in float64, so what remains is the
float32 rounding of one product per weight.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasc.passes.execute import OptNet
from nasc.passes.verify import verify
from passes_testlib import (EXAMPLES, GOLDEN_ARCH, example_archs, example_input, fixed_ir, frozen_example, run,
                            torch_threads)

TOL = 1e-5


def _check(path: Path, seed: int = 0) -> tuple[int, int]:
    ir, net, graph, lib = fixed_ir(path, seed)
    folded = run(ir, lib, "fold-bn")
    verify(folded, lib)
    x = example_input(graph, 4, seed)
    with torch.no_grad():
        ref = net.eval()(x)
        out = OptNet(folded, lib)(x)
    err = float((out - ref).abs().max())
    assert err <= TOL * max(1.0, float(ref.abs().max())), (path.name, err)
    bn_before = sum(1 for n in ir.ops() if n.op == "bn")
    bn_after = sum(1 for n in folded.ops() if n.op == "bn")
    return bn_before, bn_after


def test_golden_arch_folds_all_but_the_bn_after_an_add() -> None:
    with torch_threads(1):
        before, after = _check(GOLDEN_ARCH)
    assert (before, after) == (8, 1)


def test_every_example(tmp_path: Path) -> None:
    with torch_threads(1):
        for ex in example_archs():
            before, after = _check(frozen_example(ex, tmp_path))
            assert after < before or before == 0, ex.stem


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arch_seed=st.integers(0, 10_000), weight_seed=st.integers(0, 10_000))
def test_random_digits_archs(tmp_path: Path, arch_seed: int, weight_seed: int) -> None:
    with torch_threads(1):
        _check(frozen_example(EXAMPLES / "digits.nas", tmp_path, arch_seed), weight_seed)


def test_folded_weights_keep_their_origin() -> None:
    ir, _, _, lib = fixed_ir(GOLDEN_ARCH)
    folded = run(ir, lib, "fold-bn")
    conv = folded.node(1)
    assert conv.attr["bias"] is True and "bias" in folded.weights[1]
    assert folded.origin[1] == "layers.n1_conv + layers.n2_bn"
    assert 2 not in folded  # the BN node is gone; its consumer reads the conv
    assert folded.node(3).inputs == (1,)


def test_batchnorm_must_come_before_fusion() -> None:
    from nasc.passes.base import PassFailure

    ir, _, _, lib = fixed_ir(GOLDEN_ARCH)
    with pytest.raises(PassFailure, match="run it before fuse"):
        run(ir, lib, "fuse,fold-bn")
