"""The recorded devices: table lookup, the fitted predictor, its JSON form, its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nasc.data import nb201
from nasc.errors import NascError
from nasc.latency import nb201_cell, robust_fit
from nasc.latency.recorded import (DEVICES, MIN_ARCHS, RecordedLatencyError, RecordedModel, RecordedTable,
                                   fit_recorded, is_cut_off, op_indices, recorded_latency)
from nasc.targets import TARGETS

ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
CUT_OFF = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def table() -> RecordedTable:
    return RecordedTable.load()


@pytest.fixture(scope="module")
def split(table: RecordedTable) -> tuple[np.ndarray, np.ndarray]:
    """100 training architectures and 2,000 held-out ones, none cut off (seeded)."""
    keep = np.flatnonzero(nb201_cell.reaches_output(op_indices(table.arch_strs)))
    drawn = np.random.default_rng(0).choice(keep, 2100, replace=False)
    return np.sort(drawn[:100]), drawn[100:]


@pytest.fixture(scope="module")
def raspi(table: RecordedTable, split: tuple[np.ndarray, np.ndarray]) -> RecordedModel:
    return fit_recorded("recorded-raspi4", [int(i) for i in split[0]], seed=0, table=table)


def test_devices_are_the_recorded_targets() -> None:
    recorded = [t for t in TARGETS if t.kind == "recorded"]
    assert sorted(DEVICES) == sorted(t.name for t in recorded) and len(DEVICES) == 3
    assert all(DEVICES[t.name].column == t.latency_column for t in recorded)


@pytest.mark.parametrize("index", [0, 1, 7777, 15624])
def test_lookup_is_the_table_value(table: RecordedTable, index: int) -> None:
    row = nb201.latency_rows()[index]
    for name, dev in DEVICES.items():
        assert recorded_latency(name, row["arch_str"], table) == float(row[dev.column])


def test_lookup_of_known_values() -> None:
    # arch_index 1 of the shipped table (nasc/data/nb201/README.md's example string)
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert recorded_latency("recorded-raspi4", arch) == 54.7774
    assert recorded_latency("recorded-titanxp", arch) == 11.7249
    assert recorded_latency("recorded-xeon-gold-6226", arch) == 15.1792
    assert recorded_latency("recorded-raspi4", f"  {arch.strip('|')} ") == 54.7774  # another spelling


def test_model_round_trips_through_json(raspi: RecordedModel) -> None:
    text = raspi.to_json()
    doc = json.loads(text)
    assert doc["format"] == "nasc-recorded-latency/1" and doc["features"] == list(nb201_cell.FEATURES)
    again = RecordedModel.from_json(text)
    assert again == raspi
    assert again.predict(ALL_CONV3) == raspi.predict(ALL_CONV3)


def test_model_beats_the_per_edge_baseline_on_raspi4(table: RecordedTable, raspi: RecordedModel,
                                                      split: tuple[np.ndarray, np.ndarray]) -> None:
    train, held = split
    y = np.asarray(table.latency_ms[DEVICES["recorded-raspi4"].column])
    ops = op_indices(table.arch_strs)
    baseline = robust_fit.least_squares(nb201_cell.per_edge_onehot(ops[train]), y[train])
    base_share = robust_fit.within(baseline.predict(nb201_cell.per_edge_onehot(ops[held])), y[held])
    share = robust_fit.within(raspi.predict_many([table.arch_strs[i] for i in held]), y[held])
    assert share >= 0.75 and share > base_share + 0.15, (share, base_share)


def test_fitting_is_deterministic_for_a_seed(table: RecordedTable, raspi: RecordedModel,
                                            split: tuple[np.ndarray, np.ndarray]) -> None:
    archs = [table.arch_strs[i] for i in split[0]]  # the same sample, named by string this time
    assert fit_recorded("recorded-raspi4", archs, seed=0, table=table).to_json() == raspi.to_json()
    other = fit_recorded("recorded-titanxp", archs, seed=0, table=table)
    assert other.to_json() == fit_recorded("recorded-titanxp", archs, seed=0, table=table).to_json()
    assert other.runtime == "eager" and raspi.runtime == "folding"


@pytest.mark.parametrize("bad", ["", "|nor_conv_3x3~0|", ALL_CONV3.replace("~1|+", "~0|+"),
                                 ALL_CONV3.replace("nor_conv_3x3~2", "conv_5x5~2"), "resnet18"])
def test_malformed_arch_string_is_a_clear_error(table: RecordedTable, raspi: RecordedModel, bad: str) -> None:
    for call in (lambda: recorded_latency("recorded-raspi4", bad, table), lambda: raspi.predict(bad),
                 lambda: fit_recorded("recorded-raspi4", [bad] * MIN_ARCHS, table=table)):
        with pytest.raises(RecordedLatencyError, match="not a NAS-Bench-201 architecture string") as info:
            call()
        assert isinstance(info.value, NascError) and isinstance(info.value, ValueError)


def test_other_requests_that_cannot_be_answered(table: RecordedTable, raspi: RecordedModel,
                                                split: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(RecordedLatencyError, match="known: recorded-raspi4, recorded-titanxp"):
        recorded_latency("raspi4", ALL_CONV3, table)
    assert is_cut_off(CUT_OFF) and not is_cut_off(ALL_CONV3)
    with pytest.raises(RecordedLatencyError, match="cut off from its input"):
        raspi.predict(CUT_OFF)
    with pytest.raises(RecordedLatencyError, match="cut off from its input"):
        fit_recorded("recorded-raspi4", [CUT_OFF] + [int(i) for i in split[0]], table=table)
    with pytest.raises(RecordedLatencyError, match=f"at least {MIN_ARCHS}"):
        fit_recorded("recorded-raspi4", [int(i) for i in split[0][:MIN_ARCHS - 1]], table=table)
    with pytest.raises(RecordedLatencyError, match="out of range"):
        fit_recorded("recorded-raspi4", [15625] * MIN_ARCHS, table=table)
    with pytest.raises(RecordedLatencyError, match="expected a NAS-Bench-201 architecture string, got 3.5"):
        fit_recorded("recorded-raspi4", [3.5] * MIN_ARCHS, table=table)  # type: ignore[list-item]


@pytest.mark.parametrize("change", [
    {"format": "pickle"}, {"coefficients": [1.0, 2.0]}, {"intercept": float("nan")}, {"intercept": "1"},
    {"device": "recorded-tpu"}, {"runtime": "eager"}, {"features": ["none"]}, {"seed": None},
])
def test_a_bad_model_file_is_refused(raspi: RecordedModel, change: dict) -> None:
    with pytest.raises(RecordedLatencyError):
        RecordedModel.from_json(json.dumps({**raspi.to_dict(), **change}))


def test_a_truncated_model_file_is_refused(raspi: RecordedModel) -> None:
    with pytest.raises(RecordedLatencyError, match="not valid JSON"):
        RecordedModel.from_json(raspi.to_json()[:-2])
    with pytest.raises(RecordedLatencyError, match="not a recorded-latency model"):
        RecordedModel.from_json("[1, 2]")


def test_folding_rule_matches_the_pi(table: RecordedTable) -> None:
    """A 3x3 instead of a 1x1 convolution on an edge adds ~13 ms on the Pi where the rule
    says the edge runs, and nothing where it says the edge is folded."""
    ops = op_indices(table.arch_strs)
    y = np.asarray(table.latency_ms[DEVICES["recorded-raspi4"].column])
    index = {tuple(a): i for i, a in enumerate(ops.tolist())}
    runs = nb201_cell.executed_edges(ops, "folding")
    ok = nb201_cell.reaches_output(ops)
    steps: dict[bool, list[float]] = {True: [], False: []}
    for i in np.flatnonzero((ops == nb201_cell.CONV3).any(axis=1) & ok):
        for k in np.flatnonzero(ops[i] == nb201_cell.CONV3):
            partner = ops[i].copy()
            partner[k] = nb201_cell.CONV1
            steps[bool(runs[i, k])].append(y[i] - y[index[tuple(partner.tolist())]])
    folded, ran = np.array(steps[False]), np.array(steps[True])
    assert len(folded) >= 1000 and len(ran) > 17000
    assert abs(np.median(folded)) < 0.5 and np.mean(folded > 8) < 0.01 and np.mean(np.abs(folded) < 2) > 0.6
    assert np.median(ran) > 11 and np.mean(ran > 8) > 0.9 and np.mean(np.abs(ran) < 2) < 0.01
    assert not nb201_cell.executed_edges(ops, "eager")[ops == nb201_cell.NONE].any()
