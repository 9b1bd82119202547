"""Shared test helpers: paths to the examples, a cache folder of the test run's own, and
which heavy libraries a fresh process imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session", autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Build caches, tuning databases and the latency store go to a folder of this test run
    (one per xdist worker), never the user's ~/.cache: tests must not read state a previous run
    left, nor leave any.  Child processes inherit it through the environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASC_CACHE_DIR", str(tmp_path_factory.mktemp("nasc-cache")))
        mp.delenv("NASC_LATENCY_DB", raising=False)
        yield


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


def frozen_arch(path: Path, space: str, seed: int) -> Path:
    """Write a decided arch drawn (with ``seed``) from ``examples/SPACE.nas`` to ``path``."""
    from nasc import api

    path.write_text(api.freeze(api.load(EXAMPLES / f"{space}.nas"), seed=seed).text)
    return path


HEAVY = ("torch", "tvm", "tensorrt", "onnxruntime", "matplotlib", "ray")
"""The libraries nasc imports only when a stage needs them."""
_LOADED = "NASC-TEST-LOADED:"


def heavy_loaded(code: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``code`` in a fresh ``python -c`` process; its result and the :data:`HEAVY`
    libraries it had imported when it exited (however it exited: a ``SystemExit`` too)."""
    watch = ("import atexit, sys\n"
             f"atexit.register(lambda: sys.stderr.write('\\n{_LOADED}' + ','.join(m for m in {HEAVY!r} "
             "if m in sys.modules) + '\\n'))\n")
    proc = subprocess.run([sys.executable, "-c", watch + code], capture_output=True, text=True, timeout=120)
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith(_LOADED))
    return proc, set(filter(None, line[len(_LOADED):].split(",")))
