"""``nasc sweep``: hypervolume and stop rules on hand-checked points, argument checks, and real
sweeps -- a local Ray instance, real compiles of digits_tiny cut to one epoch -- that are
killed and resumed, refused with other settings, stopped by their budget, and read by
``nasc latency report``."""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasc.sweep.hypervolume import Point, Reference, hypervolume, non_dominated, reference_for, shared_reference
from nasc.sweep.plan import parse_budget, parse_lambdas, parse_seeds
from nasc.sweep.stop import StopRules, hv_gain, stop_reason

from .conftest import EXAMPLES

TINY = ["--set", "search.epochs=1", "--set", "train.epochs=1"]
REF = Reference(0.5, 2.0, "hand-picked")


def nasc(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nasc", *args], capture_output=True, text=True, timeout=timeout)


def events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines() if line.strip()]


def distinct_archs(out: Path) -> int:
    """How many different architectures a sweep's runs compiled (two runs may find the same)."""
    from nasc import api
    from nasc.latency.sources import decided_arch

    keys = set()
    for arch in (out / "runs").glob("*/search/arch.nas"):
        compiled = api.load(arch)
        keys.add(decided_arch(compiled, compiled.elaborate(), {}).key)
    return len(keys)


# -- hypervolume, by hand -------------------------------------------------------------------------------------

def test_hypervolume_of_one_point_is_its_box() -> None:
    assert hypervolume([Point(0.9, 1.0)], REF) == pytest.approx((2.0 - 1.0) * (0.9 - 0.5))


def test_hypervolume_of_a_staircase() -> None:
    # (0.7 at 0.5 ms) holds [0.5, 1.0) x 0.2, (0.9 at 1 ms) holds [1, 2) x 0.4
    assert hypervolume([Point(0.9, 1.0), Point(0.7, 0.5)], REF) == pytest.approx(0.5 * 0.2 + 1.0 * 0.4)


def test_a_dominated_point_adds_nothing() -> None:
    base = [Point(0.9, 1.0), Point(0.7, 0.5)]
    assert hypervolume(base + [Point(0.6, 1.5)], REF) == pytest.approx(hypervolume(base, REF))
    assert hypervolume(base + [Point(0.9, 1.0)], REF) == pytest.approx(hypervolume(base, REF))  # a duplicate
    assert hypervolume(base + [Point(0.95, 0.4)], REF) == pytest.approx((2.0 - 0.4) * 0.45)  # dominates both


def test_points_beyond_the_reference_add_nothing() -> None:
    assert hypervolume([Point(0.4, 1.0), Point(0.9, 2.5), Point(0.5, 1.0)], REF) == 0.0


def test_non_dominated_set_by_latency() -> None:
    pts = [Point(0.9, 1.0), Point(0.6, 1.5), Point(0.7, 0.5), Point(0.7, 0.5)]
    assert non_dominated(pts) == [2, 3, 0]


def test_reference_rule_and_shared_reference() -> None:
    a, b = [Point(0.8, 1.0), Point(0.6, 0.5)], [Point(0.7, 3.0)]
    ref = reference_for(a)
    assert (ref.accuracy, ref.latency_ms) == (0.6, pytest.approx(1.1)) and "x 1.1" in ref.rule
    shared = shared_reference(a, b)
    assert (shared.accuracy, shared.latency_ms) == (0.6, pytest.approx(3.3)) == \
        (shared_reference(b, a).accuracy, shared_reference(b, a).latency_ms)
    assert reference_for(a, latency_budget_ms=2.0).latency_ms == 2.0


# -- stop rules ----------------------------------------------------------------------------------------------

def test_task_second_budget_stops() -> None:
    rules = StopRules(max_task_seconds=100)
    assert stop_reason(rules, 99.9, []) is None
    assert "max-task-seconds" in (stop_reason(rules, 100.0, []) or "")


def test_diminishing_hypervolume_stops() -> None:
    front = [Point(0.6, 0.5), Point(0.9, 1.0), Point(0.8, 0.7)]
    assert hv_gain(front, 1) is not None and hv_gain(front, 1) > 0  # the third point widens the front
    rules = StopRules(min_hv_gain=0.01, hv_window=2)
    assert stop_reason(rules, 0, front) is None
    stalled = front + [Point(0.7, 1.0), Point(0.6, 0.9)]  # both dominated: no gain
    assert hv_gain(stalled, 2) == 0.0
    assert "min-hv-gain" in (stop_reason(rules, 0, stalled) or "")
    assert stop_reason(rules, 0, stalled[:2]) is None  # too few points to judge


def test_reused_task_seconds_fall_back_to_its_stages(tmp_path: Path) -> None:
    from nasc.sweep.driver import past_seconds, stage_seconds

    (tmp_path / "compile.json").write_text(json.dumps({"search": {"seconds": 2.5, "key": "k"},
                                                      "train": {"seconds": 1.5}}))
    assert stage_seconds(tmp_path) == 4.0 and stage_seconds(tmp_path / "none") == 0.0
    (tmp_path / "tasks.jsonl").write_text('{"event": "finished", "name": "a", "seconds": 3.0}\n'
                                          '{"event": "finished", "name": "a", "seconds": 5.0}\n{"event": "fin')
    assert past_seconds(tmp_path) == {"a": 5.0}  # the last line, a line cut short by a kill skipped


# -- arguments ------------------------------------------------------------------------------------------------

def test_argument_parsers() -> None:
    assert parse_lambdas("0.01,0.1,1") == (0.01, 0.1, 1.0)
    assert parse_seeds("0..2") == (0, 1, 2) and parse_seeds("4") == (4,) and parse_seeds("1,5") == (1, 5)
    assert parse_budget(["latency=500us"]) == pytest.approx(0.5) and parse_budget([]) is None


@pytest.mark.parametrize("args, message", [
    (["--lambda", "0.1,x"], "--lambda: 'x' is not a number"),
    (["--lambda", "0.1", "--seeds", "3..1"], "the range is empty"),
    (["--lambda", "0.1", "--budget", "latency=fast"], "--budget latency=fast"),
    (["--lambda", "0.1", "--budget", "speed=2ms"], "expected latency=VALUE"),
    (["--baseline", "random-search"], "needs --max-task-seconds"),
])
def test_bad_input_exits_2_before_ray(tmp_path: Path, args: list[str], message: str) -> None:
    proc = nasc("sweep", str(EXAMPLES / "digits_tiny.nas"), *args, "--out", str(tmp_path / "s"), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()  # nothing was written, no cluster started


def test_missing_space_exits_2(tmp_path: Path) -> None:
    proc = nasc("sweep", str(tmp_path / "nope.nas"), "--lambda", "1", "--out", str(tmp_path / "s"), timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip().endswith("nope.nas: no such file")


# -- real sweeps ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A 2 lambda x 2 seed sweep on 2 CPUs whose driver is SIGKILLed once a task finished (the
    second seed's tasks have not finished then), then run again with the same command."""
    out = tmp_path_factory.mktemp("sweep") / "s"
    argv = [sys.executable, "-m", "nasc", "sweep", str(EXAMPLES / "digits_tiny.nas"), "--lambda", "0,1",
            "--seeds", "0..1", *TINY, "--out", str(out)]
    driver = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    first = None
    while first is None and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)
        if (out / "tasks.jsonl").exists():
            first = next((e for e in events(out) if e["event"] == "finished"), None)
    assert first is not None, "no task finished before the deadline"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    killed_at = time.time()
    report = out / "runs" / first["name"] / "report.json"
    mtime = report.stat().st_mtime_ns
    time.sleep(1)  # Ray's own processes notice the driver is gone
    again = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    return {"out": out, "first": first["name"], "mtime": mtime, "report": report, "killed_at": killed_at,
            "again": again}


def test_killed_sweep_reuses_its_finished_task(resumed: dict) -> None:
    again, out = resumed["again"], resumed["out"]
    assert again.returncode == 0, again.stderr
    assert resumed["report"].stat().st_mtime_ns == resumed["mtime"]  # not written again
    later = [e for e in events(out) if e["time"] > resumed["killed_at"]]
    mine = [e["event"] for e in later if e["name"] == resumed["first"]]
    assert mine == ["reused"], later
    rerun = {e["name"] for e in later if e["event"] == "started"}
    assert rerun and resumed["first"] not in rerun  # the unfinished ones ran again, to their end
    assert all(e["event"] == "finished" for e in later if e["name"] in rerun and e["event"] != "started")
    assert f"{resumed['first']}: accuracy" in again.stderr and "reused" in again.stderr


def test_sweep_writes_its_front(resumed: dict) -> None:
    out = resumed["out"]
    doc = json.loads((out / "front.json").read_text())
    assert sorted(r["name"] for r in doc["runs"]) == ["lam=0-seed=0", "lam=0-seed=1", "lam=1-seed=0",
                                                      "lam=1-seed=1"]
    assert {r["lambda"] for r in doc["runs"]} == {0.0, 1.0}
    again = json.loads((out / "remeasured.json").read_text())
    for r in doc["runs"]:
        report = json.loads((out / "runs" / r["name"] / "report.json").read_text())
        # on the front: the median of 3 rounds measured after the tasks; the compile's own figure kept beside it
        assert r["latency_ms_in_compile"] == report["latency"]["median_ms"] and r["latency_source"] == "measured"
        assert len(again[r["name"]]["rounds_ms"]) == 3
        assert r["latency_ms"] == again[r["name"]]["median_ms"] == sorted(again[r["name"]]["rounds_ms"])[1]
        assert "onnxruntime" in r["latency_how"] and "after the sweep" in r["latency_how"]
        assert r["params"] == report["params"]
    assert doc["latency_source"] == "measured"
    assert isinstance(doc["hypervolume"], float) and doc["hypervolume"] >= 0
    assert doc["reference"]["rule"] and doc["reference"]["latency_ms"] > max(r["latency_ms"] for r in doc["runs"])
    for row in doc["per_lambda"]:
        mine = [r["accuracy"] for r in doc["runs"] if r["lambda"] == row["lambda"]]
        assert row["accuracy"]["n"] == 2 and row["accuracy"]["mean"] == pytest.approx(sum(mine) / 2)
        assert row["accuracy"]["std"] == pytest.approx(abs(mine[0] - mine[1]) / 2 ** 0.5)
    assert doc["front"] and doc["sweep"]["stopped"] == "every task finished"
    assert 1 <= doc["sweep"]["tasks"]["reused"] <= 3 and doc["sweep"]["ray"]["start_seconds"] > 0
    assert (out / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_sweep_profiles_the_space_before_its_searches(resumed: dict) -> None:
    """Step 0: the kernels in the sweep's store before the first task, so every search weighs
    the measured kernel sum, not the roofline prior; the rerun measured none again; the
    profile's seconds are the ledger's first entry (part of the task-seconds)."""
    out = resumed["out"]
    doc = json.loads((out / "front.json").read_text())
    profile = doc["sweep"]["profile"]
    assert profile["ran"] and profile["kernels"] > 0
    assert profile["measured"] == 0 and profile["already_stored"] == profile["kernels"]  # this run: the rerun
    profiled = [e for e in events(out) if e["event"] == "profiled"]
    assert len(profiled) == 2 and profiled[0]["measured"] == profile["kernels"] and profiled[1]["measured"] == 0
    assert profile["seconds_all_runs"] == pytest.approx(sum(e["seconds"] for e in profiled), abs=0.01)
    # each task's seconds as the rerun counted them: its finished line, or its reused line when the kill
    # came between its compile's end and that line (the seconds of its stages)
    tasks = sum({e["name"]: e["seconds"] for e in events(out) if e["event"] in ("finished", "reused")}.values())
    assert doc["sweep"]["task_seconds"] == pytest.approx(tasks + profile["seconds_all_runs"], abs=0.05)
    for name in ("lam=0-seed=0", "lam=0-seed=1", "lam=1-seed=0", "lam=1-seed=1"):
        summary = json.loads((out / "runs" / name / "search" / "summary.json").read_text())
        source = summary["final"]["expected"]["latency_source"]
        kernels = re.match(r"predicted \(kernel-sum:cpu/onnxruntime \((\d+) kernels", source)
        assert kernels and int(kernels.group(1)) > 0, source  # the sweep's own profile


@pytest.mark.parametrize("change,why", [
    ({"strategy": "random-search", "lambdas": ()}, "a baseline runs no search"),
    ({"profile": False}, "--no-profile"),
    ({"target": "recorded-raspi4"}, "recorded table"),
    ({"target": "jetson-orin-nano", "backend": "tvm"}, "not measured here"),
    ({"backend": "auto"}, "--backend auto"),
    ({}, ""),
])
def test_when_a_sweep_profiles(change: dict, why: str) -> None:
    from nasc.sweep.plan import SweepPlan
    from nasc.sweep.profiling import why_not

    plan = SweepPlan(**{**dict(space=str(EXAMPLES / "digits_tiny.nas"), space_sha256="0" * 64, strategy="lambda",
                               lambdas=(1.0,), seeds=(0,), archs=0, target="cpu", backend="onnxruntime",
                               experiment=None, sets=(), latency_budget_ms=None), **change})
    reason = why_not(plan)
    assert (why in reason) if why else reason == ""


def test_remeasurement_is_kept_for_a_resumed_sweep(resumed: dict) -> None:
    """Gathering the same finished runs again measures nothing: each run's rounds are kept,
    keyed by its artifact's manifest, and give the same front latencies."""
    from nasc.sweep.front import gather
    from nasc.sweep.plan import SweepPlan
    from nasc.sweep.remeasure import REMEASURED, remeasured

    out = resumed["out"]
    identity = json.loads((out / "sweep.json").read_text())["identity"]
    plan = SweepPlan(**{k: tuple(v) if isinstance(v, list) else v for k, v in identity.items()})
    before = (out / REMEASURED).stat().st_mtime_ns
    said: list[str] = []
    runs = remeasured(out, gather(out, plan.tasks()), 3, "onnxruntime", said.append)
    doc = json.loads((out / "front.json").read_text())
    assert said == [] and (out / REMEASURED).stat().st_mtime_ns == before
    assert {r.task.name: r.latency_ms for r in runs} == {r["name"]: r["latency_ms"] for r in doc["runs"]}


def test_another_thread_count_is_measured_anew(resumed: dict, tmp_path: Path) -> None:
    """Every task's compile measures on the sweep's thread count; a remeasurement on another
    count takes its rounds again instead of reusing the kept ones, and says the count."""
    import shutil

    from nasc.sweep.front import gather
    from nasc.sweep.plan import SweepPlan
    from nasc.sweep.remeasure import REMEASURED, remeasured

    out = tmp_path / "s"
    shutil.copytree(resumed["out"], out)
    identity = json.loads((out / "sweep.json").read_text())["identity"]
    assert identity["threads"] == 2
    logs = [run / "task.log" for run in (out / "runs").iterdir() if run.is_dir()]
    assert logs and all("--threads 2" in log.read_text() for log in logs)
    plan = SweepPlan(**{k: tuple(v) if isinstance(v, list) else v for k, v in identity.items()})
    said: list[str] = []
    one = gather(out, plan.tasks())[:1]  # one run is enough to see the rule
    runs = remeasured(out, one, 3, "onnxruntime", said.append, threads=1)
    assert said and runs and all("on 1 thread(s)" in r.latency_how for r in runs)
    kept = json.loads((out / REMEASURED).read_text())[one[0].task.name]
    assert kept["threads"] == 1
    # at one thread an ONNX Runtime artifact is timed beside the reference workload, one process per round
    assert kept["timing"] == "paired" and "beside nasc's reference workload" in runs[0].latency_how
    assert len(kept["rounds_ratio"]) == len(kept["reference_rounds_ms"]) == len(kept["rounds_ms"]) == 3
    for ratio, art_ms, ref_ms in zip(kept["rounds_ratio"], kept["rounds_ms"], kept["reference_rounds_ms"]):
        assert ratio == pytest.approx(art_ms / ref_ms, rel=0.25)  # artifact over reference, same process
    assert runs[0].latency_over_reference == statistics.median(kept["rounds_ratio"])
    assert runs[0].latency_ms == pytest.approx(runs[0].latency_over_reference
                                               * statistics.median(kept["reference_rounds_ms"]))
    said.clear()
    remeasured(out, one, 3, "onnxruntime", said.append, threads=1)
    assert said == []  # kept for that count


def test_other_settings_in_the_same_directory_exit_2(resumed: dict) -> None:
    proc = nasc("sweep", str(EXAMPLES / "digits_tiny.nas"), "--lambda", "0,2", "--seeds", "0..1", *TINY,
                "--out", str(resumed["out"]), timeout=60)
    assert proc.returncode == 2 and "holds a sweep with other settings" in proc.stderr
    assert "lambdas" in proc.stderr and "Traceback" not in proc.stderr


def test_latency_report_takes_the_sweep_directory(resumed: dict, tmp_path: Path) -> None:
    out = resumed["out"]
    proc = nasc("latency", "report", str(out), "--out", str(tmp_path / "r"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert doc["store"] == str(out / "latency.sqlite") and doc["target"] == "cpu"
    assert [(g["backend"], g["archs"]) for g in doc["groups"]] == [("onnxruntime", distinct_archs(out))]
    proc = nasc("latency", "report", "--target", "cpu", "--latency-db", str(out / "latency.sqlite"),
                "--out", str(tmp_path / "r2"), timeout=120)
    assert proc.returncode == 0 and f"n={distinct_archs(out)}" in proc.stdout


def test_baseline_stops_at_its_task_second_budget(tmp_path: Path) -> None:
    out = tmp_path / "rs"
    proc = nasc("sweep", str(EXAMPLES / "digits_tiny.nas"), "--baseline", "random-search", "--archs", "6",
                "--max-task-seconds", "1", "--set", "train.epochs=1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "front.json").read_text())
    assert doc["sweep"]["stopped"].startswith("max-task-seconds")
    ran = {e["name"] for e in events(out) if e["event"] == "started"}
    assert len(ran) == 2  # the two CPUs' first tasks; none started after the first finished
    assert len(doc["sweep"]["tasks"]["not_started"]) == 4
    assert doc["sweep"]["within_budget"]["runs"] == [] and doc["sweep"]["within_budget"]["budget"] == 1
    archs = [(out / "runs" / name / "arch.nas").read_text() for name in sorted(ran)]
    assert archs[0] != archs[1] and all(a.startswith("# nasc arch v1") for a in archs)
    assert all(r["latency_source"] == "measured" for r in doc["runs"])
    assert doc["sweep"]["profile"] == {"ran": False, "why": "a baseline runs no search: nothing weighs a latency "
                                       "model", "seconds_all_runs": 0.0}
