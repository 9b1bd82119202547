"""The logs of one compile run, read back from its folder: what the report and its plots are drawn from.

Reading the files (not the objects the stages returned) is what makes the report a
statement about the run: a cached stage and a fresh one look alike here, and a report
rendered again from an edited log shows the edit.  A missing or unreadable log is an empty
list, and whoever draws from it says that nothing was there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..search.rounds_log import ROUNDS_LOG
from ..train import TRAIN_LOG

SEARCH_LOG = "search.jsonl"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; none when it is missing or a line is not a JSON object."""
    try:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []
    return records if all(isinstance(r, dict) for r in records) else []


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file; empty when it is missing or not an object."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


@dataclass(frozen=True)
class RunLogs:
    """``search``: the kept search's epochs (``search/search.jsonl``); ``rounds``: the
    measured-latency loop's rounds (``search/rounds.jsonl``); ``round_searches``: each round's
    own epochs by round number (``search/rounds/rK/search.jsonl``); ``train``: the retraining's
    epochs (``train/train.jsonl``)."""

    search: list[dict[str, Any]]
    rounds: list[dict[str, Any]]
    round_searches: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    train: list[dict[str, Any]] = field(default_factory=list)


def run_logs(out: Path) -> RunLogs:
    """The logs of the run in ``out`` (a compile's folder)."""
    sdir = out / "search"
    rounds = [r for r in read_jsonl(sdir / ROUNDS_LOG) if isinstance(r.get("round"), int)]
    searches = {r["round"]: read_jsonl(sdir / "rounds" / f"r{r['round']}" / SEARCH_LOG) for r in rounds}
    return RunLogs(read_jsonl(sdir / SEARCH_LOG), rounds, searches, read_jsonl(out / "train" / TRAIN_LOG))


__all__ = ["SEARCH_LOG", "RunLogs", "read_json", "read_jsonl", "run_logs"]
