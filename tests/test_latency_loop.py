"""The measured-latency loop: sources store what they measure, the model resolution picks and
labels its model, and a loop on a recorded device searches again after a miss, stops when the
budget holds, resumes an interrupted round and reports a budget no architecture can meet."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from nasc import api, experiment
from nasc.backends import MeasureProtocol
from nasc.errors import NascError
from nasc.ir.analysis import cost_factors
from nasc.latency.fitted import AffinePrior
from nasc.latency.host import host_fingerprint
from nasc.latency.model import RooflineModel, prior_for
from nasc.latency.records import StoredLatency, TimingProtocol
from nasc.latency.recorded import MIN_ARCHS, is_cut_off, recorded_latency
from nasc.latency.recorded_cells import RecordedCellModel
from nasc.latency.resolve import NB201_FACT, latency_model_for, roofline_fact
from nasc.latency.arch_kernels import canonical_arch_text
from nasc.latency.sources import NotMeasurable, arch_key, decided_arch, measure_arch
from nasc.latency.store import LatencyStore
from nasc.report.logs import run_logs
from nasc.report.plots import draw_plots, prediction_panels
from nasc.search.objectives import ExpectedCost, node_values
from nasc.search.rounds import LoopSettings, looped_budget, search_with_rounds

from .conftest import EXAMPLES

EXAMPLE = EXAMPLES / "nb201_latency.nas"
TINY = ["dataset=sklearn:digits32", "split.train=0.005", "split.val=0.005", "split.test=0.99", "search.algo=gdas",
        "search.epochs=1", "search.batch=9", "search.a_lr=0.05"]
"""A search of NB201's network in seconds: 9 training and 9 validation images, one GDAS epoch."""


def budget_file(folder: Path, ms: float) -> Path:
    """A space of examples/nb201_latency.nas with the budget ``latency <= ms on recorded-raspi4``."""
    path = folder / f"budget_{ms:g}ms.nas"
    path.write_text(f'import "{EXAMPLE}" as ex\n\nspace b extends ex.nb201_raspi4(budget = {ms:g}ms) {{}}\n')
    return path


def measured_archs(store: LatencyStore, count: int, seed: int = 0) -> list[str]:
    """Measure ``count`` random NB201 architectures (none cut off) on the Raspberry Pi into ``store``."""
    compiled = api.load(EXAMPLES / "nb201.nas")
    space = compiled.elaborate()
    found: list[str] = []
    while len(found) < count:
        arch = decided_arch(compiled, space, api.random_assignment(space, seed))
        seed += 1
        if arch.nb201 is None or is_cut_off(arch.nb201) or arch.nb201 in found:
            continue
        measure_arch(arch, "recorded-raspi4", store, workdir=Path("unused"))
        found.append(arch.nb201)
    return found


def test_recorded_source_stores_the_table_reading(tmp_path: Path) -> None:
    compiled = api.load(EXAMPLES / "nb201.nas")
    space = compiled.elaborate()
    arch = decided_arch(compiled, space, api.random_assignment(space, 3))
    assert arch.nb201 is not None and arch.key == arch_key(canonical_arch_text(arch.arch, arch.arch.ops))
    with LatencyStore(tmp_path / "db.sqlite") as store:
        got = measure_arch(arch, "recorded-raspi4", store, workdir=tmp_path / "w")
        (rec,) = store.query(kind="arch", target="recorded-raspi4")
        facts = store.arch_facts([arch.key])[arch.key]
    assert got.source == "recorded" and "nb201_latency.csv" in got.how and "raspi4_latency_ms" in got.how
    assert rec.key == arch.key and rec.source == "recorded" and rec.median_ms == recorded_latency(
        "recorded-raspi4", arch.nb201) == got.median_ms
    assert "Raspberry Pi 4" in rec.host and rec.versions["column"] == "raspi4_latency_ms"
    assert facts[NB201_FACT] == arch.nb201 and facts[roofline_fact("roofline-prior:cpu")] > 0
    assert not (tmp_path / "w").exists()  # nothing was built


def test_recorded_source_refuses_what_is_not_an_nb201_arch(tmp_path: Path) -> None:
    tiny = api.load(EXAMPLES / "digits_tiny.nas")
    narrow = api.load_text(f'import "{EXAMPLES / "nb201.nas"}" as nb\nspace narrow extends nb.nb201(C = 8) {{}}\n')
    with LatencyStore(tmp_path / "db.sqlite") as store:
        for compiled, says in ((tiny, "answers NAS-Bench-201 architectures only"), (narrow, "another network")):
            space = compiled.elaborate()
            arch = decided_arch(compiled, space, api.random_assignment(space, 0))
            with pytest.raises(NotMeasurable, match=says) as err:
                measure_arch(arch, "recorded-raspi4", store, workdir=tmp_path / "w")
            assert isinstance(err.value, NascError)  # the CLI's exit 2
        assert list(store.query()) == []


def test_cpu_source_measures_with_onnxruntime_and_stores(tmp_path: Path) -> None:
    compiled = api.load(EXAMPLES / "digits_tiny.nas")
    space = compiled.elaborate()
    arch = decided_arch(compiled, space, api.random_assignment(space, 1))
    with LatencyStore(tmp_path / "db.sqlite") as store:
        got = measure_arch(arch, "cpu", store, workdir=tmp_path / "artifact",
                           protocol=MeasureProtocol(repeats=3, number=2, warmup=1, isolate=True))
        (rec,) = store.query(kind="arch", target="cpu")
        facts = store.arch_facts([arch.key])[arch.key]
    assert got.source == "measured" and "isolated" in got.how and rec.backend == "onnxruntime"
    assert rec.key == arch.key and rec.host == host_fingerprint() and rec.median_ms == got.median_ms > 0
    assert rec.protocol.repeats == 3 and rec.protocol.number == 2 and "onnxruntime" in rec.versions
    assert NB201_FACT not in facts and facts[roofline_fact("roofline-prior:cpu")] > 0
    assert (tmp_path / "artifact" / "manifest.json").is_file()


def _cpu_record(key: str, ms: float, host: str, threads: int = 2) -> StoredLatency:
    return StoredLatency(kind="arch", target="cpu", backend="onnxruntime", precision="fp32", key=key, median_ms=ms,
                         p90_ms=ms, protocol=TimingProtocol(1, 3, 1, threads), versions={}, host=host)


def test_model_resolution_picks_and_labels_the_model(tmp_path: Path) -> None:
    space = api.load(EXAMPLE).elaborate()
    assert latency_model_for("recorded-raspi4", None, space) == prior_for("recorded-raspi4")
    with LatencyStore(tmp_path / "db.sqlite") as store:
        assert isinstance(latency_model_for("recorded-raspi4", store, space), RooflineModel)
        first = measured_archs(store, 3)
        few = latency_model_for("recorded-raspi4", store, space)
        assert isinstance(few, AffinePrior) and few.name.startswith(
            "roofline-prior:cpu fitted on recorded-raspi4 (n=3 archs, err ") and few.name.endswith(
            f"; recorded-fit needs {MIN_ARCHS})")
        more = measured_archs(store, MIN_ARCHS, seed=1000)
        fitted = latency_model_for("recorded-raspi4", store, space)
        assert isinstance(fitted, RecordedCellModel)
        assert fitted.name.startswith(f"recorded-fit:recorded-raspi4 (n={len(set(first + more))} archs, err ")
        assert fitted.name.endswith("%)")
        assert latency_model_for("recorded-titanxp", store, space) == prior_for("recorded-titanxp")
        assert latency_model_for("cpu", store, space) == prior_for("cpu")  # a device's table is not this CPU


def test_cpu_model_is_the_prior_refitted_on_this_hosts_records(tmp_path: Path) -> None:
    space = api.load(EXAMPLES / "digits_tiny.nas").elaborate()
    with LatencyStore(tmp_path / "db.sqlite") as store:
        for i, (prior_ms, ms, host) in enumerate([(1.0, 0.5, host_fingerprint()), (2.0, 0.9, host_fingerprint()),
                                                  (3.0, 90.0, "another machine; 64 cores")]):
            text = f"# arch {i}\n"
            key = arch_key(text)
            store.put([_cpu_record(key, ms, host)])
            store.describe_arch(key, text, {roofline_fact("roofline-prior:cpu"): prior_ms / 1e3})
        model = latency_model_for("cpu", store, space)
    assert isinstance(model, AffinePrior)
    assert model.name.startswith("roofline-prior:cpu fitted on cpu/onnxruntime (n=2 archs, err ")
    fit = [model.intercept_s + model.scale * p / 1e3 for p in (1.0, 2.0)]
    assert fit == pytest.approx([0.5e-3, 0.9e-3], rel=0.02)  # through both points, the other host left out
    with LatencyStore(tmp_path / "db.sqlite") as store:  # one thread: another configuration, its own records
        assert latency_model_for("cpu", store, space, threads=1) == prior_for("cpu")
        for i, (prior_ms, ms) in enumerate([(1.0, 0.3), (2.0, 0.4)]):
            text = f"# arch on one thread {i}\n"
            store.put([_cpu_record(arch_key(text), ms, host_fingerprint(), threads=1)])
            store.describe_arch(arch_key(text), text, {roofline_fact("roofline-prior:cpu"): prior_ms / 1e3})
        one = latency_model_for("cpu", store, space, threads=1)
        again = latency_model_for("cpu", store, space)
    assert isinstance(one, AffinePrior) and [one.intercept_s + one.scale * p / 1e3 for p in (1.0, 2.0)] \
        == pytest.approx([0.3e-3, 0.4e-3], rel=0.02)
    assert again == model  # the default thread count's model does not see them


def test_recorded_model_gives_per_node_values_for_an_exact_expectation(tmp_path: Path) -> None:
    compiled = api.load(EXAMPLE)
    space = compiled.elaborate()
    with LatencyStore(tmp_path / "db.sqlite") as store:
        measured_archs(store, MIN_ARCHS + 4)
        model = latency_model_for("recorded-raspi4", store, space)
    assert isinstance(model, RecordedCellModel)
    constant, factors = cost_factors(space, node_values(space, space.ops, "latency", model))
    assert all(len(f.scope) == 1 for f in factors)  # one factor per edge decision: linear in the choices
    coef = dict(zip(("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"), model.full.coefficients))
    cost = ExpectedCost(space, space.ops, "latency", model)
    for seed in range(4):
        assignment = api.random_assignment(space, seed)
        arch = decided_arch(compiled, space, assignment)
        assert arch.nb201 is not None
        linear = (model.full.intercept + sum(coef.get(space.decision(p).labels[o], 0.0)
                                             for p, o in assignment.items())) / 1e3
        ids = {space.decision(p).id: o for p, o in assignment.items()}
        onehot = {d.id: torch.nn.functional.one_hot(torch.tensor(ids[d.id]), d.n).double() for d in space.decisions}
        assert constant + sum(float(f.table[tuple(ids[d] for d in f.scope)]) for f in factors) == pytest.approx(linear)
        assert float(cost(onehot)) == pytest.approx(linear, rel=1e-5)
        if not is_cut_off(arch.nb201):
            assert model.decided_latency(space, assignment) == pytest.approx(model.full.predict(arch.nb201) / 1e3)
    # E_α is the probability-weighted sum of the per-edge costs (exact, not sampled)
    probs = {d.id: torch.softmax(torch.randn(d.n, generator=torch.Generator().manual_seed(d.id)), 0).double()
             for d in space.decisions}
    expected = model.full.intercept / 1e3 + sum(
        float(probs[d.id][o]) * coef.get(label, 0.0) / 1e3 for d in space.decisions for o, label in enumerate(d.labels))
    assert float(cost(probs)) == pytest.approx(expected, rel=1e-5)


@dataclass(frozen=True)
class Loop:
    out: Path
    store: Path
    rounds: list[dict]
    first_ms: float


def _loop(space_file: Path, out: Path, store: Path, rounds: int, resume: bool | None = False, probes: int = 0):
    """The loop on a tiny search; no probe architectures unless asked (the mechanics' tests
    count the store's records)."""
    compiled = api.load(space_file)
    cfg = experiment.resolve(None, TINY)
    return search_with_rounds(compiled, cfg, out, LoopSettings(rounds, store, probes=probes), resume=resume)


def _rounds(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "rounds.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def missed(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    """Round 1 under a 12 ms budget (the bare prior cannot see it: the arch misses), then the
    loop resumed with 2 rounds (round 2 searches with the refitted model); then round 2 as if
    interrupted after its search, resumed from its checkpoint."""
    tmp = tmp_path_factory.mktemp("loop")
    space_file, out, store = budget_file(tmp, 12), tmp / "out", tmp / "db.sqlite"
    _loop(space_file, out, store, rounds=1)
    first = _rounds(out)
    shutil.copyfile(store, tmp / "after_round_1.sqlite")
    result = _loop(space_file, out, store, rounds=2, resume=True)
    rounds = _rounds(out)
    assert result.summary["measured_latency"]["rounds"] == 2 and len(first) == 1 and rounds[0] == first[0]
    return Loop(out, store, rounds, first[0]["measured_ms"])


def test_a_missed_budget_is_searched_again_with_the_refitted_model(missed: Loop) -> None:
    first, second = missed.rounds
    assert first["model"] == "roofline-prior:cpu" and not first["holds"] and first["measured_ms"] > 12
    assert first["source"] == "recorded" and first["model_error"] == pytest.approx(
        first["predicted_ms"] / first["measured_ms"] - 1)
    assert second["round"] == 2 and second["model"].startswith(
        "roofline-prior:cpu fitted on recorded-raspi4 (n=1 archs")
    with LatencyStore(missed.store) as store:
        keys = {r.key for r in store.query(kind="arch", target="recorded-raspi4", source="recorded")}
    assert keys == {first["arch_key"], second["arch_key"]}
    for r in (1, 2):
        assert (missed.out / "rounds" / f"r{r}" / "arch.nas").is_file()
    summary = json.loads((missed.out / "summary.json").read_text())
    lat = summary["measured_latency"]
    assert lat["source"] == "recorded" and lat["target"] == "recorded-raspi4" and lat["rounds"] == 2
    chosen = missed.rounds[lat["round"] - 1]
    assert lat["median_ms"] == chosen["measured_ms"] and summary["arch_sha256"] == chosen["arch_sha256"]


def test_an_interrupted_round_resumes_from_its_checkpoint(missed: Loop, tmp_path: Path) -> None:
    out, store = tmp_path / "out", tmp_path / "db.sqlite"
    shutil.copytree(missed.out, out)
    shutil.copyfile(missed.store.parent / "after_round_1.sqlite", store)  # round 2 measured nothing yet
    (out / "rounds.jsonl").write_text(json.dumps(missed.rounds[0]) + "\n")
    log_before = (out / "search.jsonl").read_text()
    _loop(budget_file(tmp_path, 12), out, store, rounds=2, resume=True)
    resumed = _rounds(out)
    assert len(resumed) == 2 and resumed[1]["arch_key"] == missed.rounds[1]["arch_key"]
    assert resumed[1]["model"] == missed.rounds[1]["model"]
    assert (out / "search.jsonl").read_text() == log_before  # no epoch was trained again


def test_a_compile_report_draws_the_loops_rounds(missed: Loop, tmp_path: Path) -> None:
    """A compile folder whose search ran the loop: the pictures of accuracy and of predicted
    against measured latency show each round's arch, drawn from rounds.jsonl and the rounds'
    own search logs."""
    run = tmp_path / "run"
    shutil.copytree(missed.out, run / "search")
    logs = run_logs(run)
    assert sorted(logs.round_searches) == [1, 2] and all(logs.round_searches.values())
    (panel,) = prediction_panels({}, logs)
    assert list(panel.keys) == ["round 1", "round 2"]
    assert list(panel.measured_ms) == [r["measured_ms"] for r in missed.rounds]
    assert list(panel.predicted_ms["each round's model"]) == [r["predicted_ms"] for r in missed.rounds]
    plots = {p.name: p for p in draw_plots(run, {}, logs)}
    assert plots["accuracy_latency"].file and plots["latency_predicted_measured"].file
    before = (run / "plots" / "latency_predicted_measured.png").read_bytes()
    edited = [{**r, "measured_ms": r["measured_ms"] * 2} for r in missed.rounds]
    (run / "search" / "rounds.jsonl").write_text("".join(json.dumps(r) + "\n" for r in edited))
    draw_plots(run, {}, run_logs(run))
    assert (run / "plots" / "latency_predicted_measured.png").read_bytes() != before


def test_the_loop_stops_when_the_budget_holds_and_probes_feed_the_refit(tmp_path: Path) -> None:
    """Each round measures its arch and ``probes`` more (stored, so the next refit rests on
    them: from round 2 on, the recorded predictor); a round whose arch misses while a probe
    lands chooses again from the same search; the loop stops at the first round whose arch
    lands in [0.85 B, B], and under this budget it gets there within 3 rounds."""
    store = tmp_path / "db.sqlite"
    result = _loop(budget_file(tmp_path, 16), tmp_path / "out", store, rounds=3, probes=16)
    rounds = _rounds(tmp_path / "out")
    first = rounds[0]["first_choice"] or rounds[0]  # the bare prior's choice, before any measurement
    assert rounds[0]["model"] == "roofline-prior:cpu" and not 0.85 * 16 <= first["measured_ms"] <= 16
    assert all(r["probes"] == 16 for r in rounds)
    for r in rounds:  # a choice made again from the same search: after a miss, onto a probe inside the band
        if r["first_choice"] is not None:
            assert not 0.85 * 16 <= r["first_choice"]["measured_ms"] <= 16
            assert r["arch_key"] in {p["arch_key"] for p in r["probed"]}
    assert all(r["model"].startswith("recorded-fit:recorded-raspi4") for r in rounds[1:])
    assert [r["done"] for r in rounds] == [False] * (len(rounds) - 1) + [True]
    last = rounds[-1]
    assert last["holds"] and 0.85 * 16 <= last["measured_ms"] <= 16
    final = result.summary["measured_latency"]
    assert final["holds"] and final["round"] == len(rounds) and final["median_ms"] == last["measured_ms"]
    with LatencyStore(store) as db:
        keys = {r.key for r in db.query(kind="arch", target="recorded-raspi4")}
    assert {r["arch_key"] for r in rounds} <= keys and len(keys) >= len(rounds) * 16


def test_an_infeasible_budget_is_reported_with_the_fastest_measured_arch(tmp_path: Path) -> None:
    store = tmp_path / "db.sqlite"
    with LatencyStore(store) as db:
        archs = measured_archs(db, MIN_ARCHS)
    fastest = min(archs, key=lambda a: recorded_latency("recorded-raspi4", a))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "nasc", "search", str(budget_file(tmp_path, 1)), "--out", str(out),
                          "--latency-db", str(store), *[a for kv in TINY for a in ("--set", kv)]],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "no architecture of space 'b' can meet 'latency <= 1ms on recorded-raspi4 [hard]'" in run.stderr
    assert f"the fastest of the {MIN_ARCHS} measured architectures it was fitted on" in run.stderr
    assert fastest in run.stderr
    (entry,) = _rounds(out)
    assert entry["infeasible"] and entry["fastest_model_ms"] > 1 and entry["fastest_measured"]["nb201"] == fastest
    assert not (out / "checkpoint.safetensors").exists()  # nothing was searched


def test_the_loop_closes_hard_budgets_on_targets_nasc_can_measure() -> None:
    assert looped_budget(api.load(EXAMPLES / "nb201.nas").elaborate()) is None
    assert looped_budget(api.load(EXAMPLES / "edge_budget.nas").elaborate()) is None  # jetson: not measurable here
    budget = looped_budget(api.load(EXAMPLE).elaborate())
    assert budget is not None and budget.target == "recorded-raspi4" and budget.bound == pytest.approx(0.025)


def test_measured_archs_are_answered_by_their_measurement(tmp_path: Path) -> None:
    """The loop's model gives a measured architecture its measurement and predicts the rest;
    inactive decisions do not matter (the key is the active assignment)."""
    from nasc.search.measured_archs import MeasuredArchs, with_measured

    compiled = api.load(EXAMPLE)
    space = compiled.elaborate()
    with LatencyStore(tmp_path / "db.sqlite") as store:
        measured_archs(store, MIN_ARCHS + 2)
        base = latency_model_for("recorded-raspi4", store, space)
    a, b = api.random_assignment(space, 1), api.random_assignment(space, 2)
    model = with_measured(base, space, [(a, 7.5)], "recorded")
    assert isinstance(model, MeasuredArchs) and model.name.endswith("; 1 archs by their recorded latency")
    assert model.decided_latency(space, a) == pytest.approx(7.5e-3)
    assert model.decided_latency(space, b) == base.decided_latency(space, b)
    assert with_measured(base, space, [], "recorded") is base


def test_every_prediction_is_labelled_with_its_model_and_its_error(tmp_path: Path) -> None:
    """A fitted model's label carries its error on the measured archs; the bare prior's says it has none."""
    from nasc.latency.model import prediction_label

    assert prediction_label(prior_for("cpu")) == \
        "predicted (roofline-prior:cpu; nothing measured on this target: its error is unknown)"
    space = api.load(EXAMPLE).elaborate()
    with LatencyStore(tmp_path / "db.sqlite") as store:
        measured_archs(store, 3)
        few = latency_model_for("recorded-raspi4", store, space)
    label = prediction_label(few)
    assert label.startswith("predicted (roofline-prior:cpu fitted on recorded-raspi4 (n=3 archs, err ")
    assert "unknown" not in label
