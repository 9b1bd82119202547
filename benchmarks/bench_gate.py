"""`nasc bench` as a CI gate: false alarms on an unchanged artifact, detections of a slower one.

    .venv/bin/python benchmarks/bench_gate.py [--run runs/demo] [--runs 10]
                                              [--out benchmarks/results/bench_gate.json]

The artifact is the demo's (``RUN/artifact``, compiled with ``nasc compile
examples/digits.nas --target cpu --out RUN`` when missing), the one ``make gate`` checks
in CI.  One ``nasc bench RUN/artifact --write-baseline`` run writes its own baseline
(the command's default for a baseline: 21 rounds).

The slower build is the same arch, one cell deeper: the demo's ``arch.nas`` with its last
cell before the pooling repeated (what ``depth = 3`` would give in ``examples/digits.nas``,
whose ``depth`` stops at 2), built by ``nasc build --backend onnxruntime`` with the same
precision.  It is a real artifact of the same backend, target and precision, so the gate
compares it (a baseline of another backend or precision is refused, exit 2); it is what a
search that lost its parameter constraint, or a lowering that duplicated a block, would
ship.  Its weights are a seeded initialization: an fp32 latency does not depend on them.

Then ``--runs`` times, in alternating order, ``nasc bench --baseline`` on the unchanged
artifact and on the slower build, each a fresh ``nasc`` process with the command's
defaults (rounds, tolerance).  Targets (exit 1 when one is missed):

* no false alarm: the unchanged artifact never exits 1;
* detections: the slower build exits 1 in at least 9 of 10 runs (scaled to ``--runs``).

A run that ends in anything but a verdict (exit 0 or 1) ends the benchmark.

The JSON also gives every run's figure and change against the baseline, so the margin on
both sides of the tolerance is visible.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, Target, at_least, at_most, result_path, verdict, write_json  # noqa: E402
from nasc_cli import run_nasc  # noqa: E402

from nasc.backends.manifest import library_versions  # noqa: E402
from nasc.bench.commands import DEFAULT_TOLERANCE_PCT  # noqa: E402

DETECT_SHARE = 0.9


def rel(path: Path) -> str:
    return str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)


def one_more_cell(arch_text: str, name: str) -> str:
    """The arch renamed ``name``, with the cell that ends at the last ``h = `` before the
    pooling repeated once (comment lines dropped: they describe the original)."""
    lines = [ln for ln in arch_text.splitlines() if not ln.startswith("#")]
    pool = next(i for i, ln in enumerate(lines) if "max_pool" in ln)
    ends = [i for i in range(pool) if lines[i].strip().startswith("h = ")]
    if len(ends) < 2:
        raise SystemExit("the demo arch has no cell before its pooling to repeat")
    start, end = ends[-2] + 1, ends[-1] + 1
    header = lines[0].split()
    lines[0] = " ".join([header[0], name, *header[2:]])
    return "\n".join(lines[:end] + lines[start:end] + lines[end:]) + "\n"


def params(arch: Path) -> int:
    return json.loads(run_nasc("check", str(arch), "--json").stdout)["spaces"][0]["params"][0]


def bench(art: Path, baseline: Path, *flags: str) -> dict[str, Any]:
    """One `nasc bench --json` process; its exit code, figure and comparison."""
    t0 = time.perf_counter()
    proc = run_nasc("bench", rel(art), "--json", *flags, ok=(0, 1), cwd=ROOT)
    doc = json.loads(proc.stdout)
    row = {"exit": proc.returncode, "artifact_over_reference": doc["artifact_over_reference"],
           "spread": doc["spread"], "load_1min": doc["host"]["load_1min"],
           "seconds": round(time.perf_counter() - t0, 1)}
    if "comparison" in doc:
        row.update(change_pct=doc["comparison"]["change_pct"], reason=doc["comparison"]["reason"])
    else:
        row["document"] = doc
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=str(ROOT / "runs" / "demo"), help="the demo's run folder (compiled if missing)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--workdir", default=str(ROOT / "runs" / "bench_gate"))
    ap.add_argument("--out", default=result_path("bench_gate"))
    args = ap.parse_args()
    run, work = Path(args.run), Path(args.workdir)
    if not (run / "artifact" / "manifest.json").is_file():
        run_nasc("compile", "examples/digits.nas", "--target", "cpu", "--out", rel(run), cwd=ROOT)
    art = run / "artifact"
    manifest = json.loads((art / "manifest.json").read_text())
    work.mkdir(parents=True, exist_ok=True)
    deeper = work / "deeper.nas"
    deeper.write_text(one_more_cell((run / "search" / "arch.nas").read_text(), "digits_one_cell_deeper"))
    slow = work / "deeper"
    run_nasc("build", rel(deeper), "--backend", manifest["backend"], "--precision", manifest["precision"],
             "--out", rel(slow), cwd=ROOT)

    baseline = work / "baseline.json"
    first = bench(art, baseline, "--write-baseline", rel(baseline))
    print(f"baseline artifact_over_reference {first['artifact_over_reference']:.4f}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {"unchanged": [], "one_cell_deeper": []}
    paths = {"unchanged": art, "one_cell_deeper": slow}
    for i in range(args.runs):
        for name in (list(paths) if i % 2 == 0 else list(paths)[::-1]):
            row = bench(paths[name], baseline, "--baseline", rel(baseline))
            runs[name].append(row)
            print(f"run {i + 1}/{args.runs} {name:15s} exit {row['exit']}  {row['reason']}  ({row['seconds']} s, "
                  f"load {row['load_1min']['start']})", flush=True)

    false_alarms = sum(r["exit"] == 1 for r in runs["unchanged"])
    detections = sum(r["exit"] == 1 for r in runs["one_cell_deeper"])
    changes = {name: [r["change_pct"] for r in rows] for name, rows in runs.items()}
    targets: dict[str, Target] = {
        "false alarms on the unchanged artifact": at_most(false_alarms, 0, f"of {args.runs} runs"),
        "detections of the one-cell-deeper build": at_least(detections, math.ceil(DETECT_SHARE * args.runs),
                                                            f"of {args.runs} runs"),
    }
    doc = {"benchmark": "bench_gate",
           "what": "nasc bench --baseline as a CI gate: how often it fails an unchanged artifact, and how often "
                   "it fails a slower build of the same backend, target and precision",
           "artifact": {"path": rel(art), "arch": rel(run / "search" / "arch.nas"), "backend": manifest["backend"],
                        "precision": manifest["precision"], "params": params(run / "search" / "arch.nas")},
           "slower_build": {"what": "the demo arch with its last cell before the pooling repeated (depth 3 where "
                                    "examples/digits.nas stops at 2), seeded weights, same backend and precision",
                            "command": f"nasc build {rel(deeper)} --backend {manifest['backend']} --precision "
                                       f"{manifest['precision']}", "params": params(deeper)},
           "tolerance_pct": DEFAULT_TOLERANCE_PCT, "tolerance_source": "nasc bench's default (--tolerance)",
           "baseline_run": first["document"],
           "runs": runs,
           "summary": {"false_alarms": false_alarms, "detections": detections, "runs_each": args.runs,
                       "unchanged_change_pct": {"max": max(changes["unchanged"]),
                                                "median": statistics.median(changes["unchanged"])},
                       "one_cell_deeper_change_pct": {"min": min(changes["one_cell_deeper"]),
                                                      "median": statistics.median(changes["one_cell_deeper"])},
                       "change_pct": "(artifact_over_reference / the baseline's - 1) x 100",
                       "seconds_per_run": statistics.median(r["seconds"] for rows in runs.values() for r in rows)},
           "versions": library_versions()}
    write_json(doc, args.out, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
