"""One sweep task: an ordinary ``nasc compile`` in a child process, into its own directory.

Why a child process and not the library in the Ray worker: a compile that crashes, runs out
of memory or is killed takes only its own process with it (the worker reports its exit code
and the sweep goes on), its log is the compile's own output (``task.log``), and the run
directory holds exactly what ``nasc compile`` writes -- so a sweep's run is the same run a
user would get by hand, and is reused, resumed or inspected the same way.

The child gets ``OMP_NUM_THREADS`` (and its siblings) set to the CPUs the task holds: torch
otherwise starts one thread per core in every task, and on a 2-core machine two tasks'
threads fighting made one search epoch about 15 times slower.  On Linux the child dies with
the worker that started it (``PR_SET_PDEATHSIG``), so killing the driver -- which takes the
local Ray instance and its workers down -- leaves no compile running into a directory the
next run wants.

A task's description and result are plain dicts of JSON types: the driver and the workers
exchange nothing else.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..fsio import atomic_write

LOG = "task.log"
REPORT = "report.json"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
PR_SET_PDEATHSIG = 1


def compile_argv(space: str, run: Path, *, target: str, backend: str, store: Path, experiment: str | None,
                 sets: list[str], threads: int) -> list[str]:
    """The ``nasc compile`` command of one task (``space``: the space, or a baseline's arch file)."""
    argv = [sys.executable, "-m", "nasc", "compile", space, "--target", target, "--backend", backend,
            "--out", str(run), "--latency-db", str(store), "--record-latency", "--threads", str(threads)]
    if experiment:
        argv += ["--experiment", experiment]
    for item in sets:
        argv += ["--set", item]
    return argv


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it when its parent dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_task(job: dict[str, Any]) -> dict[str, Any]:
    """Run one task (the body of the Ray task).  ``job``: ``name``, ``run_dir``, ``argv``,
    ``cpus``, ``env`` (variables the driver passes on) and, for a baseline, ``arch_text`` (written to ``run_dir/arch.nas`` first).
    Returns ``name``, ``exit`` (the compile's exit code), ``seconds`` (wall), ``host``, ``started``."""
    run = Path(job["run_dir"])
    run.mkdir(parents=True, exist_ok=True)
    if job.get("arch_text"):
        atomic_write(run / "arch.nas", job["arch_text"])
    threads = str(job.get("cpus", 1))
    env = {**os.environ, **job.get("env", {}), **{name: threads for name in THREAD_VARIABLES}}
    started = time.time()
    t0 = time.perf_counter()
    with (run / LOG).open("ab") as log:
        log.write(f"\n$ {' '.join(job['argv'])}\n".encode())
        log.flush()
        proc = subprocess.run(job["argv"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                              preexec_fn=_die_with_parent)
    return {"name": job["name"], "exit": proc.returncode, "seconds": time.perf_counter() - t0,
            "host": socket.gethostname(), "started": started}


def finished(run: Path) -> bool:
    """Whether ``run`` holds a finished compile: its report, readable, with a latency.  The
    report is written last and atomically, so a killed compile never leaves one behind."""
    import json

    try:
        doc = json.loads((run / REPORT).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("latency"), dict)
