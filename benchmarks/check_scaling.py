"""`nasc check` scaling: time against the number of decisions, and one very wide choice.

Generates spaces of n sequential decisions in three shapes -- an op choice per line
written out (`h = h |> choice [...]`, n lines), the same through a `repeat` over a block
with a choice, and a width choice per layer whose value flows into the next layer's
shape -- for n in a sweep up to 5,000, plus one `choice` of 20,000 literal values.  Each
space is checked by `nasc check` in a fresh process, median of --repeats runs.

Targets: every 5,000-decision space and the 20,000-value choice check in under 5 s;
in each shape, time grows with exponent below 1.3 in the number of decisions (least
squares of log time on log n, with the time of a decision-free space taken off).  Both
are measured in CPU seconds of the `nasc check` process (median): on a machine shared
with other jobs its wall time also counts their work.  Median wall times are recorded
beside them.  Exit 1 on a miss.

    python benchmarks/check_scaling.py [--repeats 3] [--sizes 250,500,1000,2000,5000]
"""

from __future__ import annotations

import argparse
import math
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Target, at_most, verdict, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 5.0
TARGET_EXPONENT = 1.3
WIDE = 20_000
HEAD = "    input x: f32[B, 8, 8, 8]\n    h = x\n"
TAIL = "    output y = h |> gap |> linear(10)\n}\n"


def op_choices_written_out(n: int) -> str:
    return "space s {\n" + HEAD + "    h = h |> choice [conv3: relu_conv_bn(8, 3), skip: skip]\n" * n + TAIL


def op_choices_repeated(n: int) -> str:
    return ("block cell(C)(x) {\n    return x |> choice [conv3: relu_conv_bn(C, 3), skip: skip]\n}\n"
            "space s {\n" + HEAD + f"    repeat {n} {{ h = h |> cell(8) }}\n" + TAIL)


def width_choices(n: int) -> str:
    return ("space s {\n" + HEAD + f"    repeat {n} {{\n        C = choice [8, 16]\n"
            "        h = h |> conv(C, 3) |> bn |> relu\n    }\n" + TAIL)


def wide_choice(m: int) -> str:
    values = ", ".join(str(v) for v in range(1, m + 1))
    return f"space s {{\n{HEAD}    C = choice [{values}]\n    h = h |> conv(C, 1)\n{TAIL}"


SHAPES: dict[str, Callable[[int], str]] = {
    "op choices written out": op_choices_written_out,
    "op choices in a repeat": op_choices_repeated,
    "width choices into shapes": width_choices,
}


def run_check(path: Path, repeats: int) -> dict:
    """Median wall and CPU seconds of `nasc check path` in fresh processes; the decisions it reports."""
    walls, cpus, decisions = [], [], None
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "nasc", "check", str(path)], capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            raise SystemExit(f"nasc check {path.name} exited {proc.returncode}:\n{proc.stderr}")
        m = re.search(r": (\d+) decisions", proc.stdout)
        decisions = int(m.group(1)) if m else None
    return {"wall_s": round(statistics.median(walls), 3), "cpu_s": round(statistics.median(cpus), 3),
            "decisions": decisions, "bytes": path.stat().st_size}


def exponent(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of log(time) on log(n)."""
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(max(t, 1e-3)) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="250,500,1000,2000,5000", help="decision counts of the sweep")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "check_scaling.json"))
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    largest = sizes[-1]
    targets: dict[str, Target] = {}
    shapes: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        def measure(name: str, text: str) -> dict:
            path = Path(tmp) / f"{name}.nas"
            path.write_text(text)
            return run_check(path, args.repeats)

        base = measure("base", op_choices_repeated(0))
        print(f"no decisions: {base['wall_s']:.2f} s wall, {base['cpu_s']:.2f} s cpu (start-up, taken off the fit)")
        for shape, make in SHAPES.items():
            rows = []
            for n in sizes:
                row = {"n": n, **measure(f"{make.__name__}_{n}", make(n))}
                rows.append(row)
                print(f"{shape:28s} n={n:5d}  {row['wall_s']:6.2f} s wall  {row['cpu_s']:6.2f} s cpu")
            k = exponent([(r["n"], r["cpu_s"] - base["cpu_s"]) for r in rows])
            shapes[shape] = {"rows": rows, "exponent": round(k, 3)}
            print(f"{shape:28s} growth exponent {k:.2f}")
            targets[f"{shape}: {largest:,} decisions, CPU seconds"] = at_most(rows[-1]["cpu_s"], TARGET_S)
            targets[f"{shape}: growth exponent"] = at_most(round(k, 3), TARGET_EXPONENT)
        wide = measure("wide_choice", wide_choice(WIDE))
        print(f"one choice of {WIDE:,} values       {wide['wall_s']:6.2f} s wall  {wide['cpu_s']:6.2f} s cpu")
        targets[f"one choice of {WIDE:,} values, CPU seconds"] = at_most(wide["cpu_s"], TARGET_S)
    doc = {"benchmark": "check_scaling", "repeats": args.repeats, "machine": platform.machine(),
           "python": platform.python_version(), "baseline": base, "shapes": shapes,
           "wide_choice": {"values": WIDE, **wide},
           "rule": f"median cpu < {TARGET_S:g} s at {largest:,} decisions and for one {WIDE:,}-value choice; "
                   f"exponent of (cpu - baseline cpu) vs decisions < {TARGET_EXPONENT}; wall recorded"}
    write_json(doc, args.out, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
