"""Every example space elaborates with the sizes and decision paths the language spec gives."""

from __future__ import annotations

import json

import pytest

from nasc import api
from nasc.cli import main

from .conftest import EXAMPLES

SIZES = {
    "nb201": 15_625,
    "digits_tiny": 28_800,
    "edge_budget": 140_625,
    "darts": 1_076_746_950_455_072_400,  # C(2,2)C(3,2)C(4,2)C(5,2) 7^8 per cell, squared
    "mbv2_macro": 48 * 9990**5 * 9,
}
DECISIONS = {"nb201": 6, "digits_tiny": 11, "edge_budget": 8, "darts": 36, "mbv2_macro": 67}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_exact_sizes(name: str) -> None:
    space = api.load(EXAMPLES / f"{name}.nas").elaborate()
    record = api.summarize(space)
    assert record["size"] == SIZES[name]
    assert record["decisions"] == DECISIONS[name]
    lo, hi = record["params"]
    assert 0 < lo < hi


def test_decision_paths_follow_bindings() -> None:
    paths = [d.path for d in api.load(EXAMPLES / "mbv2_macro.nas").elaborate().free]
    assert paths[:7] == ["s2.C", "s2.depth", "s2.h[0].k", "s2.h[0].e", "s2.h[1].k", "s2.h[1].e", "s2.h[1].op"]
    assert "s7.h[0].k" in paths and "s7.h[0].op" not in paths
    darts = {d.path for d in api.load(EXAMPLES / "darts.nas").elaborate().free}
    assert {"normal.n0", "normal.n0[0]", "normal.n3[4]", "reduce.n3"} <= darts
    digits = [d.path for d in api.load(EXAMPLES / "digits_tiny.nas").elaborate().free]
    assert digits == ["C", "depth", "h[0].a", "h[0].src", "h[0].b", "h[1].a", "h[1].src", "h[1].b", "h.a",
                      "h.src", "h.b"]


def test_conditional_activity() -> None:
    """k and e of an mbconv layer are active only if the stage is deep enough and the layer not skipped."""
    space = api.load(EXAMPLES / "mbv2_macro.nas").elaborate()
    k = space.decision("s2.h[2].k")
    depth, op = space.decision("s2.depth"), space.decision("s2.h[2].op")
    (term,) = k.active_if
    cond = dict(term)
    assert cond[depth.id] == frozenset({1, 2})  # depth 3 or 4 (options of 2..4)
    assert cond[op.id] == frozenset({op.labels.index("ir")})


def test_darts_zero_excluded_on_kept_edges() -> None:
    space = api.load(EXAMPLES / "darts.nas").elaborate()
    edge = space.decision("normal.n1[2]")
    assert edge.excluded == frozenset({edge.labels.index("none")})
    nb = api.load(EXAMPLES / "nb201.nas").elaborate()
    assert not nb.decision("nb201_cell.e01").excluded  # plain sums keep 'none'


def test_check_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLES / "darts.nas"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (rec,) = doc["spaces"]
    assert rec["name"] == "darts_cifar10"
    assert rec["size"] == SIZES["darts"] and isinstance(rec["size"], int)
    assert abs(rec["size_log10"] - 18.0321) < 1e-3
    assert set(rec) >= {"name", "decisions", "size", "size_log10", "params", "macs", "constraints"}


def test_check_json_arch_has_zero_decisions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(EXAMPLES / "mobilenet_v2.nas"), "--json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)["spaces"]
    assert rec["decisions"] == 0 and rec["size"] == 1
    assert rec["params"] == [3_504_872, 3_504_872]


def test_constraints_are_scoped() -> None:
    space = api.load(EXAMPLES / "edge_budget.nas").elaborate()
    metrics = [c.metric for c in space.constraints]
    assert metrics.count("connected") == 9 and metrics.count("min_path_ops") == 9  # 3 stages x N<=3
    lat = next(c for c in space.constraints if c.metric == "latency")
    assert lat.bound == pytest.approx(5e-3) and lat.target == "jetson-orin-nano" and lat.hard
    assert dict(lat.target_args) == {"precision": "fp16", "batch": 1}
    soft = next(c for c in space.constraints if c.metric == "flops")
    assert not soft.hard and soft.weight == pytest.approx(0.1)
    mem = next(c for c in space.constraints if c.metric == "peak_memory")
    assert mem.bound == 2e6 and not mem.hard


def test_dead_decision_is_a_warning(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "dead.nas"
    p.write_text("space s {\n    input x: f32[B, 1, 8, 8]\n    k = choice [3, 5]\n    output y = x |> gap |> linear(2)\n}\n")
    assert main(["check", str(p)]) == 0
    err = capsys.readouterr().err
    assert f"{p}:3:9: warning: decision 'k' never reaches an output" in err
