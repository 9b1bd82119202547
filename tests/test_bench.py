"""`nasc bench`: a real ONNX Runtime artifact timed against the shipped reference workload.

The timed runs use 3 rounds and a wide tolerance: these tests check what the gate does with
a figure (write, compare, refuse, explain); how often it is fooled by noise is measured by
benchmarks/bench_gate.py.  Every refusal is checked to come before any timing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from nasc import api
from nasc.backends.integrity import sha256_file
from nasc.bench import reference
from nasc.bench.baseline import MAX_BYTES, Baseline
from nasc.backends import MeasureProtocol
from nasc.backends.timing import time_paired_calls
from nasc.bench.gate import judge
from nasc.cli import main
from nasc.deploy import build_arch

from .conftest import frozen_arch

# The reference workload's sha256, written out here on purpose: a changed reference.onnx
# changes every baseline's ratio, so changing it must mean editing this test too.
REFERENCE_SHA256 = "59277a670d94b82cdf5360d86b6b628af84b290436ae579a907ead507b00d97d"
FAST = ["--rounds", "3", "--tolerance", "50"]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    arch = frozen_arch(tmp_path_factory.mktemp("arch") / "arch.nas", "digits_tiny", 0)
    out = tmp_path_factory.mktemp("art") / "ort"
    assert main(["build", str(arch), "--backend", "onnxruntime", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def baseline(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("baseline") / "base.json"
    assert main(["bench", str(artifact), *FAST, "--write-baseline", str(path)]) == 0
    return path


def edited(baseline: Path, tmp_path: Path, **changes: Any) -> Path:
    """A copy of ``baseline`` with ``section.key``-style changes (``artifact__backend="tvm"``)."""
    doc = json.loads(baseline.read_text())
    for dotted, value in changes.items():
        *sections, key = dotted.split("__")
        block = doc
        for s in sections:
            block = block[s]
        block[key] = value
    out = tmp_path / "edited.json"
    out.write_text(json.dumps(doc))
    return out


def user_error(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "Traceback" not in err and "internal error" not in err
    assert "[bench] round" not in err, "refused only after timing"
    for needle in needles:
        assert needle in err, err
    return err


def until_a_verdict(argv: list[str], capsys: pytest.CaptureFixture[str], tries: int = 3) -> tuple[int, str]:
    """``nasc bench`` run as `make gate` runs it: a run too noisy for a verdict (exit 3) is tried
    again, up to ``tries`` times; the last exit code and its stdout."""
    code, out = 3, ""
    for _ in range(tries):
        capsys.readouterr()
        code = main(argv)
        out = capsys.readouterr().out
        if code != 3:
            break
    return code, out


def test_the_reference_workload_is_pinned() -> None:
    assert reference.SHA256 == REFERENCE_SHA256
    assert sha256_file(reference.ONNX) == REFERENCE_SHA256
    reference.check_shipped()


def test_the_reference_workload_is_its_arch_built_from_seed_0(tmp_path: Path) -> None:
    art = build_arch(api.load(reference.ARCH), tmp_path / "ref", backend=reference.BACKEND, seed=reference.SEED)
    assert art.files["model.onnx"] == REFERENCE_SHA256


def test_an_altered_reference_is_refused(tmp_path: Path) -> None:
    altered = tmp_path / "reference.onnx"
    altered.write_bytes(reference.ONNX.read_bytes() + b"\0")
    with pytest.raises(Exception, match="not the pinned"):
        reference.check_shipped(altered)


def test_baseline_written_then_compared(artifact: Path, baseline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(baseline.read_text())
    assert doc["format"] == "nasc-bench-baseline/1"
    assert doc["artifact_over_reference"] > 0 and len(doc["rounds"]) == 3
    assert doc["artifact"]["backend"] == "onnxruntime" and doc["artifact"]["source"] == "measured"
    assert doc["artifact"]["manifest_sha256"] == sha256_file(artifact / "manifest.json")
    assert doc["reference"]["sha256"] == REFERENCE_SHA256 and doc["reference"]["backend"] == "onnxruntime"
    assert {"rounds", "threads", "samples", "timer"} <= set(doc["protocol"])
    # one thread by default: each round one process timing both sides in alternating samples
    assert doc["protocol"]["threads"] == 1 and doc["protocol"]["timing"] == "paired"
    assert "alternating samples" in doc["artifact"]["how"] and "alternating samples" in doc["reference"]["how"]
    assert str(artifact) not in baseline.read_text(), "a baseline names no path of the machine it was made on"

    # the same artifact against its own baseline: only load from the other test worker moves the
    # figure (a clean-clone run saw +50.5%), so the tolerance is wide -- what is checked here is the
    # comparison's bookkeeping; test_a_much_smaller_baseline_ratio_is_a_regression checks the verdict
    same = ["--rounds", "3", "--tolerance", "150"]
    code, out = until_a_verdict(["bench", str(artifact), *same, "--baseline", str(baseline), "--json"], capsys)
    result = json.loads(out)
    assert code == 0, result["comparison"]["reason"]
    assert result["comparison"]["verdict"] == "ok" and result["comparison"]["same_artifact"]
    assert result["comparison"]["reason"].startswith("ok: artifact_over_reference ")


@pytest.mark.parametrize("threads", [1, 2])
def test_a_much_smaller_baseline_ratio_is_a_regression(artifact: Path, baseline: Path, tmp_path: Path, threads: int,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Paired rounds (one thread) and a fresh process per side (two) reach the same verdict.

    A baseline a fifth of the figure and a tolerance of 100%: beside the other test worker, a
    fresh process per side at two threads once spread its 3 rounds by 115%, inconclusive at a
    tolerance of 50%; a run still too noisy (exit 3) is tried again, as `make gate` does."""
    figure = json.loads(baseline.read_text())["artifact_over_reference"]
    smaller = edited(baseline, tmp_path, artifact_over_reference=figure / 5, protocol__threads=threads)
    code, out = until_a_verdict(["bench", str(artifact), "--rounds", "3", "--tolerance", "100", "--threads",
                                 str(threads), "--baseline", str(smaller)], capsys)
    assert code == 1
    lines = out.strip().splitlines()
    reason = [ln for ln in lines if "regression" in ln]
    assert reason == [lines[-1]], lines
    assert reason[0].startswith("regression: artifact_over_reference ")
    assert f"above the baseline's {figure / 5:.4f} (tolerance +100%, baseline {smaller})" in reason[0]


@pytest.mark.parametrize("field,value,message", [
    ("artifact__backend", "tvm", "artifact.backend is 'onnxruntime' here but 'tvm' in the baseline"),
    ("artifact__target", "jetson-orin-nano", "artifact.target is 'cpu' here"),
    ("artifact__precision", "int8", "artifact.precision is 'fp32' here"),
    ("reference__sha256", "0" * 64, "reference.sha256"),
    ("protocol__threads", 2, "protocol.threads is 1 here but 2"),
])
def test_a_baseline_of_other_conditions_is_refused(artifact: Path, baseline: Path, tmp_path: Path, field: str,
                                                   value: object, message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    other = edited(baseline, tmp_path, **{field: value})
    user_error(["bench", str(artifact), "--baseline", str(other)], capsys, "not comparable", message)


@pytest.mark.parametrize("content,message", [
    (b"not json", "is not valid JSON"),
    (b"\x80\x04\x95pickle", "is not valid JSON"),
    (b"[1, 2]", "the document is a JSON list"),
    (b'{"format": "other/1"}', "format is 'other/1'"),
    (b'{"format": "nasc-bench-baseline/1", "artifact_over_reference": NaN}', "is not valid JSON"),
    (b'{"format": "nasc-bench-baseline/1", "artifact_over_reference": -1}', "must be a positive number"),
    (b'{"format": "nasc-bench-baseline/1", "artifact_over_reference": 1.0}', "'artifact.backend' must be"),
    (b" " * (MAX_BYTES + 1), "larger than"),
])
def test_a_malformed_baseline_is_refused(artifact: Path, tmp_path: Path, content: bytes, message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    user_error(["bench", str(artifact), "--baseline", str(bad)], capsys, f"baseline {bad}", message)


def test_a_mistyped_field_is_refused(artifact: Path, baseline: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    user_error(["bench", str(artifact), "--baseline", str(edited(baseline, tmp_path, protocol__threads="2"))],
               capsys, "'protocol.threads' must be an integer")
    user_error(["bench", str(artifact), "--baseline", str(edited(baseline, tmp_path, reference__sha256="abc"))],
               capsys, "'reference.sha256' must be 64 lowercase hex digits")


def test_a_missing_baseline_says_how_to_write_one(artifact: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.json"
    user_error(["bench", str(artifact), "--baseline", str(missing)], capsys, f"--write-baseline {missing}")
    assert not missing.exists()


def test_a_changed_artifact_is_refused_before_loading(artifact: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    art = tmp_path / "a"
    shutil.copytree(artifact, art)
    with (art / "model.onnx").open("ab") as f:
        f.write(b"\0")
    user_error(["bench", str(art)], capsys, "model.onnx: changed", "nothing was loaded")


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "lots"])
def test_bad_tolerance(artifact: Path, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    user_error(["bench", str(artifact), f"--tolerance={value}"], capsys, "argument --tolerance:")


def test_the_verdict_is_strictly_above_the_tolerance() -> None:
    base = Baseline(Path("b.json"), 0.5, {}, "", "", "")
    assert not judge(0.575, base, 15.0).regressed  # exactly +15%
    over = judge(0.58, base, 15.0)
    assert over.regressed and over.reason == ("regression: artifact_over_reference 0.5800 is 16.0% above the "
                                              "baseline's 0.5000 (tolerance +15%, baseline b.json)")
    assert judge(0.25, base, 15.0).reason.startswith("ok: artifact_over_reference 0.2500 is 50.0% below")


def test_a_run_too_noisy_for_its_tolerance_is_inconclusive() -> None:
    base = Baseline(Path("b.json"), 0.5, {}, "", "", "")
    steady = judge(0.65, base, 10.0, spread=0.2)  # exactly two tolerances: still judged
    assert steady.regressed and not steady.inconclusive and steady.word == "regression"
    noisy = judge(0.65, base, 10.0, spread=0.36)
    assert noisy.inconclusive and not noisy.regressed and noisy.word == "inconclusive"
    assert noisy.reason.startswith("inconclusive: artifact_over_reference 0.6500 is 30.0% above")
    assert "spread 36%" in noisy.reason


def test_write_baseline_into_a_folder_is_refused(artifact: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    user_error(["bench", str(artifact), "--write-baseline", str(tmp_path)], capsys, "is a folder")


def test_paired_calls_alternate_sample_by_sample_after_every_warmup() -> None:
    """What makes the paired figure steady: each side's samples adjacent to the other's, the
    order rotating, warm-ups done before the first sample."""
    log: list[str] = []
    calls = [lambda: log.append("a"), lambda: log.append("r")]
    protos = [MeasureProtocol(warmup=2, repeats=3, number=2), MeasureProtocol(warmup=1, repeats=3, number=1)]
    samples = time_paired_calls(calls, protos, pairs=3)
    assert "".join(log) == "aa" + "r" + "aar" + "raa" + "aar"
    assert [len(s) for s in samples] == [3, 3]

