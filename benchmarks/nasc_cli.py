"""Run the real ``nasc`` CLI in a fresh process, the way a user would.

Why subprocesses: a benchmark that calls library functions in its own process measures
a process that has already imported and warmed up everything; the CLI in a child process
is what ``nasc search/train/build/measure`` actually costs and does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping


def run_nasc(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
             ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    """``python -m nasc ARGS`` (in ``cwd``) with ``env`` added to this environment; an exit
    code not in ``ok`` ends the benchmark (exit 1) with the command's own output."""
    proc = subprocess.run([sys.executable, "-m", "nasc", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)
    if proc.returncode not in ok:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"nasc {' '.join(args)} failed (exit {proc.returncode})")
    return proc
