"""Shared test helpers: paths to the examples and to the shared reference data."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


def nb201_csv() -> Path:
    path = DATA / "nb201" / "nb201_acc.csv"
    if not path.exists():
        pytest.skip(f"NAS-Bench-201 reference data not found at {path} (see the project README)")
    return path
