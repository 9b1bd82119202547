"""NAS-Bench-201 exactness: every one of the 15,625 architectures elaborated as a concrete arch.

The unit test (tests/test_cost.py) checks all 15,625 through the space's decision tables
and a sample by elaboration; this benchmark elaborates every architecture from its pins
and costs its graph, the slow and independent path, against the benchmark's official
counts shipped in nasc/data/nb201 (params equal; MACs + classes equal within the table's
rounding: see nasc/data/nb201/README.md).  Targets: no architecture differs, every row of
the table is checked.  Exit 1 on a miss.

    python benchmarks/nb201_exactness.py [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nasc import api
from nasc.data import nb201
from nasc.ir.cost import arch_cost

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Target, verdict, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="check only the first N rows (0 = all; misses the target)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "nb201_exactness.json"))
    args = ap.parse_args()
    rows = nb201.accuracy_rows()
    total = len(rows)
    if args.limit:
        rows = rows[: args.limit]
    compiled = api.load(ROOT / "examples" / "nb201.nas")
    space = compiled.elaborate()
    classes = space.graph.node(space.graph.outputs[0]).shape[1]
    bad = []
    t0 = time.perf_counter()
    for row in rows:
        arch = compiled.elaborate(pins=api.pins_from_assignment(nb201.assignment(space, row["arch_str"])))
        cost = arch_cost(arch.graph.prune(), compiled.loader.ops)
        why = nb201.cost_mismatch(row, cost.params, cost.macs, classes)
        if why:
            bad.append({"arch": row["arch_str"], "mismatch": why})
    seconds = time.perf_counter() - t0
    targets = {"architectures whose params or MACs differ from the benchmark's": Target(not bad, len(bad), "== 0"),
               "architectures checked": Target(len(rows) == total, len(rows), f"== {total:,} (all)")}
    doc = {"benchmark": "nb201_exactness", "architectures": len(rows), "of": total,
           "rule": "params equal; MACs + classes within +-5 of the benchmark's FLOPs (its rounding)",
           "reference": "nasc/data/nb201/nb201_acc.csv (cifar10_params_M, cifar10_flops_M)",
           "failures": bad[:20], "n_failures": len(bad), "seconds": round(seconds, 1),
           "ms_per_architecture": round(1e3 * seconds / max(1, len(rows)), 2)}
    print(f"{len(rows):,} architectures, {len(bad)} differ ({seconds:.0f} s)")
    write_json(doc, args.out, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
