"""Fuzzing the command line: any combination of flags and experiment values a user can type
ends in exit 0 or exit 2 with a message -- never a traceback, never exit 1.

Values are drawn around the edges that matter (zero, negative, huge, wrong type, unquoted
strings, paths that are files, directories or missing) and runs stay small (a search or a
retraining of at most 2 epochs on the tiny digits space), so each example costs seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasc.cli import main

from .conftest import EXAMPLES

SPACE = str(EXAMPLES / "digits_tiny.nas")

NUMBERS = st.sampled_from(["-1", "0", "1", "2", "0.5", "-0.1", "1e9", "abc", "true", "", "3s", '"x"', "1 +"])
SMALL_EPOCHS = st.sampled_from(["-1", "0", "1", "2", "1.5", "x"])
SETTABLE = ["seed", "split.train", "split.val", "split.test", "search.order", "search.batch", "search.w_lr",
            "search.w_lr_min", "search.w_momentum", "search.a_lr", "search.a_beta1", "search.tau_start",
            "search.tau_end", "search.partial_channels", "search.penalty", "search.skip_warn", "search.beam",
            "search.warmup", "search.algo", "train.batch", "train.lr", "train.momentum", "budget.wallclock",
            "dataset", "search.nope", "nosection.key", "=", "search."]
ALGOS = st.sampled_from(["darts", "gdas", "snas", "fairdarts", "pcdarts", "dart", "DARTS"])


VALID = {"seed": "3", "search.order": "2", "search.w_lr": "0.1", "search.a_lr": "0.01", "search.beam": "2",
         "search.tau_start": "5.0", "search.penalty": "0", "search.skip_warn": "0.9", "search.algo": '"gdas"',
         "train.lr": "0.1", "train.momentum": "0.5", "budget.wallclock": "600s", "dataset": '"sklearn:digits"'}


@st.composite
def overrides(draw: st.DrawFn) -> list[str]:
    """Half the examples use only valid values (so real runs happen), half anything at all."""
    if draw(st.booleans()):
        out = ["--set", f"search.epochs={draw(st.sampled_from(['1', '2']))}", "--set", "train.epochs=1"]
        keys = draw(st.lists(st.sampled_from(sorted(VALID)), max_size=2, unique=True))
        return out + ["--set", "search.batch=256", "--set", "train.batch=256"] + \
            [x for k in keys for x in ("--set", f"{k}={VALID[k]}")]
    out = ["--set", f"search.epochs={draw(SMALL_EPOCHS)}", "--set", f"train.epochs={draw(SMALL_EPOCHS)}",
           "--set", "search.batch=256", "--set", "train.batch=256"]
    for key in draw(st.lists(st.sampled_from(SETTABLE), max_size=3)):
        value = draw(ALGOS) if key == "search.algo" else draw(NUMBERS)
        out += ["--set", f"{key}={value}"]
    return out


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    return rc, err


def assert_contract(argv: list[str], rc: int, err: str) -> None:
    assert rc in (0, 2), f"nasc {' '.join(argv)} exited {rc}:\n{err}"
    assert "Traceback" not in err, f"nasc {' '.join(argv)} printed a traceback:\n{err}"
    if rc == 2:
        assert "error" in err, f"exit 2 without a message: nasc {' '.join(argv)}"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small ONNX Runtime artifact to measure."""
    root = tmp_path_factory.mktemp("cli_fuzz")
    arch = root / "arch.nas"
    assert main(["freeze", SPACE, "--random", "0", "-o", str(arch)]) == 0
    out = root / "art"
    assert main(["build", str(arch), "--backend", "onnxruntime", "--out", str(out)]) == 0
    return out


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=overrides(), command=st.sampled_from(["search", "train-arch"]))
def test_search_and_train_with_any_experiment_values(extra: list[str], command: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"run{abs(hash(tuple(extra)))}"
    if command == "search":
        argv = ["search", SPACE, "--out", str(out), *extra]
    else:
        arch = tmp_path / "arch.nas"
        if not arch.exists():
            assert main(["freeze", SPACE, "--random", "1", "-o", str(arch)]) == 0
        argv = ["train", str(arch), "--experiment", f"{SPACE}:smoke", "--out", str(out), *extra]
    rc, err = run(argv, capsys)
    assert_contract(argv, rc, err)
    if rc == 0 and command == "search":
        summary = json.loads((out / "summary.json").read_text())
        assert summary["epochs"] >= 1  # a search that ran no epoch never reports success


INTS = st.sampled_from(["-5", "-1", "0", "1", "3", "x", "1.5", "99999999999999999999"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(repeat=INTS, warmup=INTS, threads=INTS, which=st.sampled_from(["artifact", "file", "missing", "dir"]))
def test_measure_with_any_flags(repeat: str, warmup: str, threads: str, which: str, artifact: Path,
                                tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = {"artifact": artifact, "file": artifact / "manifest.json", "missing": tmp_path / "nope",
              "dir": tmp_path}[which]
    argv = ["measure", str(target), "--repeat", repeat, "--warmup", warmup, "--threads", threads, "--json"]
    rc, err = run(argv, capsys)
    assert_contract(argv, rc, err)
    if rc == 0:
        assert which == "artifact" and int(repeat) >= 1 and int(threads) >= 1 and int(warmup) >= 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(["cpu", "cpuu", "jetson", "jetson-orin-nano", "", "CPU"]),
       backend=st.sampled_from(["auto", "onnxruntime", "onnxrt", "tensorrt", "tvm", "torch", "x"]),
       precision=st.sampled_from(["fp32", "fp16", "int8", "bf16", "fp8"]),
       flag=st.sampled_from([[], ["--batch", "0"], ["--batch", "-2"], ["--repeat", "0"], ["--seed", "-1"],
                             ["--tune-trials", "-3"], ["--weights", "/nonexistent.safetensors"]]))
def test_build_rejects_bad_requests_cleanly(target: str, backend: str, precision: str, flag: list[str],
                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = tmp_path / "arch.nas"
    if not arch.exists():
        assert main(["freeze", SPACE, "--random", "2", "-o", str(arch)]) == 0
    cheap = backend in ("onnxruntime", "torch") and not flag and target == "cpu"
    if not cheap and not any(x in (backend, target, precision) for x in ("cpuu", "onnxrt", "x", "", "CPU", "fp8")):
        flag = flag or ["--batch", "0"]  # keep the example cheap: something in it must be rejected up front
    argv = ["build", str(arch), "--target", target, "--backend", backend, "--precision", precision,
            "--out", str(tmp_path / "b"), *flag]
    rc, err = run(argv, capsys)
    assert_contract(argv, rc, err)
