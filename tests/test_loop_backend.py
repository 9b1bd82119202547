"""The measuring loop measures the kind of build the user gets, and a TVM build is predicted
from the records of builds like it (tuned when this host's TVM records are tuned)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nasc import api, experiment
from nasc.backends import MeasureProtocol
from nasc.cli import _loop_settings
from nasc.latency.host import host_fingerprint, rpc_host
from nasc.latency.records import StoredLatency, TimingProtocol
from nasc.latency.resolve import fitted_on, latency_model_for, predicted_backend, roofline_fact
from nasc.latency.sources import arch_key
from nasc.latency.store import LatencyStore
from nasc.search.rounds import LoopSettings, search_with_rounds

from .conftest import EXAMPLES


def _record(text: str, backend: str, ms: float, *, host: str | None = None, source: str = "measured",
            threads: int = 2) -> StoredLatency:
    return StoredLatency(kind="arch", target="cpu", backend=backend, precision="fp32", key=arch_key(text),
                         median_ms=ms, p90_ms=ms, protocol=TimingProtocol(1, 3, 1, threads), versions={},
                         source=source, host=host or host_fingerprint())


def _put(store: LatencyStore, text: str, backend: str, ms: float, **kw: object) -> None:
    store.put([_record(text, backend, ms, **kw)])  # type: ignore[arg-type]
    store.describe_arch(arch_key(text), text, {roofline_fact("roofline-prior:cpu"): ms / 2e3})


def test_a_tvm_build_is_predicted_from_tuned_records_once_this_host_has_them(tmp_path: Path) -> None:
    space = api.load(EXAMPLES / "digits_tiny.nas").elaborate()
    with LatencyStore(tmp_path / "db.sqlite") as store:
        assert predicted_backend(store, "cpu", "tvm") == "tvm"
        _put(store, "# untuned 0\n", "tvm", 1.0)
        _put(store, "# untuned 1\n", "tvm", 2.0)
        assert predicted_backend(store, "cpu", "tvm") == "tvm"
        assert "cpu/tvm (n=2" in latency_model_for("cpu", store, space, backend="tvm").name
        _put(store, "# tuned 0\n", "tvm-tuned", 0.4)
        _put(store, "# tuned 1\n", "tvm-tuned", 0.6)
        assert predicted_backend(store, "cpu", "tvm") == "tvm-tuned"
        assert predicted_backend(store, "cpu", "onnxruntime") == "onnxruntime"
        assert predicted_backend(store, "cpu", "tvm", threads=1) == "tvm"  # another configuration of the host
        model = latency_model_for("cpu", store, space, backend="tvm")
        assert "cpu/tvm-tuned (n=2" in model.name  # fitted on the tuned builds only
        # a device behind an RPC tracker: its own records, and a model of one label never mixes in the other
        assert predicted_backend(store, "cpu", "tvm", device_key="pi") == "tvm"
        _put(store, "# pi untuned\n", "tvm", 9.0, host=rpc_host("pi"), source="rpc")
        assert predicted_backend(store, "cpu", "tvm", device_key="pi") == "tvm"
        _put(store, "# pi tuned\n", "tvm-tuned", 3.0, host=rpc_host("pi"), source="rpc")
        assert predicted_backend(store, "cpu", "tvm", device_key="pi") == "tvm-tuned"
        assert fitted_on(store, "cpu", backend="tvm", device_key="pi") == {arch_key("# pi untuned\n"): 9.0}
        assert fitted_on(store, "cpu", backend="tvm-tuned", device_key="pi") == {arch_key("# pi tuned\n"): 3.0}


def test_the_loop_measures_with_the_backend_the_compile_builds_with(tmp_path: Path) -> None:
    def settings(**given: object) -> LoopSettings:
        args = argparse.Namespace(rounds=3, rpc=None, device_key=None, threads=None, **given)
        return _loop_settings(args, tmp_path / "db.sqlite")

    assert settings(backend="tvm").backend == "tvm"
    assert settings(backend="torch").backend == "torch"
    assert settings(backend="auto").backend == "onnxruntime"  # auto keeps the fastest: never slower than this
    assert settings().backend == "onnxruntime"  # nasc search builds nothing


def test_a_tvm_loop_round_builds_and_measures_with_tvm(tmp_path: Path) -> None:
    """One round under a cpu budget with the TVM backend: its architecture is built with TVM,
    stored under the label its build earns, and the next round's model is fitted on that label."""
    text = (EXAMPLES / "digits_tiny.nas").read_text().replace(
        "constraint params <= 20K", "constraint params <= 20K\n    constraint latency <= 1ms on cpu")
    space_file = tmp_path / "tiny_latency.nas"
    space_file.write_text(text)
    compiled = api.load(space_file)
    cfg = experiment.resolve(None, ["search.epochs=1", "split.train=0.05", "split.val=0.05", "split.test=0.9"])
    store = tmp_path / "db.sqlite"
    protocol = MeasureProtocol(repeats=3, number=2, warmup=1, isolate=True, threads=1)
    search_with_rounds(compiled, cfg, tmp_path / "out", LoopSettings(1, store, backend="tvm", protocol=protocol,
                                                                     probes=0))
    (entry,) = [json.loads(line) for line in (tmp_path / "out" / "rounds.jsonl").read_text().splitlines()]
    with LatencyStore(store) as db:
        (rec,) = db.query(kind="arch", target="cpu")
        model = latency_model_for("cpu", db, compiled.elaborate(), backend="tvm", threads=1)
    assert rec.backend in ("tvm", "tvm-tuned") and entry["how"].startswith(rec.backend + ", ")
    assert rec.key == entry["arch_key"] and rec.median_ms == entry["measured_ms"]
    assert f"cpu/{rec.backend} (n=1" in model.name
