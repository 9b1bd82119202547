"""Shared test helpers: paths to the examples, and a cache folder of the test run's own."""

from __future__ import annotations

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
