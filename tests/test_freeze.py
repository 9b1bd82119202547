"""`nasc freeze`: the printed arch re-parses as an `arch` with an isomorphic IR and equal costs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nasc import api
from nasc.cli import main
from nasc.frontend.printer import format_module
from nasc.frontend.parse import Parser
from nasc.ir.cost import arch_cost

from .conftest import EXAMPLES

SPACES = ["digits_tiny", "nb201", "edge_budget", "mbv2_macro", "darts"]
COMPILED = {name: api.load(EXAMPLES / f"{name}.nas") for name in SPACES}


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(SPACES), st.integers(0, 10**6))
@example("edge_budget", 3874)  # a sum of three long branches: a line `nasc fmt` breaks
def test_freeze_round_trip(name: str, seed: int) -> None:
    compiled = COMPILED[name]
    frozen = api.freeze(compiled, seed=seed)
    lib = compiled.loader.ops
    reparsed = api.load_text(frozen.text, "frozen.nas").elaborate()
    assert reparsed.kind == "arch" and not reparsed.free
    graph = reparsed.graph.prune()
    assert graph.isomorphic(frozen.arch.graph)
    assert arch_cost(graph, lib) == arch_cost(frozen.arch.graph, lib)
    # the printed text is already canonical
    assert format_module(Parser().parse(frozen.text, "f.nas")) == frozen.text


@pytest.mark.parametrize("name", SPACES)
def test_pinned_form_is_equivalent(name: str, tmp_path: Path) -> None:
    compiled = COMPILED[name]
    frozen = api.freeze(compiled, seed=7, out_dir=tmp_path)
    pinned = tmp_path / "pinned.nas"
    pinned.write_text(frozen.pinned)
    arch = api.load(pinned).elaborate()
    assert arch.kind == "arch" and not arch.free
    assert arch.graph.prune().isomorphic(frozen.arch.graph)


@pytest.mark.parametrize("name", ["darts", "digits", "nb201"])
def test_checking_a_pinned_arch_prints_no_warnings(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The options a pinned `choose` drops deactivate the decisions on those edges by design:
    `check` of what `freeze --pinned` wrote is silent (imported by a relative path, as written)."""
    pinned = tmp_path / "sub" / "pinned.nas"
    pinned.parent.mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["freeze", str(EXAMPLES / f"{name}.nas"), "--random", "0", "--pinned", "-o", "sub/pinned.nas"]) == 0
    capsys.readouterr()
    assert main(["check", "sub/pinned.nas"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_nb201_exporter_string() -> None:
    fixes = ["nb201_cell.e01=nor_conv_3x3", "nb201_cell.e02=nor_conv_3x3", "nb201_cell.e12=nor_conv_3x3",
             "nb201_cell.e03=skip_connect", "nb201_cell.e13=nor_conv_3x3", "nb201_cell.e23=nor_conv_3x3"]
    frozen = api.freeze(COMPILED["nb201"], fixes=fixes)
    assert "# nb201: |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|" \
           "nor_conv_3x3~2|" in frozen.text


def test_darts_genotype_and_kept_edges() -> None:
    frozen = api.freeze(COMPILED["darts"], seed=3)
    assert "# genotype: normal=[" in frozen.text
    for path, option in frozen.assignment.items():
        d = frozen.space.decision(path)
        assert option not in d.excluded  # 'none' never wins on a kept edge


def test_inactive_decisions_are_not_printed() -> None:
    frozen = api.freeze(COMPILED["mbv2_macro"], fixes=["s2.depth=2", "s2.h[1].op=skip"], seed=1)
    assert "s2.h[1].k" not in frozen.assignment and "s2.h[2].op" not in frozen.assignment
    assert "s2.h[0].k" in frozen.assignment


def test_freeze_cli_reports_missing_pin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["freeze", str(EXAMPLES / "nb201.nas"), "--fix", "nb201_cell.e01=skip_connect"]) == 2
    err = capsys.readouterr().err
    assert "is not fixed" in err and "--random" in err


def test_freeze_cli_bad_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["freeze", str(EXAMPLES / "nb201.nas"), "--random", "1", "--fix", "nb201_cell.e01=conv9"]) == 2
    assert "not a candidate of 'nb201_cell.e01'" in capsys.readouterr().err


def test_pinned_form_reinstantiates_at_other_parameters(tmp_path: Path) -> None:
    """DARTS' search-then-evaluate: the same cells at C = 36, 20 layers."""
    frozen = api.freeze(COMPILED["darts"], seed=11, out_dir=tmp_path, arch_name="found")
    (tmp_path / "found.nas").write_text(frozen.pinned)
    (tmp_path / "eval.nas").write_text('import "found.nas" as f\n\narch darts_eval extends f.found_pinned(C = 36, '
                                       "layers = 20) {}\n")
    small = api.summarize(api.load(tmp_path / "found.nas").elaborate())
    big = api.summarize(api.load(tmp_path / "eval.nas").elaborate())
    assert big["decisions"] == small["decisions"] == 0
    assert big["params"][0] > 5 * small["params"][0]
