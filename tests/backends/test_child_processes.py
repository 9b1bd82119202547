"""Children nasc starts die with it, and temporary folders of a killed run are removed by the next run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nasc import api
from nasc.backends.procs import temp_root

from backend_testlib import needs_tvm

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None when the process is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields


def wait_until(predicate, timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def gone_within(pid: int, seconds: float) -> bool:
    """Whether ``pid`` ends within ``seconds``; if not it is killed, so a failing test leaves no orphan."""
    if wait_until(lambda: stat_fields(pid) is None, seconds):
        return True
    os.kill(pid, signal.SIGKILL)
    return False


def descendant_with(root: int, needle: str) -> int | None:
    """A live descendant of ``root`` whose command line contains ``needle``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat_fields(int(entry.name))):
            parents[int(entry.name)] = int(fields[1])
    for pid in parents:
        p = pid
        while p in parents and p != root:
            p = parents[p]
        if p == root and pid != root:
            try:
                if needle in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    return pid
            except OSError:
                continue
    return None


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PDEATHSIG is Linux")


def test_run_child_dies_with_its_parent(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    parent_code = textwrap.dedent(f"""
        import os, sys
        from nasc.backends.procs import owned_tempdir, run_child
        child = "import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(300)"
        with owned_tempdir("test-child") as tmp:
            run_child([sys.executable, "-c", child], env=dict(os.environ), timeout=600, tmpdir=tmp)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        assert wait_until(lambda: marker.is_file() and marker.read_text(), 60), "the child never started"
        child = int(marker.read_text())
        owned = list(temp_root().glob(f"test-child.{parent.pid}.*"))
        assert len(owned) == 1 and stat_fields(child) is not None
        assert int(stat_fields(child)[2]) == child  # it leads its own process group
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    assert gone_within(child, 5), "the child outlived its SIGKILLed parent"
    assert owned[0].exists()  # nobody cleaned up: the parent was killed
    from nasc.backends.procs import owned_tempdir

    with owned_tempdir("test-next"):
        pass
    assert not owned[0].exists(), "the next run did not remove the dead run's folder"


@pytest.mark.tvm
@needs_tvm
def test_killed_tvm_build_leaves_no_worker_and_no_temp_folders(tmp_path: Path) -> None:
    arch = tmp_path / "arch.nas"
    arch.write_text(api.freeze(api.load(EXAMPLES / "digits.nas"), seed=0).text)
    build = subprocess.Popen([sys.executable, "-m", "nasc", "build", str(arch), "--backend", "tvm",
                              "--out", str(tmp_path / "tvm")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        worker = wait_until(lambda: descendant_with(build.pid, "nasc.backends.tvm.compile_worker"), 180)
        assert worker, "the compile worker never started: " + (build.stderr.read().decode()[-2000:]
                                                               if build.poll() is not None else "")
        owned = list(temp_root().glob(f"*.{build.pid}.*"))
        assert owned, "the build made no temporary folder under nasc's root"
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait()
        build.stderr.close()
    assert gone_within(worker, 5), "the compile worker outlived the killed build"
    assert all(p.exists() for p in owned)
    # the next run sweeps what the killed one left
    assert subprocess.run([sys.executable, "-m", "nasc", "build", str(arch), "--backend", "onnxruntime",
                           "--out", str(tmp_path / "ort")], capture_output=True, timeout=300).returncode == 0
    assert not any(p.exists() for p in owned), [p for p in owned if p.exists()]


def test_sweep_keeps_what_it_cannot_attribute() -> None:
    """Folders of other pid namespaces (a /tmp shared between containers), odd names and
    numbers that are no pid are left alone, and do not stop the sweep."""
    from nasc.backends.procs import owned_tempdir, pid_namespace, sweep_dead

    root = temp_root()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = int(dead.stdout)
    keep = [root / f"x.{dead_pid}.other-namespace.abc", root / "x.abc", root / f"x.{10 ** 20}.{pid_namespace()}.abc"]
    swept = root / f"x.{dead_pid}.{pid_namespace()}.abc"
    for p in (*keep, swept):
        p.mkdir()
    try:
        assert swept in sweep_dead(root)
        assert all(p.is_dir() for p in keep)
        with owned_tempdir("test") as mine:
            assert mine.parent == root and mine not in sweep_dead(root)
    finally:
        for p in keep:
            shutil.rmtree(p, ignore_errors=True)
