"""Committed benchmark results and baselines name no path of the machine they were made on.

A clone is used on other machines; a result that names a folder of the machine it ran on (a
user's home, a scratch folder, the checkout) says where it ran, not what it measured (a frozen
arch's header names the file it was frozen from, and the benchmarks write it relative to the
checkout: ``report.project_relative``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
USUAL_FOLDERS = ("work", "root", "home", "tmp", "Users", "private", "var/folders")
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:" + "|".join(USUAL_FOLDERS) + ")/")
FILES = sorted(p for d in ("benchmarks/results", "benchmarks/baselines") for p in (ROOT / d).glob("*")
               if p.is_file())


def machine_path(text: str) -> re.Match[str] | None:
    """The first path of a machine in ``text``: under a usual home or scratch folder, or under
    this checkout's own folder wherever it lives (a clone in ``/opt/ci/...`` names no usual one)."""
    return MACHINE_PATH.search(text) or re.search(re.escape(f"{ROOT}/"), text)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_a_committed_result_names_no_machine_path(path: Path) -> None:
    text = path.read_text(errors="replace")
    found = machine_path(text)
    assert found is None, f"{path.relative_to(ROOT)}: {text[max(0, found.start() - 60):found.end() + 60]!r}"


@pytest.mark.parametrize("folder", [str(ROOT), *(f"/{top}/someone/nasc" for top in USUAL_FOLDERS)],
                         ids=["this checkout", *USUAL_FOLDERS])
def test_the_check_sees_a_frozen_header_with_a_machine_path(folder: str) -> None:
    header = '"arch": "# nasc arch v1 -- frozen from {}examples/nb201.nas"'
    assert machine_path(header.format(f"{folder}/")) is not None
    assert machine_path(header.format("")) is None
