"""The CPU loop end to end on the digits example: `nasc search`, then `nasc train`.

Targets (issue: differentiable search): the search of examples/digits.nas finishes
in under 2 minutes on a 2-core machine, and retraining the found architecture from
scratch reaches at least 96% accuracy on the held-out test split (which the
search never saw).  Runs the real CLI in subprocesses; writes JSON; exit code 1
when a target is missed.

    python benchmarks/digits_e2e.py [--out runs/digits_e2e]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import verdict, write_json  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "runs" / "digits_e2e"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "digits_e2e.json"))
    args = ap.parse_args()
    out = Path(args.out)
    t0 = time.perf_counter()
    s = subprocess.run([sys.executable, "-m", "nasc", "search", str(ROOT / "examples" / "digits.nas"),
                        "--out", str(out)], capture_output=True, text=True)
    search_s = time.perf_counter() - t0
    if s.returncode != 0:
        print(s.stderr)
        return 1
    t1 = time.perf_counter()
    t = subprocess.run([sys.executable, "-m", "nasc", "train", str(out / "arch.nas"), "--out", str(out / "train")],
                       capture_output=True, text=True)
    train_s = time.perf_counter() - t1
    if t.returncode != 0:
        print(t.stderr)
        return 1
    metrics = json.loads((out / "train" / "metrics.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    targets = {"search under 120 s (wall, whole command)": search_s < 120.0,
               "test accuracy >= 0.96 after retraining": metrics["test_accuracy"] >= 0.96}
    doc = {"benchmark": "digits_e2e", "search_wall_s": search_s, "train_wall_s": train_s,
           "search_summary": {k: summary[k] for k in ("seconds", "seed", "arch_sha256", "decisions", "params",
                                                       "macs", "constraints")},
           "train_metrics": metrics, "targets": targets}
    write_json(doc, args.json)
    print(f"search {search_s:.1f} s, train {train_s:.1f} s, test accuracy {metrics['test_accuracy']:.4f} "
          f"({metrics['params']:,} params)")
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
