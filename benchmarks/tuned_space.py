"""A search space tuned once, every arch of it built tuned: TVM against ONNX Runtime on the CPU.

    .venv/bin/python benchmarks/tuned_space.py [--spaces nb201,darts,mobilenet_v2] [--archs 10] [--trials 64]
                                               [--rounds 5] [--threads 2] [--cache DIR]
                                               [--out benchmarks/results/tuned_space.json]

Per space (``examples/SPACE.nas``; a file with a fixed arch, such as ``mobilenet_v2`` --
torchvision's MobileNetV2 at 224x224 -- is tuned and timed as a space of one arch):

1. **Tune.**  ``nasc profile SPACE --target cpu --backend tvm --tune --trials T`` in its own
   cache folder (``--cache``, default ``bench/tuned_space`` in nasc's cache directory), so the
   database is the one this benchmark filled.  The profile resumes: a run cut short keeps the
   tuning runs that finished, and running the benchmark again goes on from there.  The JSON
   states the trials, this run's wall time of the step, this run's tuning summary, and the tasks
   and tuning seconds the database's ledger holds (every space tuned into it so far, all runs).
2. **Build.**  ``ARCHS`` random archs (``nasc freeze SPACE --random i``, i = 0..ARCHS-1), each
   built by ``nasc build --backend tvm`` from that database (no trials: nothing is tuned at
   build time, which the build's own tuning report must confirm) and by ``--backend
   onnxruntime``; the TVM build's wall time (a fresh ``nasc build`` process) is recorded.
3. **Time.**  Every artifact in its own fresh ``nasc measure`` process, ``--rounds`` rounds in
   a fresh random order each (:mod:`fresh_timing`); an artifact's latency is the median of its
   per-round medians, and ``tvm_over_onnxruntime`` is TVM's latency / ONNX Runtime's for the
   same arch (above 1: TVM is slower).

Targets (exit 1 when one is missed), per space: the median ``tvm_over_onnxruntime`` over the
archs <= 1.5 (MobileNetV2: <= 1.3), the largest <= 2.5, every TVM build of a space's arch <= 60 s
(a fixed arch's build time is recorded, not judged), and every TVM build's tasks all taken from the
database without tuning at build time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from report import (RATIO_CONVENTION, ROOT, Target, at_least, at_most, project_relative, result_path,  # noqa: E402
                    verdict, write_json)
from fresh_timing import WINDOW, timed_pairs  # noqa: E402
from nasc_cli import run_nasc  # noqa: E402

from nasc import api  # noqa: E402
from nasc.backends.common import cache_root  # noqa: E402
from nasc.backends.manifest import library_versions  # noqa: E402
from nasc.backends.tvm.tuning import LEDGER, ledger  # noqa: E402

MEDIAN_RATIO_MAX = 1.5
MEDIAN_RATIO_MAX_OF = {"mobilenet_v2": 1.3}  # the bound for MobileNetV2
WORST_RATIO_MAX = 2.5
BUILD_SECONDS_MAX = 60.0


def tune(space: Path, trials: int, threads: int, cache: Path) -> dict[str, Any]:
    """Step 1: the resumable tuned profile, its output streamed (it can take hours)."""
    cmd = [sys.executable, "-m", "nasc", "profile", str(space), "--target", "cpu", "--backend", "tvm", "--tune",
           "--trials", str(trials), "--threads", str(threads), "--latency-db", str(cache / "latency.sqlite")]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, "NASC_CACHE_DIR": str(cache)}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - t0
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} failed (exit {proc.returncode})")
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("tuned ")]
    return {"command": "nasc " + project_relative(" ".join(cmd[3:])).replace(str(cache), "<cache>"),
            "trials_per_task": trials,
            "wall_seconds_this_run": round(seconds, 1),
            "summary_this_run": summary[-1] if summary else None, "database": ledger_totals(cache, trials)}


def ledger_totals(cache: Path, trials: int) -> dict[str, Any]:
    """What the database's ledger holds at ``trials`` or more: tasks, and the tuning seconds of
    the runs that tuned them (each ledger row carries its run's seconds and how many tasks
    shared it).  Read with the tuning module's own reader, which skips a line cut short by a
    kill, as the next tuning run does."""
    rows = [row for path in (cache / "tvm-metaschedule").glob(f"*/{LEDGER}") for row in ledger(path.parent).values()
            if row.get("trials", 0) >= trials]
    seconds = sum(float(r["seconds_with_batch"]) / max(int(r.get("tasks_in_batch", 1)), 1) for r in rows)
    return {"tasks_tuned": len(rows), "tuning_seconds_all_runs": round(seconds, 1)}


def build_archs(space: Path, n: int, work: Path, cache: Path) -> dict[str, dict[str, Any]]:
    """Step 2: ``n`` random archs, each built with TVM (from the database) and ONNX Runtime."""
    env = {"NASC_CACHE_DIR": str(cache)}
    archs: dict[str, dict[str, Any]] = {}
    for i in range(n):
        name = f"arch{i}"
        arch = work / f"{name}.nas"
        run_nasc("freeze", str(space), "--random", str(i), "-o", str(arch), env=env)
        row: dict[str, Any] = {"seed": i, "arch": project_relative(arch.read_text())}
        for backend in ("onnxruntime", "tvm"):
            out = work / f"{name}-{backend}"
            t0 = time.perf_counter()
            run_nasc("build", str(arch), "--target", "cpu", "--backend", backend, "--out", str(out), env=env)
            row[f"{backend}_build_seconds"] = round(time.perf_counter() - t0, 1)
            row[f"{backend}_dir"] = out
        details = json.loads((row["tvm_dir"] / "manifest.json").read_text())["details"]
        tuning, row["tvm_partition"] = details["tuning"], details.get("partition")
        row["tvm_tuning"] = {k: tuning[k] for k in ("tasks", "tasks_from_database", "tasks_tuned_now", "not_covered")} \
            if isinstance(tuning, dict) else tuning
        archs[name] = row
        print(f"{space.stem} {name}: tvm build {row['tvm_build_seconds']} s, tuning {row['tvm_tuning']}", flush=True)
    return archs


def from_database(tuning: Any) -> bool:
    """Every task of the build had a schedule from the database and none was tuned at build time."""
    return isinstance(tuning, dict) and not tuning["not_covered"] and tuning["tasks_tuned_now"] == 0


def run_space(name: str, args: argparse.Namespace, cache: Path, targets: dict[str, Target]) -> dict[str, Any]:
    space = ROOT / "examples" / f"{name}.nas"
    tuned = tune(space, args.trials, args.threads, cache)
    work = cache / "archs" / name
    work.mkdir(parents=True, exist_ok=True)
    fixed = api.load(space).elaborate().kind == "arch"  # one arch: built once, its build time recorded only
    archs = build_archs(space, 1 if fixed else args.archs, work, cache)
    ratios = timed_pairs(archs, "tvm", "onnxruntime", args.threads, args.rounds, name)
    median_ratio = statistics.median(ratios.values())
    worst = max(ratios.values())
    slowest_build = max(row["tvm_build_seconds"] for row in archs.values())
    covered = sum(from_database(row["tvm_tuning"]) for row in archs.values())
    targets[f"{name} median tvm_over_onnxruntime"] = at_most(round(median_ratio, 4),
                                                             MEDIAN_RATIO_MAX_OF.get(name, MEDIAN_RATIO_MAX))
    targets[f"{name} largest tvm_over_onnxruntime"] = at_most(round(worst, 4), WORST_RATIO_MAX)
    if not fixed:  # the bound is for a new arch of a tuned space
        targets[f"{name} slowest TVM build of an arch, seconds"] = at_most(slowest_build, BUILD_SECONDS_MAX)
    targets[f"{name} TVM builds wholly from the database"] = at_least(covered / len(archs), 1.0)
    return {"tuning": tuned, "archs": archs, "median_tvm_over_onnxruntime": median_ratio,
            "largest_tvm_over_onnxruntime": worst}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spaces", default="nb201,darts,mobilenet_v2")
    ap.add_argument("--archs", type=int, default=10)
    ap.add_argument("--trials", type=int, default=64, help="MetaSchedule trials per TVM task")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=None,
                    help="nasc cache folder of the tuning database and builds (default: bench/tuned_space in "
                         "nasc's cache directory)")
    ap.add_argument("--out", default=result_path("tuned_space"))
    args = ap.parse_args()
    if args.rounds < 5:
        ap.error("--rounds must be at least 5 (a spread sets one round aside and needs four left)")
    cache = (args.cache or cache_root(None) / "bench" / "tuned_space").resolve()
    cache.mkdir(parents=True, exist_ok=True)
    targets: dict[str, Target] = {}
    spaces = {name: run_space(name, args, cache, targets) for name in args.spaces.split(",")}
    doc = {"benchmark": "tuned_space", "ratio_convention": RATIO_CONVENTION,
           "protocol": {"tuning": "nasc profile --tune: each kernel of the space a micro-model, their TVM tasks "
                                  "tuned by MetaSchedule in shared runs into one database; archs built from it",
                        "archs": f"nasc freeze SPACE --random i for i in 0..{args.archs - 1} (a fixed "
                                 "arch: i = 0 only)",
                        "timing": f"each artifact in a fresh `nasc measure --json` process, {args.rounds} rounds in "
                                  f"a fresh random order each; {WINDOW.describe()}; latency = median of the "
                                  "per-round medians",
                        "threads": args.threads, "batch": 1},
           "versions": library_versions(["apache-tvm", "onnxruntime", "torch"]), "spaces": spaces}
    write_json(doc, args.out, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
