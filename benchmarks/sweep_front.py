"""``nasc sweep`` against random search at equal compute, and a sweep killed and resumed.

0. (inside the sweep) ``nasc sweep`` first profiles the space's kernels (cpu, ONNX Runtime,
   the sweep's thread count) into its own latency store, so the searches optimize the
   kernel-sum model of measured kernels, not the roofline prior (which on the digits
   networks, 13-60 us, tracks their MACs and not their time).  Its seconds are part of the
   sweep's task-seconds.
1. ``nasc sweep examples/digits.nas --lambda 0.01,0.1,1 --seeds 0..2`` (cpu, ONNX Runtime,
   every latency measured), started as a child process and SIGKILLed once some tasks
   finished while others were still running, then run again with the same command: every
   task that had finished must be reused (its report not rewritten, ``tasks.jsonl`` saying
   ``reused`` and never ``started`` for it after the kill) and the sweep must end.
2. ``nasc sweep ... --baseline random-search --max-task-seconds S`` with S the sweep's own
   task-seconds, the profile's included (equal compute: summed wall seconds of the tasks, one
   CPU each), into its own directory.
3. Both fronts' hypervolumes under ONE reference point, chosen from the points of both
   (``nasc.sweep.hypervolume.shared_reference``: the lowest accuracy of all, the highest
   latency of all x 1.1).

Targets: the sweep's hypervolume is larger than random search's; the resume reused every
task that had finished.  Exit 1 on a miss.

    python benchmarks/sweep_front.py [--lambdas 0.01,0.1,1] [--seeds 0..2] [--epochs E] [--threads 1] [--work DIR]

``--epochs E`` sets both the search's and the retraining's epochs (default: the example's),
for a quick check of the harness; the JSON records it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, Target, result_path, verdict, write_json  # noqa: E402
from nasc_cli import run_nasc  # noqa: E402

from nasc.sweep.hypervolume import Point, hypervolume, shared_reference  # noqa: E402


def events(out: Path) -> list[dict[str, Any]]:
    try:
        lines = (out / "tasks.jsonl").read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip().endswith("}")]


def killed_and_resumed(argv: list[str], out: Path, kill_after: int) -> dict[str, Any]:
    """Run the sweep, SIGKILL its driver once ``kill_after`` tasks finished, run it again."""
    driver = subprocess.Popen([sys.executable, "-m", "nasc", *argv], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    while driver.poll() is None:
        if sum(e["event"] == "finished" for e in events(out)) >= kill_after:
            driver.send_signal(signal.SIGKILL)
            break
        time.sleep(0.2)
    driver.wait()
    killed_at = time.time()
    finished = sorted({e["name"] for e in events(out) if e["event"] == "finished"})
    mtimes = {n: (out / "runs" / n / "report.json").stat().st_mtime_ns for n in finished}
    in_flight = sorted({e["name"] for e in events(out) if e["event"] == "started"} - set(finished))
    time.sleep(1)
    t0 = time.perf_counter()
    run_nasc(*argv)
    later = [e for e in events(out) if e["time"] > killed_at]
    reused = sorted(n for n in finished if [e["event"] for e in later if e["name"] == n] == ["reused"]
                    and (out / "runs" / n / "report.json").stat().st_mtime_ns == mtimes[n])
    return {"killed_by_signal": driver.returncode == -signal.SIGKILL, "finished_before_kill": finished,
            "running_at_kill": in_flight, "reused_unchanged": reused, "rerun_seconds": round(time.perf_counter() - t0, 1),
            "rerun_started": sorted({e["name"] for e in later if e["event"] == "started"})}


def counted_runs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs a front was drawn from (same latency source, within any latency budget) and,
    under a task-second budget, only those that finished within it (``sweep.within_budget``)."""
    left = {r["name"] for r in doc["left_out"]}
    within = doc["sweep"].get("within_budget")
    counted = set(within["runs"]) if within else {r["name"] for r in doc["runs"]}
    return [r for r in doc["runs"] if r["name"] not in left and r["name"] in counted]


def latency_axis(*docs: dict[str, Any]) -> str:
    """``latency_over_reference`` when every counted run of every front was timed beside the
    reference workload (the figure that compares across sweeps measured minutes apart, each
    with its own reference median), else ``latency_ms``."""
    runs = [r for doc in docs for r in counted_runs(doc)]
    return "latency_over_reference" if runs and all("latency_over_reference" in r for r in runs) else "latency_ms"


def points(doc: dict[str, Any], axis: str = "latency_ms") -> list[Point]:
    """The counted runs of ``doc`` on the (accuracy, ``axis``) plane."""
    return [Point(r["accuracy"], r[axis]) for r in counted_runs(doc)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", default=str(ROOT / "examples" / "digits.nas"))
    ap.add_argument("--lambdas", default="0.01,0.1,1")
    ap.add_argument("--seeds", default="0..2")
    ap.add_argument("--epochs", type=int, help="search and retraining epochs (default: the example's)")
    ap.add_argument("--threads", type=int, default=1,
                    help="intra-op threads of every measurement, both sides (default 1: the digits networks, "
                         "15-50 us, run faster and steadier on one thread here; docs/latency_loop.md)")
    ap.add_argument("--kill-after", type=int, default=2, help="finished tasks before the driver is killed")
    ap.add_argument("--work", help="where the sweeps go (default: a fresh temporary folder)")
    ap.add_argument("--no-profile", action="store_true",
                    help="nasc sweep --no-profile: the searches use the roofline prior")
    ap.add_argument("--json", default=result_path("sweep_front"))
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="sweep_front-"))
    os.environ.setdefault("NASC_CACHE_DIR", str(work / "cache"))  # no build cache of an earlier run
    sets = [x for e in ([f"search.epochs={args.epochs}", f"train.epochs={args.epochs}"] if args.epochs else [])
            for x in ("--set", e)] + ["--threads", str(args.threads)]
    sweep_dir, random_dir = work / "sweep", work / "random"
    sweep_argv = ["sweep", args.space, "--lambda", args.lambdas, "--seeds", args.seeds, *sets, "--out", str(sweep_dir),
                  *(["--no-profile"] if args.no_profile else [])]
    resume = killed_and_resumed(sweep_argv, sweep_dir, args.kill_after)
    sweep = json.loads((sweep_dir / "front.json").read_text())
    budget = sweep["sweep"]["task_seconds"]
    profile_s = sweep["sweep"]["profile"].get("seconds_all_runs", 0.0)
    run_nasc("sweep", args.space, "--baseline", "random-search", "--seeds", "0", "--max-task-seconds", f"{budget:.2f}",
             *sets, "--out", str(random_dir))
    random = json.loads((random_dir / "front.json").read_text())
    axis = latency_axis(sweep, random)
    ref = shared_reference(points(sweep, axis), points(random, axis))
    hv = {"sweep": hypervolume(points(sweep, axis), ref), "random_search": hypervolume(points(random, axis), ref)}
    sources = {r["latency_source"] for doc in (sweep, random) for r in doc["runs"]}
    doc = {
        "protocol": {"space": os.path.relpath(args.space, ROOT), "lambdas": args.lambdas, "seeds": args.seeds,
                     "epochs": args.epochs or "the example's", "target": "cpu", "backend": "onnxruntime",
                     "threads": args.threads,
                     "latency": "each run's artifact measured again after its sweep's tasks, one at a time, in 3 "
                                "interleaved rounds (nasc sweep --remeasure 3, the default); at one thread each "
                                "round is one fresh process timing the artifact beside nasc's reference workload in "
                                "alternating samples, and the fronts are compared on latency_over_reference (median "
                                "of the rounds' ratios); the compile's own figure is in each front.json run as "
                                "latency_ms_in_compile",
                     "latency_axis": axis,
                     "profile": "none (--no-profile): the searches used the roofline prior" if args.no_profile else
                                f"nasc sweep's own profile of the space's kernels (onnxruntime, {args.threads} "
                                f"thread(s)) into its store before the first task: {profile_s:.1f} s over the "
                                "driver's runs, part of its task-seconds",
                     "equal_compute": "task-seconds: the random search's --max-task-seconds is the sweep's summed "
                                      "task wall seconds (the profile's included), and only its runs that finished "
                                      "within them (summed in finish order) are compared",
                     "kill": f"SIGKILL of the sweep's driver once {args.kill_after} tasks finished, then the same "
                             "command again"},
        "reference": {"accuracy": ref.accuracy, axis: ref.latency_ms, "rule": ref.rule},
        "hypervolume": hv,
        "sweep": {"task_seconds": sweep["sweep"]["task_seconds"], "profile_seconds": round(profile_s, 1),
                  "runs": len(sweep["runs"]), "front": sweep["front"],
                  "per_lambda": sweep["per_lambda"], "ray": sweep["sweep"]["ray"], "stopped": sweep["sweep"]["stopped"]},
        "random_search": {"task_seconds": random["sweep"]["task_seconds"], "budget_task_seconds": budget,
                          "compared": random["sweep"]["within_budget"], "runs": len(random["runs"]),
                          "front": random["front"], "stopped": random["sweep"]["stopped"]},
        "latency_sources": sorted(sources),
        "resume": resume,
    }
    targets = {
        "sweep_hv_over_random_hv": Target(hv["sweep"] > hv["random_search"],
                                          hv["sweep"] / hv["random_search"] if hv["random_search"] else None,
                                          "> 1 (both under the shared reference)"),
        "resume_reused_every_finished_task": Target(
            resume["killed_by_signal"] and bool(resume["finished_before_kill"])
            and resume["reused_unchanged"] == resume["finished_before_kill"],
            f"{len(resume['reused_unchanged'])} of {len(resume['finished_before_kill'])}",
            "every task finished before the kill reused, its report unchanged"),
        "every_latency_measured": Target(sources == {"measured"}, sorted(sources), "== ['measured']"),
    }
    write_json(doc, args.json, targets)
    return verdict(targets)


if __name__ == "__main__":
    sys.exit(main())
