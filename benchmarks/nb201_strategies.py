"""Search strategies on NAS-Bench-201 under a Raspberry Pi 4 latency budget: queries to a near-best arch.

The tabular mode of ``nasc.strategies``: a query returns an architecture's CIFAR-10 test
accuracy (200 epochs, mean over seeds) from the shipped table and its recorded latency on
``recorded-raspi4``; a candidate is feasible when that latency is within the budget B.
Each strategy -- information gain (constrained max-value entropy search),
information-directed sampling, expected improvement (constrained EI), regularized
evolution and random search -- runs with seeds
0..N-1 under the same budget and query cap, and the benchmark counts the queries it needs
to ask about a feasible architecture within 0.1 points of the best feasible accuracy (the
run ends there: what a strategy does afterwards cannot change that count).  A run that
does not get there within the cap counts as needing more than the cap.

Target: information gain's median is lower than the median of expected improvement, of
regularized evolution and of random search (:data:`JUDGED_AGAINST`).  Reported
per strategy: median and IQR of the queries needed, share of runs that got there within
the cap, and each run's count.  Exit 1 on a miss.

    python benchmarks/nb201_strategies.py [--budget-ms 40] [--repetitions 50] [--cap 300]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Target, result_path, verdict, write_json  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from nasc.latency.recorded import is_cut_off  # noqa: E402
from nasc.strategies import STRATEGIES  # noqa: E402
from nasc.strategies.registry import strategy  # noqa: E402
from nasc.strategies.tabular import DEFAULT_DEVICE, NB201Tabular  # noqa: E402

TOLERANCE = 0.1
"""Points of accuracy below the best feasible one that still count as found."""
JUDGED_AGAINST = ("expected-improvement", "regularized-evolution", "random-search")
"""The strategies information gain must need fewer queries than; information-directed
sampling, the other information-based acquisition, is reported beside them."""


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile where a run that never found the target is +inf (a
    quantile that reaches into those is +inf, not an interpolation with them)."""
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    if lo == hi or v[lo] == v[hi]:
        return v[lo]
    if math.isinf(v[hi]):
        return math.inf
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


def _json_count(x: float) -> float | None:
    return None if math.isinf(x) else round(x, 1)


def run_strategy(name: str, bench: NB201Tabular, budget: float, cap: int, target: float,
                 seeds: range) -> dict[str, Any]:
    """Every repetition of one strategy; the counts and their summary."""
    run = strategy(name)
    counts: list[float] = []
    best_ok, seconds = True, []
    for seed in seeds:
        t0 = time.perf_counter()
        oracle = bench.oracle(cap, stop=lambda o: o.latency_ms <= budget and o.accuracy >= target)
        trace = run(bench.problem(budget, cap), oracle, seed)
        seconds.append(time.perf_counter() - t0)
        needed = trace.queries_to(target)
        counts.append(math.inf if needed is None else float(needed))
        best = trace.best()
        best_ok &= best is None or bool(bench.latency_ms[best.index] <= budget)
    summary = {"median_queries": _json_count(quantile(counts, 0.5)),
               "iqr_queries": [_json_count(quantile(counts, 0.25)), _json_count(quantile(counts, 0.75))],
               "found_within_cap_share": round(sum(not math.isinf(c) for c in counts) / len(counts), 3),
               "queries_per_seed": [_json_count(c) for c in counts],
               "reported_best_within_budget": best_ok,
               "seconds_per_run_mean": round(statistics.fmean(seconds), 2)}
    print(f"{name}: median {summary['median_queries']} IQR {summary['iqr_queries']} "
          f"found {summary['found_within_cap_share']:.0%} ({summary['seconds_per_run_mean']} s/run)", flush=True)
    return {"counts": counts, "summary": summary}


def problem_record(bench: NB201Tabular, budget: float) -> dict[str, Any]:
    """The budget's effect on the table: what is feasible, what is best, how many count as found."""
    best = bench.best_feasible(budget)
    top = int(np.argmax(bench.accuracy))
    feasible = bench.latency_ms <= budget
    near = feasible & (bench.accuracy >= best.accuracy - TOLERANCE)
    return {"best_feasible": {"arch_index": best.index, "arch_str": best.arch_str, "accuracy": best.accuracy,
                              "latency_ms": best.latency_ms},
            "unconstrained_best": {"arch_index": top, "arch_str": bench.arch_strs[top],
                                   "accuracy": float(bench.accuracy[top]), "latency_ms": float(bench.latency_ms[top])},
            "feasible_share": round(float(feasible.mean()), 4),
            "archs_counting_as_found": int(near.sum()),
            "cut_off_archs": sum(map(is_cut_off, bench.arch_strs))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget-ms", type=float, default=40.0, help="latency budget B on the device (ms)")
    ap.add_argument("--device", default=DEFAULT_DEVICE)
    ap.add_argument("--repetitions", type=int, default=50, help="seeds 0..N-1 for every strategy")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds first..first+N-1 (trying a change on other seeds than the ones it is judged on)")
    ap.add_argument("--cap", type=int, default=300, help="queries per run at the most")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--out", default=result_path("nb201_strategies"))
    args = ap.parse_args()
    warnings.filterwarnings("ignore", module="botorch|gpytorch|linear_operator")
    import torch

    torch.set_num_threads(1)  # the machine is shared: one core, and no BLAS threads fighting over it
    bench = NB201Tabular.load(args.device)
    problem = problem_record(bench, args.budget_ms)
    target = problem["best_feasible"]["accuracy"] - TOLERANCE
    names = args.strategies.split(",")
    results = {}
    seeds = range(args.first_seed, args.first_seed + args.repetitions)
    with threadpool_limits(1):
        for name in names:
            results[name] = run_strategy(name, bench, args.budget_ms, args.cap, target, seeds)
    ig = "information-gain"
    targets: dict[str, Target] = {}
    if ig in results:
        mine = quantile(results[ig]["counts"], 0.5)
        for other in (n for n in names if n in JUDGED_AGAINST):
            theirs = quantile(results[other]["counts"], 0.5)
            targets[f"information gain needs fewer queries than {other} (median of {args.repetitions})"] = Target(
                mine < theirs, _json_count(mine), f"< {_json_count(theirs)} (null: not found within {args.cap})")
    doc = {"benchmark": "nb201_strategies", "dataset": "cifar10", "device": args.device,
           "budget_ms": args.budget_ms, "query_cap": args.cap, "tolerance_points": TOLERANCE,
           "target_accuracy": round(target, 5), "seeds": [seeds[0], seeds[-1]],
           "rule": ("queries until a feasible architecture (recorded latency <= budget) with accuracy >= best "
                    "feasible - 0.1 is asked; runs that never get there within the cap count as +inf; median and "
                    "IQR by linear interpolation, null where they reach into those runs"),
           "problem": problem, "strategies": {n: r["summary"] for n, r in results.items()}}
    write_json(doc, args.out, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
