"""The measured-latency loop on a recorded device: NB201 on digits32 under a Raspberry Pi 4 budget.

For each budget B and each seed, runs ``nasc.search.rounds.search_with_rounds`` on
``examples/nb201_latency.nas`` (its ``quick`` experiment: GDAS, 2 epochs on 5% of
``sklearn:digits32``) with ``latency <= B on recorded-raspi4``, at most 3 rounds, each run with
a latency store of its own (so every run starts from the bare roofline prior).  The first
round's model is the ``cpu`` prior, whose predictions for NB201 (1-10 ms) are far below the
Pi's (5-99 ms): the budgets are chosen below what an unconstrained search finds, so the
first round misses and the loop has to correct itself.

Reported per run: every round of ``rounds.jsonl`` (arch, model, predicted and measured
latency, the model's error, whether the budget holds, the share used), and the final arch.

Targets: in every run the first round's search -- before anything is measured -- chooses an
arch outside [0.85 B, B] (the budgets are chosen so; the round may then choose again from the
probes it measured, ``first_choice`` in rounds.jsonl); every run ends
within 3 rounds with its recorded latency in [0.85 B, B]; the model's error on the
discretized architectures shrinks after refits (in every run with more than one round, its
last round's |error| is below its first round's).  Exit 1 on a miss.

    python benchmarks/latency_loop_recorded.py [--budgets 12,16,20] [--seeds 0,1,2]
    python benchmarks/latency_loop_recorded.py --score EARLIER.json   # targets of its runs again
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loop_runs import ended_within, error_shrinks, first_choice_missed, one_run  # noqa: E402
from report import ROOT, Target, at_least, result_path, verdict, write_json  # noqa: E402

from nasc import api  # noqa: E402
from nasc.experiment_choice import experiment_for  # noqa: E402
from nasc.search.budget_use import FLOOR as BAND  # noqa: E402
from nasc.search.rounds import LoopSettings  # noqa: E402

EXAMPLE = ROOT / "examples" / "nb201_latency.nas"
ROUNDS = 3


def in_band(run: dict[str, Any]) -> bool:
    return ended_within(run, ROUNDS, run["budget_ms"], band=True)


def how_it_ended(runs: list[dict[str, Any]]) -> dict[str, int]:
    """Why runs missed the band: the last round over the budget, or meeting it with budget to spare."""
    ends = {"in_band": 0, "over_budget": 0, "budget_wasted": 0, "stopped": 0}
    for run in runs:
        last = run["rounds"][-1] if run["rounds"] else None
        if run["error"] or last is None or last.get("measured_ms") is None:
            ends["stopped"] += 1
        elif in_band(run):
            ends["in_band"] += 1
        else:
            ends["budget_wasted" if last["holds"] else "over_budget"] += 1
    return ends


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budgets", default="12,16,20", help="latency budgets in ms, comma-separated")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--json", default=result_path("latency_loop_recorded"))
    ap.add_argument("--score", metavar="JSON",
                    help="score the runs an earlier run of this benchmark wrote (no search is run)")
    args = ap.parse_args()
    if args.score:
        earlier = json.loads(Path(args.score).read_text())
        return score(earlier["runs"], args.json, {"runs_scored_again": {
            "why": "the runs of an earlier run of this benchmark, scored by this version's targets",
            "their_host": earlier.get("host")}})
    return score(run_all([float(b) for b in args.budgets.split(",")], [int(s) for s in args.seeds.split(",")]),
                 args.json)


def run_all(budgets: list[float], seeds: list[int]) -> list[dict[str, Any]]:
    """Every (budget, seed) run, each in a folder and latency store of its own."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="nasc-loop-") as tmp:
        for budget in budgets:
            for seed in seeds:
                work = Path(tmp) / f"b{budget:g}_s{seed}"
                work.mkdir()
                space = work / "space.nas"
                space.write_text(f'import "{EXAMPLE}" as ex\n\nspace nb201_b extends ex.nb201_raspi4'
                                 f'(budget = {budget:g}ms) {{}}\n')
                cfg = experiment_for(api.load(EXAMPLE), "quick", [f"seed={seed}"]).config
                run = {"budget_ms": budget, **one_run(space, cfg, work, LoopSettings(ROUNDS, work / "latency.sqlite"))}
                runs.append(run)
                last = run["rounds"][-1] if run["rounds"] else {}
                print(f"B={budget:g} ms seed {seed}: {len(run['rounds'])} round(s), last measured "
                      f"{last.get('measured_ms')} ms ({last.get('model')}), in band: {in_band(run)}"
                      + (f"; stopped: {run['error']}" if run["error"] else ""), flush=True)
    return runs


def score(runs: list[dict[str, Any]], path: str, provenance: dict[str, Any] | None = None) -> int:
    """The targets over ``runs``, written with them to ``path``; 1 on a miss."""
    first_misses = sum(1 for r in runs if first_choice_missed(r, r["budget_ms"]))
    landed = sum(1 for r in runs if in_band(r))
    shrinking = sum(1 for r in runs if error_shrinks(r))
    first_errors = [abs(r["rounds"][0]["model_error"]) for r in runs if r["rounds"]]
    later_errors = [abs(x["model_error"]) for r in runs for x in r["rounds"][1:] if x.get("model_error") is not None]
    targets: dict[str, Target] = {
        "runs whose first round's search (bare prior) chose an arch outside [0.85 B, B]": at_least(
            first_misses, len(runs), "runs"),
        f"runs ending within {ROUNDS} rounds with recorded latency in [{BAND} B, B]": at_least(landed, len(runs),
                                                                                             "runs"),
        "runs whose model error on the last discretized arch is below the first's": at_least(shrinking, len(runs),
                                                                                            "runs"),
    }
    doc = {"benchmark": "latency_loop_recorded", "space": str(EXAMPLE.relative_to(ROOT)), "experiment": "quick",
           "device": "recorded-raspi4", "rounds_at_most": ROUNDS, "band": [BAND, 1.0],
           "protocol": "one fresh latency store per run; rounds.jsonl fields as logged by nasc.search.rounds",
           "median_abs_model_error": {"round_1": statistics.median(first_errors) if first_errors else None,
                                      "after_refits": statistics.median(later_errors) if later_errors else None},
           "how_runs_ended": how_it_ended(runs), **(provenance or {}),
           "runs": runs}
    write_json(doc, path, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
