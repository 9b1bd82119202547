"""Probe: does timing each architecture beside the reference workload make the host predictor judgeable?

``benchmarks/latency_predictor_host.py`` times every architecture in fresh processes; on a
host that runs small networks at one of two speeds about 1.6x apart per process, the fit's
targets and the judged values move by more than the +-10% being judged.  This probe takes a
store and the built architectures that benchmark left (``--latency-db``; the builds beside
it), and:

1. times each stored architecture's artifact ``--rounds`` times beside nasc's reference
   workload, one fresh process per round in alternating ~1 ms samples
   (:func:`nasc.bench.rounds.rounds_beside_reference`, the ``nasc bench`` protocol), rounds
   interleaved over all of them;
2. refits the kernel-sum model's terms (:func:`nasc.latency.kernel_model.fit_kernel_sum`, the
   kernels as stored) on the fitting architectures' ratios to the reference instead of their
   fresh-process milliseconds, and judges the test architectures against their ratios;
3. reports, beside it, the same judgement against the stored fresh-process figures, and how
   well each kind of figure repeats (the spread of an architecture's rounds).

The kernels stay as the host benchmark measured them (fresh processes, the fastest of its
rounds): this isolates what the architectures' figures contribute.  Targets as the host
benchmark's (>= 90% within +-10%, tau >= 0.85) on the paired figures; exit 1 on a miss.

    python benchmarks/latency_paired_probe.py --latency-db STORE [--backends onnxruntime,tvm] [--rounds 3]
        [--fit 60] [--space digits]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Target, at_least, result_path, verdict, write_json  # noqa: E402
from latency_predictor_host import (FIT_SEED, SPACES, TAU, TEST_SEED, WITHIN, judge,  # noqa: E402
                                    random_archs)

from nasc import api  # noqa: E402
from nasc.latency.store import LatencyStore  # noqa: E402


def spread(values: list[float]) -> float:
    return (max(values) - min(values)) / statistics.median(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--latency-db", type=Path, required=True, help="the host benchmark's store (its builds beside it)")
    ap.add_argument("--space", choices=sorted(SPACES), default="digits")
    ap.add_argument("--backends", default="onnxruntime,tvm")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fit", type=int, default=60, help="fitting architectures (the first of the stored ones)")
    ap.add_argument("--test", type=int, default=50)
    ap.add_argument("--out", default=result_path("latency_paired_probe"))
    args = ap.parse_args()
    from nasc.bench.reference import materialize
    from nasc.bench.rounds import rounds_beside_reference
    from nasc.latency.kernel_model import fit_kernel_sum
    from nasc.latency.kernel_source import KernelSumSource

    builds = args.latency_db.parent / "latency_predictor_host_builds"
    compiled = api.load(SPACES[args.space])
    fitting = random_archs(compiled, args.fit, FIT_SEED)
    tests = random_archs(compiled, args.test, TEST_SEED, {a.key for a in fitting})
    reference = materialize(builds.parent / "paired_probe_reference").dir
    cases: dict[str, Any] = {}
    targets: dict[str, Target] = {}
    with LatencyStore(args.latency_db) as store:
        for backend in [b for b in args.backends.split(",") if b]:
            source = KernelSumSource(store, "cpu", backend, compiled.loader.ops, threads=1, fastest=True)
            by_key = {a.key: a for a in source.archs}
            fit = [by_key[a.key] for a in fitting if a.key in by_key and (builds / backend / a.key[:16]).is_dir()]
            held = [by_key[a.key] for a in tests if a.key in by_key and (builds / backend / a.key[:16]).is_dir()]
            t0 = time.perf_counter()
            paths = {a.key: builds / backend / a.key[:16] for a in [*fit, *held]}
            rounds = rounds_beside_reference(paths, reference, args.rounds, threads=1)
            ratio = {k: statistics.median(r.artifact_over_reference for r in rs) for k, rs in rounds.items()}
            ref_ms = statistics.median(r.reference_ms for rs in rounds.values() for r in rs)
            scaled = [dataclasses.replace(a, measured_ms=ratio[a.key] * ref_ms) for a in fit]
            model = fit_kernel_sum(source.what, source.table, scaled, layout=source.layout)
            stored = source.model(keep={a.key for a in fit})
            paired = judge([model.predict_ms(a.sums) for a in held], [ratio[a.key] * ref_ms for a in held])
            fresh = judge([stored.predict_ms(a.sums) for a in held], [a.measured_ms for a in held])
            cases[f"{args.space}/{backend}"] = {
                "fit_archs": len(fit), "test_archs": len(held), "kernels": len(source.table),
                "paired": {**paired, "median_round_spread": round(statistics.median(
                    spread([r.artifact_over_reference for r in rs]) for rs in rounds.values()), 4),
                    "reference_median_ms": ref_ms, "model": model.name},
                "fresh_process_stored": {**fresh, "model": stored.name},
                "paired_ms_round_spread": round(statistics.median(
                    spread([r.artifact_ms for r in rs]) for rs in rounds.values()), 4),
                "seconds": round(time.perf_counter() - t0, 1)}
            print(f"{args.space}/{backend}: paired {paired}; fresh-process {fresh}", flush=True)
            targets[f"{args.space}/{backend} paired kernel-sum within +-10%"] = at_least(paired["within_10pct"], WITHIN)
            targets[f"{args.space}/{backend} paired kernel-sum Kendall tau"] = at_least(paired["kendall_tau"], TAU)
    doc = {"benchmark": "latency_paired_probe", "rounds": args.rounds,
           "protocol": "each architecture's artifact timed beside nasc's reference workload (ONNX Runtime), one "
                       "fresh process per round, alternating ~1 ms samples, one thread; rounds interleaved over "
                       "all architectures; an architecture's figure = median over rounds of the median sample "
                       "ratio, times the reference's median over every round (a constant, so the fit's units "
                       "stay ms); kernels as the host benchmark stored them (fresh processes, fastest round)",
           "cases": cases}
    write_json(doc, args.out, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
