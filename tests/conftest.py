"""Shared test helpers: paths to the examples."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


def frozen_arch(path: Path, space: str, seed: int) -> Path:
    """Write a decided arch drawn (with ``seed``) from ``examples/SPACE.nas`` to ``path``."""
    from nasc import api

    path.write_text(api.freeze(api.load(EXAMPLES / f"{space}.nas"), seed=seed).text)
    return path
