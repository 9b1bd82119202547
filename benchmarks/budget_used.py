"""The "budget used" rule on the digits example: a hard params budget is used, not only obeyed.

For three bounds B spread between the smallest and the largest architecture of
examples/digits.nas (both exact, from the cost model's min/max over the space), the
space's own budget is replaced by ``params <= B`` and `nasc search` runs a short search
(3 epochs, one torch thread) through the real CLI.  Target: every found architecture has
params in [0.85 B, B] (judged on the exact count of its own `arch.nas`, which `nasc
search` also records in summary.json).  A fourth search under a bound above the space's
largest architecture must say that it cannot use the budget (its summary's reason), as
the rule promises when the band is out of reach.

    python benchmarks/budget_used.py [--out runs/budget_used] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, Target, clocks, elapsed, result_path, verdict, write_json  # noqa: E402
from nasc_cli import run_nasc  # noqa: E402

from nasc import api  # noqa: E402
from nasc.search.budget_use import FLOOR  # noqa: E402

EXAMPLE = ROOT / "examples" / "digits.nas"
BUDGET_LINE = re.compile(r"constraint params <= \S+")
SHARES = (0.25, 0.5, 0.75)  # where the bounds sit between the space's smallest and largest architecture
ABOVE = 1.25  # the unreachable bound, as a multiple of the largest architecture


def _search(bound: int, out: Path, epochs: int) -> dict[str, Any]:
    """`nasc search` of the digits example under ``params <= bound``; its summary and the arch's own count."""
    text, n = BUDGET_LINE.subn(f"constraint params <= {bound}", EXAMPLE.read_text())
    assert n == 1, "examples/digits.nas no longer has exactly one params budget"
    out.mkdir(parents=True, exist_ok=True)
    src = out / f"digits_{bound}.nas"
    src.write_text(text)
    t0 = clocks()
    run_nasc("search", str(src), "--out", str(out / "search"), "--set", f"search.epochs={epochs}",
             env={"OMP_NUM_THREADS": "1"})
    wall, cpu = elapsed(t0, clocks())
    summary = json.loads((out / "search" / "summary.json").read_text())
    arch = api.load(out / "search" / "arch.nas").elaborate()
    (check,) = [c for c in summary["constraints"] if c["constraint"].startswith("params")]
    return {"bound": bound, "params": api.summarize(arch)["params"][0], "summary_params": summary["params"],
            "used": check["used"], "band_held": check["band_held"], "reason": check["reason"],
            "rule": summary["discretization"]["rule"], "assignments_tried": summary["discretization"]["assignments_tried"],
            "search_cpu_s": round(cpu, 1), "search_wall_s": round(wall, 1)}


def in_band(params: int, bound: int) -> Target:
    return Target(FLOOR * bound <= params <= bound, params, f"in [{FLOOR * bound:.0f}, {bound}] params")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "runs" / "budget_used"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--json", default=result_path("budget_used"))
    args = ap.parse_args()
    smallest, largest = api.summarize(api.load(EXAMPLE).elaborate())["params"]
    bounds = [round(smallest + s * (largest - smallest)) for s in SHARES]
    runs = [_search(b, Path(args.out) / str(b), args.epochs) for b in bounds]
    above = _search(round(ABOVE * largest), Path(args.out) / "above", args.epochs)
    targets = {f"params of the arch found under params <= {r['bound']}": in_band(r["params"], r["bound"])
               for r in runs}
    reason = above["reason"] or ""
    targets[f"a bound above the largest arch ({above['bound']}) is reported as unusable"] = Target(
        not above["band_held"] and reason.startswith("cannot use the budget"), reason or None,
        "the summary's reason starts with 'cannot use the budget'")
    doc = {"benchmark": "budget_used", "example": "examples/digits.nas", "space_params": [smallest, largest],
           "band": f"[{FLOOR} B, B]", "protocol": f"nasc search --set search.epochs={args.epochs}, "
           "OMP_NUM_THREADS=1, the example's experiment otherwise; B = smallest + share * (largest - smallest) "
           f"for shares {list(SHARES)}, and {ABOVE} x largest for the unreachable bound",
           "runs": runs, "above_largest": above}
    write_json(doc, args.json, targets)
    for r in [*runs, above]:
        print(f"params <= {r['bound']}: {r['params']:,} params ({r['used']:.1%} of the bound, rule "
              f"'{r['rule']}', {r['assignments_tried']} assignments tried, {r['search_cpu_s']} CPU s)")
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
