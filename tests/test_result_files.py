"""Committed benchmark results and baselines name no path of the machine they were made on.

A clone is used on other machines; a result that says ``/home/someone/checkout/...`` says where
it ran, not what it measured (a frozen arch's header names the file it was frozen from, and
the benchmarks write it relative to the checkout: ``report.project_relative``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home|tmp|Users|private|var/folders)/")
FILES = sorted(p for d in ("benchmarks/results", "benchmarks/baselines") for p in (ROOT / d).glob("*")
               if p.is_file())


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_a_committed_result_names_no_machine_path(path: Path) -> None:
    text = path.read_text(errors="replace")
    found = MACHINE_PATH.search(text)
    assert found is None, f"{path.relative_to(ROOT)}: {text[max(0, found.start() - 60):found.end() + 60]!r}"


def test_the_check_sees_a_frozen_header_with_a_machine_path() -> None:
    assert MACHINE_PATH.search('"arch": "# nasc arch v1 -- frozen from /work/main/examples/nb201.nas"')
    assert not MACHINE_PATH.search('"arch": "# nasc arch v1 -- frozen from examples/nb201.nas"')
