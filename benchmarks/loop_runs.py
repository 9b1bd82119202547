"""One run of the measured-latency loop, as the loop benchmarks report it.

Shared by ``latency_loop_recorded.py`` (a recorded device) and ``latency_loop_host.py`` (this
CPU, measured): the run's rounds as ``rounds.jsonl`` logs them, its final choice as
``summary.json`` states it, its time, or the error that stopped it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import clocks, elapsed  # noqa: E402

from nasc import api  # noqa: E402
from nasc.errors import NascError  # noqa: E402
from nasc.search.budget_use import FLOOR as BAND  # noqa: E402
from nasc.search.rounds import LoopSettings, search_with_rounds  # noqa: E402

KEEP = ("round", "nb201", "model", "predicted_ms", "measured_ms", "source", "how", "model_error", "holds",
        "budget_used", "probes", "measured_before", "first_choice")


def one_run(space_file: Path, cfg: dict[str, Any], work: Path, settings: LoopSettings) -> dict[str, Any]:
    """One loop over ``space_file``'s first space with experiment ``cfg``, output in ``work/out``."""
    compiled = api.load(space_file)
    start = clocks()
    error = None
    try:
        search_with_rounds(compiled, cfg, work / "out", settings)
    except NascError as err:
        error = err.message
    wall, cpu = elapsed(start, clocks())
    log = work / "out" / "rounds.jsonl"
    rounds = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
    summary_file = work / "out" / "summary.json"
    final = json.loads(summary_file.read_text()).get("measured_latency") if summary_file.is_file() else None
    return {"seed": cfg["seed"], "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "error": error,
            "rounds": [{k: r.get(k) for k in KEEP} for r in rounds], "final": final}


def ended_within(run: dict[str, Any], rounds: int, budget_ms: float, band: bool) -> bool:
    """Whether the run's final measured latency is at most B (and at least BAND * B when
    ``band``) after at most ``rounds`` rounds."""
    final = run["final"]
    if final is None or final["rounds"] > rounds or final["median_ms"] > budget_ms:
        return False
    return not band or final["median_ms"] >= BAND * budget_ms


def first_choice_missed(run: dict[str, Any], budget_ms: float) -> bool:
    """Whether the first round's search chose an arch outside [BAND * B, B] before anything was
    measured (the round may then have chosen again from its probes)."""
    if not run["rounds"]:
        return False
    first = run["rounds"][0].get("first_choice") or run["rounds"][0]
    return not BAND * budget_ms <= first["measured_ms"] <= budget_ms


def error_shrinks(run: dict[str, Any]) -> bool:
    """The model's |error| on the last round's arch is below the first round's (or one round only)."""
    errors = [abs(r["model_error"]) for r in run["rounds"] if r.get("model_error") is not None]
    return len(errors) < 2 or errors[-1] < errors[0]
