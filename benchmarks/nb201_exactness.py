"""NAS-Bench-201 exactness: params and MACs of all 15,625 architectures vs the benchmark.

Reads ../shared/data/nb201/nb201_acc.csv (the benchmark's official cifar10 counts)
and checks every architecture of examples/nb201.nas within 0.5%.  Writes JSON with
the worst relative errors; exit code 1 when any architecture is off.

    python benchmarks/nb201_exactness.py [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from nasc import api
from nasc.ir.cost import arch_cost

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "nb201" / "nb201_acc.csv"
EDGES = ["e01", "e02", "e12", "e03", "e13", "e23"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="check only the first N rows (0 = all)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "nb201_exactness.json"))
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} not found")
        return 0
    rows = list(csv.DictReader(DATA.open()))
    if args.limit:
        rows = rows[: args.limit]
    compiled = api.load(ROOT / "examples" / "nb201.nas")
    space = compiled.elaborate()
    labels = {e: space.decision(f"nb201_cell.{e}").labels for e in EDGES}
    worst = {"params": (0.0, ""), "macs": (0.0, "")}
    bad = []
    t0 = time.perf_counter()
    for row in rows:
        ops = [t.split("~")[0] for part in row["arch_str"].strip("|").split("|+|") for t in part.split("|")]
        assign = {f"nb201_cell.{e}": labels[e].index(o) for e, o in zip(EDGES, ops)}
        arch = compiled.elaborate(pins=api.pins_from_assignment(assign))
        cost = arch_cost(arch.graph.prune(), compiled.loader.ops)
        for key, ours, ref in (("params", cost.params, float(row["cifar10_params_M"]) * 1e6),
                               ("macs", cost.macs, float(row["cifar10_flops_M"]) * 1e6)):
            err = abs(ours - ref) / ref
            if err > worst[key][0]:
                worst[key] = (err, row["arch_str"])
            if err > 0.005:
                bad.append({"arch": row["arch_str"], key: ours, "reference": ref})
    seconds = time.perf_counter() - t0
    doc = {"benchmark": "nb201_exactness", "architectures": len(rows), "tolerance": 0.005,
           "worst_rel_error": {k: {"error": v[0], "arch": v[1]} for k, v in worst.items()},
           "failures": bad[:20], "n_failures": len(bad), "seconds": seconds,
           "ms_per_architecture": 1e3 * seconds / max(1, len(rows))}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{len(rows)} architectures, worst params error {worst['params'][0]:.2e}, macs {worst['macs'][0]:.2e}, "
          f"{len(bad)} over 0.5%  ({seconds:.0f} s); wrote {args.out}")
    return 0 if not bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
