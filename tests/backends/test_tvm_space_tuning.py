"""Tune a space's kernels once (``nasc profile --tune``); every arch of it then builds tuned.

Real TVM builds and real MetaSchedule tuning, 2 trials per task, on a two-kernel space
(a conv-BN-ReLU whose kernel size is a choice).  One test tells the story, in the order a
user lives it: a profile that tunes both kernels' tasks in one MetaSchedule run, killed after
its first kernel is measured, resumed; a third run with nothing left to do; builds of an arch
inside the space and of one with a kernel the space never had.  Every process gets the test's own cache folder, so the database is the
one these runs wrote.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from backend_testlib import needs_tvm

pytestmark = [pytest.mark.tvm, needs_tvm]

TRIALS = 2
QUICK = ["--repeat", "3", "--number", "2", "--warmup", "1"]
SPACE = ("space k {\n    input x: f32[B, 3, 8, 8]\n"
         "    output y = x |> conv(8, k = choice [1, 3]) |> bn |> relu\n}\n")
OUTSIDE = ("arch wide {\n    input x: f32[B, 3, 8, 8]\n"
           "    output y = x |> conv(8, 3) |> bn |> relu |> conv(8, 5) |> bn |> relu\n}\n")


class Run:
    """The test's folder, cache and store, and a ``nasc`` process runner that uses them."""

    def __init__(self, root: Path) -> None:
        self.root, self.cache, self.db = root, root / "cache", root / "lat.sqlite"
        self.env = {**os.environ, "NASC_CACHE_DIR": str(self.cache)}
        self.env.pop("NASC_LATENCY_DB", None)
        self.space = root / "k.nas"
        self.space.write_text(SPACE)

    def profile_argv(self) -> list[str]:
        return [sys.executable, "-m", "nasc", "profile", str(self.space), "--target", "cpu", "--tune", "--trials",
                str(TRIALS), "--latency-db", str(self.db), *QUICK]

    def nasc(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "nasc", *args], capture_output=True, text=True, env=self.env,
                              timeout=600)

    def records(self) -> list[Any]:
        from nasc.latency.store import LatencyStore

        if not self.db.exists():
            return []
        with LatencyStore(self.db) as store:
            return list(store.query(kind="kernel"))

    def database(self) -> Path:
        dirs = list((self.cache / "tvm-metaschedule").glob("*/tuned.jsonl"))
        assert len(dirs) == 1, dirs  # one target, one database
        return dirs[0].parent


def _ledger(db: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (db / "tuned.jsonl").read_text().splitlines()]


def _recorded_workloads(db: Path) -> set[str]:
    """The structural hashes of the workloads the JSON database holds a tuning record for."""
    workloads = [json.loads(line)[0] for line in (db / "database_workload.json").read_text().splitlines()]
    used = {json.loads(line)[0] for line in (db / "database_tuning_record.json").read_text().splitlines()}
    return {str(workloads[i]) for i in used}


def _killed_after_first_kernel(run: Run) -> list[Any]:
    """Start the profile, SIGKILL its whole process group once one kernel is stored; the records left."""
    proc = subprocess.Popen(run.profile_argv(), env=run.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not run.records() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        out = proc.communicate()[0]
    killed = run.records()
    assert len(killed) == 1, out
    return killed


def _build(run: Run, arch_text: str, name: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    arch = run.root / f"{name}.nas"
    arch.write_text(arch_text)
    out = run.root / f"art-{name}"
    built = run.nasc("build", str(arch), "--target", "cpu", "--backend", "tvm", "--out", str(out))
    assert built.returncode == 0, built.stderr
    tuning = json.loads((out / "manifest.json").read_text())["details"]["tuning"]
    assert isinstance(tuning, dict), tuning  # a string says the build ignored the database
    return built, tuning


def test_a_space_tuned_once_builds_every_arch_tuned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One story, in the order a user lives it (one test: its steps need the ones before)."""
    from nasc import api
    from nasc.backends import MeasureProtocol
    from nasc.latency.space_kernels import space_kernels

    run = Run(tmp_path)
    killed = _killed_after_first_kernel(run)
    # the kernels' tasks were tuned together, in one MetaSchedule run, before any kernel was built
    first = _ledger(run.database())
    assert len(first) >= 2 and all(row["tasks_in_batch"] == len(first) for row in first), first

    # resumed: the killed run's kernel is kept, the other is tuned and measured
    done = run.nasc(*run.profile_argv()[3:])
    assert done.returncode == 0, done.stderr
    assert "1 already in" in done.stdout and "1 to tune (2 trials per TVM task) and measure" in done.stdout
    assert f"({TRIALS} MetaSchedule trials each" in done.stdout and "as tvm-tuned" in done.stdout
    assert "tuned 0 TVM tasks" in done.stdout and "over 1 tuning run(s)" in done.stdout  # found in the ledger
    compiled = api.load(run.space)
    keys = {k.key for k in space_kernels(compiled.elaborate(), compiled.loader.ops).kernels}
    recs = run.records()
    assert len(keys) == 2 and {r.key for r in recs} == keys and len(recs) == 2  # one record per kernel
    assert killed[0] in recs  # the killed run's record kept as it was, not measured again
    assert all(r.backend == "tvm-tuned" and r.source == "measured" and r.median_ms > 0 for r in recs)
    db = run.database()
    ledger = (db / "tuned.jsonl").read_text()
    tuned = {row["workload"] for row in _ledger(db)}
    assert len(tuned) >= 2 and all(row["trials"] == TRIALS for row in _ledger(db))
    assert tuned <= _recorded_workloads(db)  # the database holds a record for every tuned task

    # a second run has nothing to tune or measure
    again = run.nasc(*run.profile_argv()[3:])
    assert again.returncode == 0, again.stderr
    assert "2 already in" in again.stdout and "0 to tune" in again.stdout
    assert "measured 0 kernels" in again.stdout and "tuned 0 TVM tasks" in again.stdout
    assert (db / "tuned.jsonl").read_text() == ledger and len(run.records()) == 2

    # an arch of the space: every task from the database, nothing tuned at build time
    built, tuning = _build(run, api.freeze(compiled, seed=0).text, "inside")
    assert tuning["trials_per_task"] == 0 and tuning["tasks_tuned_now"] == 0 and tuning["tuning_seconds"] < 1
    assert tuning["tasks"] >= 1 and tuning["tasks_from_database"] == tuning["tasks"] and tuning["not_covered"] == []
    n = tuning["tasks"]
    assert f"tuned: {n} of {n} TVM tasks have schedules from the database" in built.stdout
    assert "not covered" not in built.stdout

    # measured for the store, that build is a tuned one whatever backend the caller named
    from nasc.latency.sources import decided_arch, measure_again
    from nasc.latency.store import LatencyStore

    inside = api.load(run.root / "inside.nas")
    monkeypatch.setenv("NASC_CACHE_DIR", str(run.cache))
    with LatencyStore(run.db) as store:
        got = measure_again(decided_arch(inside, inside.elaborate(), {}), "cpu", store, run.root / "art-inside",
                            MeasureProtocol(repeats=3, number=2, warmup=1))
    assert got.record.backend == "tvm-tuned" and got.how.startswith("tvm-tuned, "), got

    # an arch with a kernel no arch of the space has (a 5x5 conv): named as not covered
    built, tuning = _build(run, OUTSIDE, "outside")
    assert tuning["tasks_tuned_now"] == 0 and len(tuning["not_covered"]) == 1, tuning
    assert tuning["tasks_from_database"] + 1 == tuning["tasks"]
    assert f"not covered (TVM default schedules): {tuning['not_covered'][0]}" in built.stdout

    # an untuned profile's kernels build with TVM's defaults whatever the database holds (their records say `tvm`)
    from nasc.latency.micro import micro_model
    from nasc.latency.profile import ProfileSettings, _Measurer, check_settings

    monkeypatch.setenv("NASC_CACHE_DIR", str(run.cache))
    kernel = space_kernels(compiled.elaborate(), compiled.loader.ops).kernels[0]
    micro = micro_model(kernel.signature, compiled.loader.ops)
    measurer = _Measurer(ProfileSettings("cpu", "tvm", "fp32", MeasureProtocol()), check_settings("cpu", "tvm", "fp32"),
                         "here", tmp_path / "scratch")
    art = measurer.build(kernel.key, micro.module, micro.example_inputs, micro.output_names, "random")
    summary = json.loads((art / "manifest.json").read_text())["details"]["tuning_summary"]
    assert summary.startswith("untuned, as asked"), summary


@pytest.mark.parametrize("flags", [["--untuned"], ["--tune-trials", "2"]])
def test_a_devices_database_is_applied_only(tmp_path: Path, flags: list[str]) -> None:
    run = subprocess.run([sys.executable, "-m", "nasc", "build", str(tmp_path / "missing.nas"), "--backend", "tvm",
                          "--tuning-device", "pi", *flags, "--out", str(tmp_path / "art")], capture_output=True, text=True)
    assert run.returncode == 2 and "--tuning-device KEY applies the database" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "art").exists()


@pytest.mark.parametrize("flags, message", [
    (["--trials", "4"], "give --tune with it"),
    (["--tune", "--backend", "onnxruntime"], "--tune tunes TVM's kernels"),
])
def test_tuning_flags_are_checked_before_anything_runs(tmp_path: Path, flags: list[str], message: str) -> None:
    run = subprocess.run([sys.executable, "-m", "nasc", "profile", str(tmp_path / "missing.nas"), "--target", "cpu",
                          *flags, "--latency-db", str(tmp_path / "db.sqlite")], capture_output=True, text=True)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert not (tmp_path / "db.sqlite").exists()


@pytest.mark.slow  # about a minute: a tracker, a server and MetaSchedule's RPC runner
def test_tuning_through_an_rpc_tracker_fills_the_devices_own_database(tmp_path: Path) -> None:
    """``--tune --rpc``: MetaSchedule's RPC runner times the candidates on the tracker's device
    (a real loopback tracker and server), into a database of that device, not this host's."""
    from backend_testlib import loopback_tracker

    from nasc.latency.host import rpc_host

    run = Run(tmp_path)
    run.space.write_text(SPACE.replace("k = choice [1, 3]", "3"))  # one kernel
    with loopback_tracker("nasc-tune") as tracker:
        done = run.nasc(*run.profile_argv()[3:], "--rpc", tracker, "--device-key", "nasc-tune")
    assert done.returncode == 0, done.stderr
    recs = run.records()
    assert len(recs) == 1 and recs[0].backend == "tvm-tuned" and recs[0].source == "rpc"
    assert recs[0].host == rpc_host("nasc-tune")
    db = run.database()
    assert json.loads((db / "target.json").read_text())["device_key"] == "nasc-tune"
    tuned = {row["workload"] for row in _ledger(db)}
    assert tuned and tuned <= _recorded_workloads(db)
    assert f"tuned {len(tuned)} TVM tasks ({TRIALS} MetaSchedule trials each" in done.stdout
    # a build for that device applies its database (asked by key); a plain build has none here to apply
    arch = run.root / "one.nas"
    arch.write_text(SPACE.replace("space k", "arch one").replace("k = choice [1, 3]", "3"))
    for flags, name in ((["--tuning-device", "nasc-tune"], "device"), ([], "host")):
        built = run.nasc("build", str(arch), "--target", "cpu", "--backend", "tvm", "--out", str(tmp_path / name),
                         *flags)
        assert built.returncode == 0, built.stderr
        tuning = json.loads((tmp_path / name / "manifest.json").read_text())["details"]["tuning"]
        if name == "device":
            assert isinstance(tuning, dict) and tuning["tasks_from_database"] >= 1, tuning
            assert tuning["database"].endswith(db.name) and not tuning["not_covered"], tuning
        else:
            assert not isinstance(tuning, dict), tuning  # this host was never tuned: TVM's defaults


def test_population_scales_with_the_trials_measured_per_round() -> None:
    """Eight candidates evolved per measured one, up to MetaSchedule's own 512 at 64 per round."""
    from nasc.backends.tvm.tuning import population_size

    assert [population_size(n) for n in (1, 2, 16, 64, 100)] == [8, 16, 128, 512, 512]


PACK_SUM = """
import sys
import numpy as np
from tvm.s_tir.meta_schedule.cost_model.xgb_model import PackSum
from nasc.backends.tvm.tuning import fix_pack_sum
if sys.argv[1] == "fixed":
    fix_pack_sum()
blockless = [np.zeros((0, 164)) for _ in range(3)]  # three candidates of a task with no loop to schedule
try:
    print([float(v) for v in PackSum(xs=blockless, ys=None).predict_with_score(np.zeros(0))])
except TypeError as e:
    print("TypeError", e)
"""


@pytest.mark.parametrize("mode, expected", [("as shipped", "TypeError"), ("fixed", "[0.0, 0.0, 0.0]")])
def test_the_cost_model_predicts_candidates_without_feature_blocks(mode: str, expected: str) -> None:
    """TVM 0.27's XGBoost cost model crashes on a batch of candidates none of which has a feature
    block (it killed a 64-trial NB201 tuning run); nasc's fix gives each one prediction.  In a
    child process: the fix patches TVM's class, as the tuning worker does for itself."""
    run = subprocess.run([sys.executable, "-c", PACK_SUM, mode], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith(expected), run.stdout
