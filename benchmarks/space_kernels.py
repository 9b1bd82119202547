"""Exact kernel enumeration against brute force over every architecture.

``nasc profile`` measures the distinct kernels a space can produce, computed from the IR
by :func:`nasc.latency.space_kernels.space_kernels`.  This benchmark checks that set
against the union of the kernels of every architecture, each elaborated from its pins and
put through the real pipeline (:func:`nasc.latency.arch_kernels.arch_kernels`:
from_arch, fold-bn, fuse, and the precision's pass):

* NAS-Bench-201 (15,625 architectures), digits_tiny (28,800) and digits (57,600), all of
  them, at fp32 -- and digits_tiny at int8 too: the sets must be equal (nothing missed,
  nothing extra);
* edge_budget (140,625 architectures, too many to run here) on a seeded random sample:
  the enumeration must contain the sample's kernels;
* NAS-Bench-201's enumeration takes under 10 CPU-seconds.

It also lists, for information, each example's kernel count and enumeration time at fp32,
fp16 and int8.  Exit 1 on a miss.

    python benchmarks/space_kernels.py [--spaces nb201,digits_tiny,digits,edge_budget] [--limit N] [--no-table]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Target, at_most, clocks, elapsed, result_path, verdict, write_json  # noqa: E402

from nasc import api  # noqa: E402
from nasc.latency.arch_kernels import arch_kernels, every_arch  # noqa: E402
from nasc.latency.space_kernels import space_kernels  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EXHAUSTIVE = {"nb201": ("fp32",), "digits_tiny": ("fp32", "int8"), "digits": ("fp32",)}
SAMPLED = {"edge_budget": 1000}
TABLE = ("digits_tiny", "digits", "nb201", "edge_budget", "darts", "mbv2_macro", "mobilenet_v2", "resnet18")
PRECISIONS = ("fp32", "fp16", "int8")
NB201_CPU_S = 10.0


def enumerate_space(name: str, precision: str) -> tuple[set[str], float, int]:
    """The enumerated signatures, the CPU seconds it took, the runs it evaluated."""
    compiled = api.load(EXAMPLES / f"{name}.nas")
    space = compiled.elaborate()
    start = clocks()
    result = space_kernels(space, compiled.loader.ops, precision)
    _, cpu = elapsed(start, clocks())
    return {k.signature for k in result.kernels}, cpu, result.runs


def brute_force(name: str, precisions: tuple[str, ...], assignments: list[dict[str, int]]) -> dict[str, set[str]]:
    """The union of the kernels of the given architectures, per precision (one elaboration
    and one set of weights per architecture, shared by the precisions)."""
    import torch

    from nasc.lower.arch import ArchNet

    compiled = api.load(EXAMPLES / f"{name}.nas")
    space = compiled.elaborate()
    lib = compiled.loader.ops
    seen: dict[str, set[str]] = {p: set() for p in precisions}
    t0 = time.perf_counter()
    for i, assignment in enumerate(assignments, 1):
        graph = compiled.elaborate(space.name, api.pins_from_assignment(assignment)).graph.prune()
        torch.manual_seed(0)
        state = ArchNet(graph, lib).state_dict()
        for p in precisions:
            seen[p] |= {k.signature for k in arch_kernels(graph, lib, p, state=state)}
        if i % 2000 == 0:
            print(f"  {name}: {i:,}/{len(assignments):,} architectures ({time.perf_counter() - t0:.0f} s)", flush=True)
    return seen


def compare(name: str, precisions: tuple[str, ...], assignments: list[dict[str, int]], complete: bool, what: str,
            rows: list[dict[str, Any]], targets: dict[str, Target]) -> None:
    start = clocks()
    seen = brute_force(name, precisions, assignments)
    wall, _ = elapsed(start, clocks())
    for p in precisions:
        found, cpu, runs = enumerate_space(name, p)
        missed, extra = sorted(seen[p] - found), sorted(found - seen[p])
        rows.append({"space": name, "precision": p, "architectures": len(assignments), "all_architectures": complete,
                     "enumerated": len(found), "seen_in_architectures": len(seen[p]), "missed": missed[:10],
                     "which": what, "n_missed": len(missed), "extra": extra[:10], "n_extra": len(extra),
                     "enumeration_cpu_s": round(cpu, 2), "enumeration_runs": runs,
                     "brute_force_wall_s": round(wall, 1)})
        print(f"{name} {p}: enumerated {len(found)}, seen in {len(assignments):,} architectures {len(seen[p])}, "
              f"missed {len(missed)}, extra {len(extra)}", flush=True)
        targets[f"{name} {p}: kernels of {what} the enumeration misses"] = Target(not missed, len(missed), "== 0")
        if complete:
            targets[f"{name} {p}: enumerated kernels no architecture has"] = Target(not extra, len(extra), "== 0")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spaces", default=",".join([*EXHAUSTIVE, *SAMPLED]),
                    help="which of the compared spaces to run (comma-separated)")
    ap.add_argument("--limit", type=int, default=0,
                    help="only the first N architectures of each space (0 = all; a partial run misses targets)")
    ap.add_argument("--no-table", action="store_true", help="skip the per-example table of counts and times")
    ap.add_argument("--out", default=result_path("space_kernels"))
    args = ap.parse_args()
    chosen = [s for s in args.spaces.split(",") if s]
    unknown = sorted(set(chosen) - set(EXHAUSTIVE) - set(SAMPLED))
    if unknown:
        ap.error(f"unknown space(s) {', '.join(unknown)}; choose from {', '.join([*EXHAUSTIVE, *SAMPLED])}")
    rows: list[dict[str, Any]] = []
    targets: dict[str, Target] = {}
    for name in chosen:
        space = api.load(EXAMPLES / f"{name}.nas").elaborate()
        if name in EXHAUSTIVE:
            archs = list(every_arch(space))
            complete = not args.limit or args.limit >= len(archs)
            chosen_archs = archs if complete else archs[:args.limit]
            what = "every architecture" if complete else f"the first {len(chosen_archs):,} architectures"
            compare(name, EXHAUSTIVE[name], chosen_archs, complete, what, rows, targets)
        else:
            count = args.limit or SAMPLED[name]
            compare(name, ("fp32",), [api.random_assignment(space, seed) for seed in range(count)], False,
                    f"{count:,} random architectures (seeds 0..{count - 1})", rows, targets)
    nb201 = [r for r in rows if r["space"] == "nb201" and r["precision"] == "fp32"]
    if nb201:
        targets["nb201 fp32 enumeration CPU seconds"] = at_most(nb201[0]["enumeration_cpu_s"], NB201_CPU_S)
    table = []
    for name in () if args.no_table else TABLE:
        for p in PRECISIONS:
            found, cpu, runs = enumerate_space(name, p)
            table.append({"space": name, "precision": p, "kernels": len(found), "cpu_s": round(cpu, 2), "runs": runs})
            print(f"  {name:14s} {p}: {len(found):5d} kernels, {cpu:6.2f} CPU-s", flush=True)
    doc = {"benchmark": "space_kernels", "comparisons": rows, "kernels_per_example": table,
           "rule": "enumeration == union over every architecture (exhaustive spaces); enumeration contains the "
                   "union over the sample (sampled spaces)",
           "reference": "each architecture elaborated from its pins, ArchNet weights (seed 0), from_arch, then "
                        "nasc.latency.space_kernels.PIPELINES[precision]",
           "cpu_time": "process CPU seconds (user + system) of the enumeration alone"}
    write_json(doc, args.out, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
