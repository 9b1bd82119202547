"""One int8 calibration sampler: `nasc opt` and `nasc build --precision int8` draw the same
seeded random sample of the experiment's training split, and every report says where it came from."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasc import api
from nasc.calibration import calibration_dataset, calibration_origin, calibration_sample
from nasc.deploy import calibration_batches, reference_module
from nasc.experiment import resolve

from .conftest import ROOT

DIGITS_ARCH = ROOT / "tests" / "passes" / "fixtures" / "digits_found.nas"  # header: examples/digits.nas :: digits


@pytest.fixture(scope="module")
def digits():
    data = calibration_dataset(resolve(None), (1, 8, 8))
    assert data is not None
    return data


def test_sample_is_seeded_random_and_without_replacement(digits) -> None:
    a, b = calibration_sample(digits, 64, 0), calibration_sample(digits, 64, 0)
    assert a.shape == (64, 1, 8, 8) and torch.equal(a, b)
    assert not torch.equal(a, digits.train.x[:64])  # not the first N: those depend on how the file is ordered
    assert not torch.equal(a, calibration_sample(digits, 64, 1))
    def rows(x: torch.Tensor) -> list[tuple[float, ...]]:
        return sorted(tuple(r.flatten().tolist()) for r in x)

    # asked for more than there is: every training sample exactly once (drawn without replacement)
    assert rows(calibration_sample(digits, 10**6, 0)) == rows(digits.train.x)


def test_data_of_another_shape_is_not_used() -> None:
    assert calibration_dataset(resolve(None), (3, 32, 32)) is None


def test_build_and_opt_calibrate_on_the_same_samples(digits) -> None:
    from nasc.passes.driver import _calibration

    compiled = api.load(DIGITS_ARCH)
    net = reference_module(compiled)
    got = calibration_batches(compiled, net, 32, 0)
    assert got is not None
    batches, origin = got
    assert len(batches) == 32 and all(b["x"].shape == (1, 1, 8, 8) for b in batches)
    opt = _calibration(digits, "x", 0, "sklearn:digits")
    (whole,) = opt.batches(32)
    np.testing.assert_array_equal(np.concatenate([b["x"] for b in batches]), whole["x"].numpy())
    assert origin == opt.source == calibration_origin("sklearn:digits", 0)
    assert origin == "the sklearn:digits training split (seed 0)"


def test_an_arch_without_experiment_gets_no_real_data(tmp_path) -> None:
    from .conftest import frozen_arch

    arch = frozen_arch(tmp_path / "a.nas", "digits_tiny", 0)
    text = "".join(line for line in arch.read_text().splitlines(True) if not line.startswith("# experiment:"))
    arch.write_text(text)
    compiled = api.load(arch)
    assert calibration_batches(compiled, reference_module(compiled), 8, 0) is None


def test_backends_report_the_origin_they_are_given() -> None:
    from nasc.backends.onnxruntime.quantize import calibration_batches as backend_batches

    given = [{"x": np.zeros((1, 1, 8, 8), np.float32)}] * 3
    specs = {"x": ((1, 1, 8, 8), "float32")}
    assert backend_batches(specs, 3, 0, given, calibration_origin("sklearn:digits", 0))[1] == \
        "3 samples of the sklearn:digits training split (seed 0)"
    assert backend_batches(specs, 3, 0, given)[1] == "3 user-supplied batches"
    batches, origin = backend_batches(specs, 2, 0, None)
    assert len(batches) == 2 and origin.startswith("2 random-normal batches (seed 0)")
