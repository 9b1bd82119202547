"""Files and values a user hands over: checkpoints never run code, datasets are never
unpickled, experiment values are range-checked -- each mistake is exit 2 with a message
naming the file or key, and nothing is written for a run that cannot start."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasc.cli import main
from nasc.search.run import CHECKPOINT

from .conftest import EXAMPLES, ROOT

SPACE = str(EXAMPLES / "digits_tiny.nas")
ONE_EPOCH = ["--set", "search.epochs=1", "--set", "search.batch=256"]


class _Payload:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: D105
        return (os.system, (f"touch {self.marker}",))


def _nasc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nasc", *args], capture_output=True, text=True, timeout=600)


def test_a_crafted_checkpoint_runs_no_code(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"net": _Payload(marker)})
    (run / CHECKPOINT).write_bytes(payload)
    (run / "checkpoint.pt").write_bytes(payload)  # the old name: never read
    r = _nasc("search", SPACE, "--resume", str(run), *ONE_EPOCH)
    assert r.returncode == 2, r.stderr
    assert f"cannot resume from {run / CHECKPOINT}" in r.stderr and "Traceback" not in r.stderr
    assert not marker.exists(), "code in the checkpoint ran"
    # the control: the same bytes do run code when unpickled
    pickle.loads(payload)
    assert marker.exists()


def test_corrupt_checkpoint_and_another_space_are_user_errors(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = _nasc("search", SPACE, "--out", str(run), *ONE_EPOCH)
    assert first.returncode == 0, first.stderr
    other = _nasc("search", str(ROOT / "tests" / "fixtures" / "search" / "partial.nas"), "--resume", str(run),
                  *ONE_EPOCH)
    assert other.returncode == 2 and "belongs to another space or other search settings" in other.stderr
    changed = _nasc("search", SPACE, "--resume", str(run), "--set", "search.epochs=1", "--set", "search.batch=128")
    assert changed.returncode == 2 and "belongs to another space" in changed.stderr
    ckpt = run / CHECKPOINT
    ckpt.write_bytes(ckpt.read_bytes()[: len(ckpt.read_bytes()) // 2])
    cut = _nasc("search", SPACE, "--resume", str(run), *ONE_EPOCH)
    assert cut.returncode == 2 and "corrupt or truncated" in cut.stderr and "Traceback" not in cut.stderr


@pytest.mark.parametrize("case", ["pickled", "object-array", "not-zip", "nan", "negative-label", "no-y", "tiny"])
def test_bad_datasets_are_user_errors(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "data.npz"
    x = np.zeros((50, 8, 8), np.float32)
    y = np.arange(50) % 10
    marker = tmp_path / "pwned"
    if case == "pickled":
        path.write_bytes(pickle.dumps(_Payload(marker)))
    elif case == "object-array":
        np.savez(path, x=np.array([_Payload(marker)] * 3, dtype=object), y=y[:3])
    elif case == "not-zip":
        path.write_bytes(b"this is not a dataset\n" * 10)
    elif case == "nan":
        x[3, 2, 2] = np.nan
        np.savez(path, x=x, y=y)
    elif case == "negative-label":
        np.savez(path, x=x, y=y - 1)
    elif case == "no-y":
        np.savez(path, x=x)
    else:
        np.savez(path, x=x[:2], y=y[:2])
    message = {"pickled": "pickled data", "object-array": "pickled data", "not-zip": "cannot read the dataset",
               "nan": "NaN", "negative-label": "class indices >= 0", "no-y": "must hold arrays 'x'",
               "tiny": "split of npz:"}[case]
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["search", SPACE, "--out", str(out), "--set", f"dataset=npz:{path}", *ONE_EPOCH]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not marker.exists()
    assert not (out / "arch.nas").exists()


@pytest.mark.parametrize("setting,message", [
    ("search.epochs=-1", "'search.epochs' must be at least 1, got -1"),
    ("search.epochs=0", "'search.epochs' must be at least 1, got 0"),
    ("search.batch=-5", "'search.batch' must be at least 1, got -5"),
    ("search.w_lr=-0.1", "'search.w_lr' must be greater than 0, got -0.1"),
    ("train.lr=0", "'train.lr' must be greater than 0, got 0"),
    ("search.w_momentum=1", "'search.w_momentum' must be in [0, 1), got 1"),
    ("search.warmup=3", "'search.warmup' (3) must be less than 'search.epochs' (1)"),
    ("seed=-3", "'seed' must be at least 0, got -3"),
    ("budget.wallclock=0s", "'budget.wallclock' must be greater than 0, got 0"),
])
def test_out_of_range_values_stop_before_anything_runs(setting: str, message: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["search", SPACE, "--out", str(out), *ONE_EPOCH, "--set", setting]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not (out / "arch.nas").exists() and not (out / CHECKPOINT).exists()


def test_an_out_of_range_value_in_a_file_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (EXAMPLES / "digits_tiny.nas").read_text().replace("        epochs = 5\n", "        epochs = -2\n", 1)
    assert "epochs = -2" in text
    path = tmp_path / "neg.nas"
    path.write_text(text)
    line = text[: text.index("epochs = -2")].count("\n") + 1
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"neg.nas:{line}:9: error: 'search.epochs' must be at least 1, got -2" in err


def test_set_takes_unquoted_strings_and_explains_bad_literals(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.npz"
    assert main(["search", SPACE, "--out", str(tmp_path / "o"), "--set", f"dataset=npz:{missing}"]) == 2
    assert f"dataset file not found: {missing}" in capsys.readouterr().err
    assert main(["search", SPACE, "--out", str(tmp_path / "o"), "--set", "search.epochs=abc+"]) == 2
    err = capsys.readouterr().err
    assert "'abc+' is not a value for 'search.epochs' (an integer" in err and "quoted" in err
