"""Frontend speed: parse + elaborate (+ size and cost bounds) of every example space.

Targets: parsing and elaborating the DARTS space (974 IR nodes) takes under 1 s, so
`nasc check` stays interactive; the exact size and cost bounds of the largest space
(mbv2_macro, ~4.3e22 architectures) take under 1 s too, because they come from variable
elimination, not enumeration.  Both are absolute times, so they are judged on CPU time
(single-threaded Python: the time a dedicated core would take), which other jobs on a
shared machine do not inflate; wall times are reported next to them.  Each measurement
is a fresh loader (grammar tables included), median over repeats, all in one process;
results go to JSON; exit code 1 when a target is missed.

    python benchmarks/frontend_speed.py [--repeats 7] [--out benchmarks/results/frontend_speed.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, at_most, clocks, elapsed, result_path, verdict, write_json  # noqa: E402

from nasc import api  # noqa: E402
from nasc.frontend.resolve import Loader  # noqa: E402


def seconds(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Median CPU and wall seconds of (wall, cpu) samples, with the CPU min and max."""
    cpu = [c for _, c in samples]
    return {"cpu_median": statistics.median(cpu), "cpu_min": min(cpu), "cpu_max": max(cpu),
            "wall_median": statistics.median(w for w, _ in samples)}


def measure(path: Path, repeats: int) -> dict:
    parse_elab, summary = [], []
    for _ in range(repeats):
        t0 = clocks()
        compiled = api.load(path, Loader.from_env())
        space = compiled.elaborate()
        t1 = clocks()
        api.summarize(space)
        t2 = clocks()
        parse_elab.append(elapsed(t0, t1))
        summary.append(elapsed(t1, t2))
    return {"file": path.name, "nodes": len(space.graph), "decisions": len(space.free),
            "parse_elaborate_s": seconds(parse_elab), "size_and_bounds_s": seconds(summary)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=result_path("frontend_speed"))
    args = ap.parse_args()
    rows = [measure(p, args.repeats) for p in sorted((ROOT / "examples").glob("*.nas"))]
    by_file = {r["file"]: r for r in rows}
    targets = {"darts.nas parse + elaborate (median CPU s)":
               at_most(by_file["darts.nas"]["parse_elaborate_s"]["cpu_median"], 1.0, "s"),
               "mbv2_macro.nas exact size and cost bounds (median CPU s)":
               at_most(by_file["mbv2_macro.nas"]["size_and_bounds_s"]["cpu_median"], 1.0, "s")}
    write_json({"benchmark": "frontend_speed", "repeats": args.repeats,
                "protocol": "fresh Loader per repeat (grammar tables included), median over repeats, one process; "
                            "CPU = user + system seconds of the process, wall = time.perf_counter",
                "rows": rows}, args.out, targets)
    for r in rows:
        pe, sb = r["parse_elaborate_s"], r["size_and_bounds_s"]
        print(f"{r['file']:18s} nodes {r['nodes']:5d}  parse+elaborate {pe['cpu_median']*1e3:7.1f} ms CPU"
              f" ({pe['wall_median']*1e3:7.1f} wall)  size+bounds {sb['cpu_median']*1e3:7.1f} ms CPU"
              f" ({sb['wall_median']*1e3:7.1f} wall)")
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
