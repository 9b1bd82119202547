"""``rounds.jsonl``: one line per round of the measured-latency loop, and what is chosen from it.

Each line says what the round found and how the model fared on it: the architecture (its
store key, the sha256 of its ``arch.nas``, its NAS-Bench-201 string when it has one, its
assignment), the latency the round's model predicted and the model's name, the latency
measured and its source, the model's relative error on that architecture, the bound and
whether it holds.  Lines carry the loop's identity (the search fingerprint, the budget and
the backend), so a folder holding the rounds of another search is started afresh rather
than continued.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..fsio import atomic_write

ROUNDS_LOG = "rounds.jsonl"


class RoundsLog:
    """The rounds of one loop in ``out/rounds.jsonl`` (``identity``: what makes it this loop)."""

    def __init__(self, out: Path, identity: str) -> None:
        self.path = out / ROUNDS_LOG
        self.loop = hashlib.sha256(identity.encode()).hexdigest()

    def start(self) -> list[dict[str, Any]]:
        """An empty log (a fresh loop)."""
        atomic_write(self.path, "")
        return []

    def read(self) -> list[dict[str, Any]]:
        """The rounds logged for this loop; none when the log is missing, unreadable or another loop's."""
        try:
            lines = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        except (OSError, ValueError):
            return []
        if not all(isinstance(e, dict) and e.get("loop") == self.loop for e in lines):
            return []
        return lines

    def append(self, entry: dict[str, Any]) -> None:
        """Add a round (the whole log is rewritten atomically: a crash never leaves half a line)."""
        rounds = self.read() + [{**entry, "loop": self.loop}]
        atomic_write(self.path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in rounds))

    @staticmethod
    def choose(rounds: list[dict[str, Any]]) -> dict[str, Any]:
        """The round whose architecture the loop hands over: the one that met the budget within
        its band, else the one that used most of the budget while meeting it, else the last."""
        measured = [r for r in rounds if not r.get("infeasible")]
        done = [r for r in measured if r["done"]]
        if done:
            return done[-1]
        within = [r for r in measured if r["holds"]]
        return max(within, key=lambda r: r["measured_ms"]) if within else measured[-1]

    @staticmethod
    def summary_of(out: Path) -> dict[str, Any]:
        summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
        return summary


__all__ = ["ROUNDS_LOG", "RoundsLog"]
