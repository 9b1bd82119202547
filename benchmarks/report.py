"""Shared ending of the benchmarks: write the JSON, print each target, exit 1 if one is missed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(doc: dict[str, Any], path: str | Path) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc, indent=2) + "\n")


def verdict(targets: dict[str, bool]) -> int:
    for name, ok in targets.items():
        print(f"{'met   ' if ok else 'MISSED'} {name}")
    return 0 if all(targets.values()) else 1
