"""Run directories: one run at a time, stale locks taken over, a stage cache that checks what
it trusts, and files written atomically."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasc.cli import main
from nasc.fsio import OutputError, atomic_write
from nasc.runlock import lock_path

from .conftest import EXAMPLES

FAST = ["--set", "search.epochs=1", "--set", "search.batch=256", "--set", "train.epochs=1"]


def _compile_cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nasc", "compile", str(EXAMPLES / "digits.nas"), "--target", "cpu",
            "--backend", "onnxruntime", "--out", str(out), *extra]


def test_second_run_into_a_busy_directory_exits_at_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = subprocess.Popen(_compile_cmd(out, "--set", "search.epochs=3", "--set", "search.batch=256",
                                          "--set", "train.epochs=1"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = lock_path(out)
    deadline = time.time() + 60
    while time.time() < deadline and first.poll() is None and not (lock.exists() and lock.read_text().strip()):
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before the second could start"
    t0 = time.perf_counter()
    second = subprocess.run(_compile_cmd(out, *FAST), capture_output=True, text=True, timeout=120)
    waited = time.perf_counter() - t0
    assert second.returncode == 2, second.stderr
    assert f"pid {first.pid}" in second.stderr and "is in use by nasc compile" in second.stderr
    assert "Traceback" not in second.stderr and waited < 15
    out1, err1 = first.communicate(timeout=600)
    assert first.returncode == 0, err1
    # the directory holds exactly the first run's results: its 3 search epochs, its own arch
    records = (out / "search" / "search.jsonl").read_text().splitlines()
    assert len(records) == 3
    report = json.loads((out / "report.json").read_text())
    assert report["arch"] in out1
    assert lock.read_text() == ""  # released cleanly


def test_a_dead_holder_is_taken_over_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    out = tmp_path / "t"
    out.mkdir()
    lock_path(out).write_text(json.dumps({"pid": pid, "host": "h", "command": "nasc search x", "started": 0}))
    assert main(["search", str(EXAMPLES / "digits_tiny.nas"), "--out", str(out), "--set", "search.epochs=1",
                 "--set", "search.batch=256"]) == 0
    err = capsys.readouterr().err
    assert f"warning: taking over {out}: nasc search x (pid {pid}" in err
    assert (out / "arch.nas").exists()


def test_a_killed_holder_does_not_block_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "k"
    proc = subprocess.Popen([sys.executable, "-m", "nasc", "search", str(EXAMPLES / "digits_tiny.nas"), "--out",
                             str(out), "--set", "search.epochs=50", "--set", "search.batch=32"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not (lock_path(out).exists() and lock_path(out).read_text().strip()):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    again = subprocess.run([sys.executable, "-m", "nasc", "search", str(EXAMPLES / "digits_tiny.nas"), "--out",
                            str(out), "--set", "search.epochs=1", "--set", "search.batch=256"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"pid {proc.pid}" in again.stderr and "ended without finishing" in again.stderr


def test_the_stage_cache_reruns_a_stage_whose_outputs_changed(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c"
    argv = ["compile", str(EXAMPLES / "digits.nas"), "--target", "cpu", "--backend", "onnxruntime", "--out", str(out),
            *FAST]
    assert main(argv) == 0
    first = json.loads((out / "report.json").read_text())
    (out / "artifact" / "model.onnx").unlink()
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "[search] cached" in err and "[train] cached" in err
    assert "[build] running (model.onnx is missing)" in err
    assert (out / "artifact" / "model.onnx").exists()
    weights = out / "train" / "weights.safetensors"
    original = weights.read_bytes()
    data = bytearray(original)
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "[train] running (weights.safetensors changed since it was written)" in err
    # retraining is deterministic: the same tensors again
    from safetensors.numpy import load, load_file

    before, after = load(original), load_file(str(weights))
    assert before.keys() == after.keys() and all((before[k] == after[k]).all() for k in before)
    assert "[build] cached" in err  # keyed by the weights' contents, which did not change
    assert json.loads((out / "report.json").read_text())["arch"] == first["arch"]


def test_out_that_is_a_file_or_contradicts_resume_is_a_user_error(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    src = str(EXAMPLES / "digits_tiny.nas")
    assert main(["search", src, "--out", str(afile)]) == 2
    assert f"--out {afile} is a file, not a directory" in capsys.readouterr().err
    assert main(["search", src, "--out", str(tmp_path / "a"), "--resume", str(tmp_path / "b")]) == 2
    assert "name different directories" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_bad_target_backend_precision_fail_before_anything_is_written(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    src = str(EXAMPLES / "digits.nas")
    for flags, message in ((["--target", "cpuu"], "did you mean 'cpu'"),
                           (["--target", "jetsn"], "did you mean 'jetson'"),
                           (["--set", "train.epochz=3"], "did you mean 'train.epochs'"),
                           (["--experiment", "digitz"], "has no experiment 'digitz'"),
                           (["--backend", "onnxrt"], "did you mean 'onnxruntime'"),
                           (["--backend", "tensorrt"], "does not build for target 'cpu'"),
                           (["--precision", "bf16"], "target 'cpu' has no bf16 precision")):
        t0 = time.perf_counter()
        assert main(["compile", src, "--out", str(tmp_path / "x"), *flags]) == 2
        assert message in capsys.readouterr().err and time.perf_counter() - t0 < 2
        assert not (tmp_path / "x").exists()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    """A write that fails half-way (here: past a file-size limit, as a full disk would) leaves
    the previous complete file, not a truncated one, and no temporary file."""
    target = tmp_path / "report.json"
    target.write_text('{"old": true}\n')
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
            "from nasc.fsio import atomic_write, OutputError\n"
            "try:\n"
            f"    atomic_write({str(target)!r}, 'x' * 100000)\n"
            "except OutputError as e:\n"
            "    print('OutputError:', e); sys.exit(2)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "cannot write" in r.stdout and str(target) in r.stdout
    assert target.read_text() == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    atomic_write(target, "new\n")
    assert target.read_text() == "new\n"
    with pytest.raises(OutputError):
        atomic_write(tmp_path / "report.json" / "x", "no")  # a parent that is a file


def test_a_full_disk_during_a_search_is_a_user_error(tmp_path: Path) -> None:
    """Writes past a file-size limit fail as on a full disk: exit 2 naming the file, no traceback,
    and no half-written checkpoint left behind."""
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
            "from nasc.cli import main\n"
            f"sys.exit(main(['search', {str(EXAMPLES / 'digits_tiny.nas')!r}, '--out', {str(tmp_path / 'o')!r}, "
            "'--set', 'search.epochs=1', '--set', 'search.batch=256']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert r.returncode == 2, r.stderr
    assert "cannot write" in r.stderr and "exceeds the allowed file size" in r.stderr and "Traceback" not in r.stderr
    assert not [p for p in (tmp_path / "o").iterdir() if p.name.startswith(".")]


def test_a_compile_killed_while_retraining_reuses_its_search(tmp_path: Path) -> None:
    """SIGKILL during retraining, then the same command again: the search stage is reported
    cached and did no work (its epoch log and checkpoint are untouched), and the arch is the same."""
    out = tmp_path / "r"
    cmd = _compile_cmd(out, "--set", "search.epochs=2", "--set", "search.batch=256", "--set", "train.epochs=15",
                       "--set", "train.batch=256")
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert first.stderr is not None
    seen = []
    for line in first.stderr:  # plain stage lines: stderr is a pipe, not a terminal
        seen.append(line)
        if line.startswith("[train] running"):
            break
    assert first.poll() is None, "".join(seen)
    time.sleep(0.5)  # well inside 15 epochs of retraining
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert not (out / "train" / "weights.safetensors").exists(), "retraining finished before the kill"
    search = out / "search"
    log_before = (search / "search.jsonl").read_bytes()
    arch_before = (search / "arch.nas").read_bytes()
    ckpt_mtime = (search / "checkpoint.safetensors").stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)  # the same command
    assert again.returncode == 0, again.stderr
    assert "[search] cached" in again.stderr and "[train] running" in again.stderr
    assert (search / "search.jsonl").read_bytes() == log_before  # no new epoch records
    assert (search / "checkpoint.safetensors").stat().st_mtime_ns == ckpt_mtime
    assert (search / "arch.nas").read_bytes() == arch_before
    assert json.loads((out / "report.json").read_text())["arch"] == str(search / "arch.nas")
