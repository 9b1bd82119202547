"""`experiment` sections: typed schema, errors with positions, --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasc import api, experiment
from nasc.cli import main
from nasc.errors import ExperimentError, UsageError

from .conftest import EXAMPLES


def _exp(text: str):
    mod = api.load_text(text, "e.nas").module
    return next(iter(mod.experiments.values()))


def test_digits_experiment_resolves() -> None:
    mod = api.load(EXAMPLES / "digits_tiny.nas").module
    cfg = experiment.resolve(mod.experiments["smoke"])
    assert cfg["dataset"] == "sklearn:digits"
    assert cfg["search"]["epochs"] == 5 and cfg["search"]["a_lr"] == pytest.approx(3e-3)
    assert cfg["budget"]["wallclock"] == pytest.approx(60.0)
    assert cfg["train"]["momentum"] == pytest.approx(0.9)  # default filled in


def test_unknown_key_is_an_error_at_its_position() -> None:
    with pytest.raises(ExperimentError) as err:
        experiment.resolve(_exp("experiment e {\n    search { epochz = 3 }\n}\n"))
    assert err.value.message == "unknown experiment key 'search.epochz'; did you mean 'search.epochs'?"
    assert (err.value.span.line, err.value.span.col) == (2, 14)


def test_wrong_type_and_names_are_rejected() -> None:
    with pytest.raises(ExperimentError, match="'search.epochs' must be an integer"):
        experiment.resolve(_exp('experiment { search.epochs = "ten" }'))
    with pytest.raises(ExperimentError, match="must be a literal"):
        experiment.resolve(_exp("experiment { seed = C }"))
    with pytest.raises(ExperimentError, match="must be one of darts"):
        experiment.resolve(_exp('experiment { search { algo = "dartz" } }'))
    with pytest.raises(ExperimentError, match="sum to 1"):
        experiment.resolve(_exp("experiment { split { train = 0.9 } }"))


def test_set_overrides_with_types() -> None:
    cfg = experiment.resolve(None, ["search.epochs=2", "seed=3", "search.a_lr=1e-2", "budget.wallclock=5s"])
    assert cfg["search"]["epochs"] == 2 and cfg["seed"] == 3
    assert cfg["search"]["a_lr"] == pytest.approx(0.01) and cfg["budget"]["wallclock"] == pytest.approx(5)
    with pytest.raises(UsageError, match="did you mean 'search.epochs'"):
        experiment.resolve(None, ["search.epoch=2"])
    with pytest.raises(ExperimentError):
        experiment.resolve(None, ["search.epochs=2.5"])


def test_an_algorithm_brings_its_defaults_unless_the_key_is_set() -> None:
    """fairdarts: zero_one = 10 and pcdarts: partial_channels = 4, unless the section or --set names the key."""
    def search(exp_text: str | None = None, *overrides: str) -> dict:
        return experiment.resolve(_exp(exp_text) if exp_text else None, list(overrides))["search"]

    assert search()["zero_one"] == 0.0 and search()["partial_channels"] == 1
    assert search(None, "search.algo=fairdarts")["zero_one"] == 10.0
    assert search(None, "search.algo=fairdarts", "search.zero_one=0")["zero_one"] == 0.0
    assert search('experiment { search { algo = "fairdarts"; zero_one = 0 } }')["zero_one"] == 0.0
    assert search('experiment { search.algo = "darts" }', "search.algo=fairdarts")["zero_one"] == 10.0
    assert search(None, "search.algo=pcdarts")["partial_channels"] == 4
    assert search('experiment { search { algo = "pcdarts"; partial_channels = 2 } }')["partial_channels"] == 2
    assert search(None, "search.algo=darts", "search.partial_channels=2")["partial_channels"] == 2


def test_pcdarts_with_one_channel_part_is_an_error_at_the_setting() -> None:
    with pytest.raises(ExperimentError, match='algo "pcdarts" with partial_channels = 1 would be plain DARTS') as err:
        experiment.resolve(_exp('experiment e {\n    search {\n        algo = "pcdarts"\n'
                                '        partial_channels = 1\n    }\n}\n'))
    assert (err.value.span.line, err.value.span.col) == (4, 9)
    with pytest.raises(ExperimentError, match="plain DARTS"):
        experiment.resolve(None, ["search.algo=pcdarts", "search.partial_channels=1"])
    with pytest.raises(ExperimentError, match="must be at least 1, got 0"):
        experiment.resolve(None, ["search.partial_channels=0"])


def test_check_validates_experiments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "x.nas"
    p.write_text("experiment e {\n    train { epochs = true }\n}\n")
    assert main(["check", str(p)]) == 2
    assert capsys.readouterr().err.startswith(f"{p}:2:22: error: 'train.epochs' must be an integer, got true")
