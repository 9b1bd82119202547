"""Frontend speed: parse + elaborate (+ size and cost bounds) of every example space.

Target (issue: the .nas frontend): parsing and elaborating the DARTS space takes
under 1 s.  Each measurement is a fresh loader (grammar tables included), median
over repeats; results go to JSON.  Exit code 1 when the DARTS target is missed.

    python benchmarks/frontend_speed.py [--repeats 7] [--out benchmarks/results/frontend_speed.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from nasc import api
from nasc.frontend.resolve import Loader

ROOT = Path(__file__).resolve().parent.parent


def measure(path: Path, repeats: int) -> dict:
    parse_elab, summary = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        compiled = api.load(path, Loader.from_env())
        space = compiled.elaborate()
        t1 = time.perf_counter()
        api.summarize(space)
        t2 = time.perf_counter()
        parse_elab.append(t1 - t0)
        summary.append(t2 - t1)
    return {"file": path.name, "nodes": len(space.graph), "decisions": len(space.free),
            "parse_elaborate_s": {"median": statistics.median(parse_elab), "min": min(parse_elab),
                                  "max": max(parse_elab)},
            "size_and_bounds_s": {"median": statistics.median(summary)}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "frontend_speed.json"))
    args = ap.parse_args()
    rows = [measure(p, args.repeats) for p in sorted((ROOT / "examples").glob("*.nas"))]
    darts = next(r for r in rows if r["file"] == "darts.nas")
    ok = darts["parse_elaborate_s"]["median"] < 1.0
    doc = {"benchmark": "frontend_speed", "repeats": args.repeats, "machine": platform.machine(),
           "python": platform.python_version(), "target": "darts parse+elaborate < 1 s", "met": ok, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    for r in rows:
        print(f"{r['file']:18s} nodes {r['nodes']:5d}  parse+elaborate {r['parse_elaborate_s']['median']*1e3:7.1f} ms"
              f"  size+bounds {r['size_and_bounds_s']['median']*1e3:7.1f} ms")
    print(f"DARTS target (< 1 s): {'met' if ok else 'MISSED'}; wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
