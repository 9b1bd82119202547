"""The measured-latency loop through a TVM RPC tracker: a real loopback tracker and server
measure the loop's TVM builds; records carry source ``rpc`` and the device's key, and the
next round's model is fitted on that device's records only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from backend_testlib import loopback_tracker, needs_tvm

from nasc import api
from nasc.backends import MeasureProtocol
from nasc.experiment_choice import experiment_for
from nasc.latency.host import rpc_host
from nasc.latency.resolve import fitted_on
from nasc.latency.store import LatencyStore
from nasc.search.rounds import LoopSettings, looped_budget, search_with_rounds

ROOT = Path(__file__).resolve().parents[2]
TINY = ["split.train=0.05", "split.val=0.05", "split.test=0.9", "search.epochs=1", "search.batch=32"]


def _space(tmp: Path, ms: float) -> Path:
    path = tmp / "space.nas"
    path.write_text(f'import "{ROOT / "examples" / "digits_tiny.nas"}" as t\n\n'
                    f"space rpc_budget extends t.digits_tiny {{\n    constraint latency <= {ms:g}ms on cpu\n}}\n")
    return path


@needs_tvm
def test_loop_measures_through_an_rpc_tracker(tmp_path: Path) -> None:
    compiled = api.load(_space(tmp_path, 100))  # met but wasted by every arch: two rounds
    space = compiled.elaborate()
    assert looped_budget(space, remote=True) is not None
    cfg = experiment_for(api.load(ROOT / "examples" / "digits_tiny.nas"), "smoke", TINY).config
    store = tmp_path / "db.sqlite"
    with loopback_tracker("nasc-loop") as tracker:
        settings = LoopSettings(2, store, backend="tvm", probes=0,
                                protocol=MeasureProtocol(warmup=2, repeats=5, number=3, rpc=tracker,
                                                         device_key="nasc-loop"))
        search_with_rounds(compiled, cfg, tmp_path / "out", settings)
    rounds = [json.loads(line) for line in (tmp_path / "out" / "rounds.jsonl").read_text().splitlines()]
    assert rounds and all(r["source"] == "rpc" and "via rpc" in r["how"] and "nasc-loop" in r["how"] for r in rounds)
    assert len(rounds) == 2 and rounds[0]["holds"] and not rounds[0]["done"]
    with LatencyStore(store) as db:
        recs = list(db.query(kind="arch", target="cpu"))
        assert recs and all(r.source == "rpc" and r.host == rpc_host("nasc-loop") and r.backend == "tvm" for r in recs)
        assert len(fitted_on(db, "cpu", backend="tvm", device_key="nasc-loop")) == len({r.key for r in recs})
        assert fitted_on(db, "cpu", backend="tvm") == {}  # not this host's: the local model ignores them
    assert rounds[0]["model"] == "roofline-prior:cpu" and "fitted on cpu via rpc:nasc-loop (n=1 archs" in rounds[1]["model"]


def test_rpc_and_device_key_go_together(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "nasc", "search", str(_space(tmp_path, 1)), "--out",
                          str(tmp_path / "o"), "--rpc", "127.0.0.1:9190"], capture_output=True, text=True)
    assert run.returncode == 2 and "--rpc HOST:PORT and --device-key KEY go together" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "o").exists()


@needs_tvm
def test_profile_measures_a_devices_kernels_through_an_rpc_tracker(tmp_path: Path) -> None:
    """``nasc profile --rpc``: every kernel built with TVM here and timed on the tracker's device;
    the records are that device's (source rpc, host rpc:KEY), and its model is the kernel-sum
    model fitted on them, while this host's own model ignores them."""
    from nasc.cli import main
    from nasc.latency.kernel_source import has_kernels
    from nasc.latency.resolve import latency_model_for
    from nasc.latency.space_kernels import space_kernels

    space_file = tmp_path / "k.nas"
    space_file.write_text("space k {\n    input x: f32[B, 3, 8, 8]\n"
                          "    output y = x |> conv(4, k = choice [1, 3]) |> bn |> relu |> gap |> linear(10)\n}\n")
    db = tmp_path / "lat.sqlite"
    with loopback_tracker("nasc-prof") as tracker:
        argv = ["profile", str(space_file), "--target", "cpu", "--rpc", tracker, "--device-key", "nasc-prof",
                "--latency-db", str(db), "--archs", "2", "--repeat", "3", "--number", "2", "--warmup", "1"]
        assert main(argv) == 0
    compiled = api.load(space_file)
    space = compiled.elaborate()
    kernels = {k.key for k in space_kernels(space, compiled.loader.ops).kernels}
    with LatencyStore(db) as store:
        recs = list(store.query(target="cpu"))
        assert {r.key for r in recs if r.kind == "kernel"} == kernels
        assert len([r for r in recs if r.kind == "arch"]) == 2
        assert all(r.source == "rpc" and r.host == rpc_host("nasc-prof") and r.backend == "tvm" for r in recs)
        assert not has_kernels(store, "cpu", "tvm")  # this host measured nothing itself
        device = latency_model_for("cpu", store, space, backend="tvm", device_key="nasc-prof")
        assert device.name.startswith("kernel-sum:cpu/tvm via rpc:nasc-prof"), device.name
        assert not latency_model_for("cpu", store, space, backend="tvm").name.startswith("kernel-sum")


def test_profile_of_a_device_needs_a_tracker_and_tvm(tmp_path: Path) -> None:
    space = str(ROOT / "examples" / "digits_tiny.nas")
    for flags, message in ((["--target", "jetson"], "--rpc HOST:PORT --device-key KEY"),
                           (["--target", "jetson", "--rpc", "127.0.0.1:9190"], "go together"),
                           (["--target", "jetson", "--rpc", "127.0.0.1:9190", "--device-key", "k", "--backend",
                             "tensorrt"], "profile it with --backend tvm")):
        run = subprocess.run([sys.executable, "-m", "nasc", "profile", space, *flags, "--latency-db",
                              str(tmp_path / "db.sqlite")], capture_output=True, text=True)
        assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr
        assert not (tmp_path / "db.sqlite").exists()
