"""Run a measurement in a fresh Python process (``MeasureProtocol.isolate=True``).

Why: an in-process measurement inherits whatever the parent did before (thread pools
already sized, caches warm, torch's global thread count, allocator state).  A child that
only loads the artifact and times it is the honest default for numbers that get
published; the parent only parses one JSON line back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from typing import Any, Callable

from nasc.errors import NascError

from .base import Artifact, LatencyRecord, MeasureProtocol
from .procs import owned_tempdir, run_child

THREAD_ENV = ("OMP_NUM_THREADS", "TVM_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
MARK = "NASC_RECORD "


def measure_maybe_isolated(artifact: Artifact, protocol: MeasureProtocol,
                           here: Callable[[Artifact, MeasureProtocol], LatencyRecord]) -> LatencyRecord:
    """Call ``here`` in this process, or re-run the same measurement in a child process."""
    if not protocol.isolate:
        return here(artifact, protocol)
    child_protocol = replace(protocol, isolate=False)
    payload = run_worker("nasc.backends.measure_worker", [str(artifact.dir), json.dumps(child_protocol.to_dict())],
                         threads=protocol.threads, timeout=600 + protocol.rpc_timeout_s,
                         what=f"isolated measurement of {artifact.dir}")
    record = LatencyRecord.from_dict(payload)
    return replace(record, how=f"{record.how} (isolated process)",
                   protocol={**record.protocol, "isolate": True})


def run_worker(module: str, args: list[str], *, threads: int, timeout: float, what: str) -> Any:
    """Run ``python -m module *args`` in a fresh process with every thread variable set to
    ``threads``; the JSON it printed after :data:`MARK` (its last such line)."""
    env = dict(os.environ)
    env.update({k: str(threads) for k in THREAD_ENV})
    try:
        with owned_tempdir("measure") as tmp:
            proc = run_child([sys.executable, "-m", module, *args], env=env, timeout=timeout, tmpdir=tmp)
    except subprocess.TimeoutExpired:
        raise NascError(f"{what} did not finish in {timeout} s") from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise NascError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len(MARK):])
