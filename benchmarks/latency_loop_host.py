"""The measured-latency loop on this CPU: the digits network under a measured latency budget.

The space is the network of ``examples/digits.nas`` (same cells, widths, depths) with its
params budget replaced by ``constraint latency <= B on cpu``.  First, ``--calibrate`` random
architectures of the space are built with ONNX Runtime and measured here (each in a fresh
process, ``nasc.latency.sources.measure_arch``), giving the fastest and slowest measured; the
budgets are set at 25%, 50% and 75% of the way between them.  Then for each budget and seed,
``nasc.search.rounds.search_with_rounds`` runs at most 3 rounds, each run from an empty
latency store (its first round has only the roofline prior): search (the example's own
``digits`` experiment), discretize, build with ONNX Runtime, measure in a fresh process,
store, refit, search again.  The final architecture's latency is the one the loop measured on
its ONNX Runtime artifact (weights do not change latency: the artifact carries seeded
random weights).

Targets: every run ends within 3 rounds with its measured latency at most B.  Reported
besides: how many also used at least 85% of B, the model's error per round, the time.
Exit 1 on a miss.

    python benchmarks/latency_loop_host.py [--seeds 0,1,2] [--calibrate 12]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loop_runs import ended_within, one_run  # noqa: E402
from report import ROOT, Target, at_least, result_path, verdict, write_json  # noqa: E402

from nasc import api  # noqa: E402
from nasc.experiment_choice import experiment_for  # noqa: E402
from nasc.latency.sources import decided_arch, measure_arch  # noqa: E402
from nasc.latency.store import LatencyStore  # noqa: E402
from nasc.search.rounds import LoopSettings  # noqa: E402

EXAMPLE = ROOT / "examples" / "digits.nas"
ROUNDS = 3
SHARES = (0.25, 0.5, 0.75)


def space_text(budget_ms: float) -> str:
    """The digits network with a cpu latency budget instead of its params budget."""
    return f'''import "{EXAMPLE}" as d

space digits_cpu(budget = {budget_ms:.6g}ms) {{
    input x: f32[B, 1, 8, 8]
    C = choice [8, 16]
    h = x |> conv(C, k = choice [3, 5]) |> bn |> relu
    depth = choice [1, 2]
    repeat depth {{
        h = h |> d.cell(C)
    }}
    h = h |> max_pool(2, stride = 2)
    h = h |> d.cell(C)
    output logits: f32[B, 10] = h |> gap |> linear(10)
    constraint latency <= budget on cpu
}}
'''


def calibrate(work: Path, count: int) -> list[float]:
    """Measured latencies (ms) of ``count`` distinct random architectures of the space."""
    path = work / "calibrate.nas"
    path.write_text(space_text(1.0))
    compiled = api.load(path)
    space = compiled.elaborate()
    seen: dict[str, float] = {}
    seed = 0
    with LatencyStore(work / "calibrate.sqlite") as store:
        while len(seen) < count and seed < 50 * count:
            arch = decided_arch(compiled, space, api.random_assignment(space, seed))
            seed += 1
            if arch.key not in seen:
                seen[arch.key] = measure_arch(arch, "cpu", store, workdir=work / "cal" / str(seed)).median_ms
    return sorted(seen.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--calibrate", type=int, default=12, help="random architectures measured to set the budgets")
    ap.add_argument("--json", default=result_path("latency_loop_host"))
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="nasc-loop-host-") as tmp:
        measured = calibrate(Path(tmp), args.calibrate)
        fastest, slowest = measured[0], measured[-1]
        budgets = [round(fastest + share * (slowest - fastest), 4) for share in SHARES]
        print(f"{len(measured)} random archs measured: fastest {fastest:.4f} ms, slowest {slowest:.4f} ms; "
              f"budgets {budgets} ms", flush=True)
        for budget in budgets:
            for seed in seeds:
                work = Path(tmp) / f"b{budget:g}_s{seed}"
                work.mkdir()
                space = work / "space.nas"
                space.write_text(space_text(budget))
                cfg = experiment_for(api.load(EXAMPLE), "digits", [f"seed={seed}"]).config
                run = {"budget_ms": budget, **one_run(space, cfg, work, LoopSettings(ROUNDS, work / "latency.sqlite"))}
                runs.append(run)
                final = run["final"] or {}
                print(f"B={budget:g} ms seed {seed}: {len(run['rounds'])} round(s), final measured "
                      f"{final.get('median_ms')} ms, holds: {ended_within(run, ROUNDS, budget, band=False)}"
                      + (f"; stopped: {run['error']}" if run["error"] else ""), flush=True)
    held = sum(1 for r in runs if ended_within(r, ROUNDS, r["budget_ms"], band=False))
    banded = sum(1 for r in runs if ended_within(r, ROUNDS, r["budget_ms"], band=True))
    errors = [abs(x["model_error"]) for r in runs for x in r["rounds"] if x.get("model_error") is not None]
    targets: dict[str, Target] = {
        f"runs whose final measured latency is at most B within {ROUNDS} rounds": at_least(held, len(runs), "runs"),
    }
    doc = {"benchmark": "latency_loop_host", "space": "examples/digits.nas's network with latency <= B on cpu",
           "experiment": "digits (examples/digits.nas)", "backend": "onnxruntime", "rounds_at_most": ROUNDS,
           "calibration_ms": measured, "budgets_ms": budgets, "budget_shares_between_fastest_and_slowest": SHARES,
           "protocol": "measured here: ONNX Runtime artifact, fresh process per measurement, 10 warm-up calls, "
                       "30 samples of 10 calls, 2 threads, median; one fresh latency store per run",
           "runs_also_in_band_0.85B_to_B": banded,
           "median_abs_model_error_all_rounds": statistics.median(errors) if errors else None,
           "runs": runs}
    write_json(doc, args.json, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
