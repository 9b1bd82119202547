"""experiment_for: the one rule by which search, train, opt, build and compile find an experiment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nasc import api
from nasc.errors import UsageError
from nasc.experiment_choice import ChosenExperiment, experiment_for

from .conftest import EXAMPLES

SPACE = EXAMPLES / "digits_tiny.nas"  # its one section: `smoke` (search.epochs = 5)
OTHER = EXAMPLES / "digits.nas"  # its one section: `digits`


def _arch(folder: Path, header: str | None) -> Path:
    """A decided arch of digits_tiny with the given `# experiment:` header (None: no header)."""
    text = api.freeze(api.load(SPACE), seed=1).text
    lines = [line for line in text.splitlines() if not line.startswith("# experiment:")]
    if header is not None:
        lines.insert(1, f"# experiment: {header}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "arch.nas"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_space_uses_its_own_section_and_records_where_it_is(tmp_path: Path) -> None:
    chosen = experiment_for(api.load(SPACE))
    assert (chosen.path, chosen.name) == (SPACE, "smoke") and chosen.config["search"]["epochs"] == 5
    out = tmp_path / "run"
    assert chosen.reference(relative_to=out) == f"{os.path.relpath(SPACE, out.resolve())} :: smoke"
    assert chosen.reference() == f"{SPACE} :: smoke"


def test_explicit_experiment_wins_and_overrides_apply() -> None:
    compiled = api.load(SPACE)
    chosen = experiment_for(compiled, f"{OTHER}:digits", ["search.epochs=2"])
    assert (chosen.path, chosen.name, chosen.config["search"]["epochs"]) == (OTHER, "digits", 2)
    assert experiment_for(compiled, "smoke").name == "smoke"  # NAME alone: a section of the file itself
    assert experiment_for(compiled, f"{OTHER}:").name == "digits"  # FILE: alone: its only section
    with pytest.raises(UsageError, match="has no experiment 'smok'; did you mean 'smoke'"):
        experiment_for(compiled, "smok")


def test_header_is_relative_to_the_arch_folder(tmp_path: Path) -> None:
    arch = _arch(tmp_path / "deep" / "run", os.path.relpath(OTHER, tmp_path / "deep" / "run") + " :: digits")
    chosen = experiment_for(api.load(arch))
    assert (chosen.path, chosen.name) == (OTHER, "digits")


def test_header_falls_back_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`nasc freeze examples/x.nas -o elsewhere/a.nas` records the path as typed."""
    monkeypatch.chdir(EXAMPLES.parent)
    arch = _arch(tmp_path, "examples/digits.nas :: digits")
    assert experiment_for(api.load(arch)).path == OTHER


def test_header_naming_a_missing_file_is_an_error_not_other_data(tmp_path: Path) -> None:
    arch = _arch(tmp_path, "nowhere/gone.nas :: digits")
    with pytest.raises(UsageError, match="found neither next to the arch .* nor in the working directory"):
        experiment_for(api.load(arch))


def test_header_of_an_unnamed_section(tmp_path: Path) -> None:
    (tmp_path / "exp.nas").write_text("experiment {\n    seed = 7\n}\n")
    for i, name in enumerate(("<unnamed>", "")):  # as nasc freeze and nasc search write it
        chosen = experiment_for(api.load(_arch(tmp_path / str(i) / "x", f"../../exp.nas :: {name}")))
        assert chosen.config["seed"] == 7 and chosen.name == ""


def test_a_named_file_must_have_a_section(tmp_path: Path) -> None:
    empty = tmp_path / "empty.nas"
    empty.write_text("const N = 1\n")
    with pytest.raises(UsageError, match="has no experiment section"):
        experiment_for(api.load(SPACE), f"{empty}:")
    with pytest.raises(UsageError, match="has no experiment section"):
        experiment_for(api.load(_arch(tmp_path / "a", "../empty.nas :: ")))


def test_no_section_anywhere_gives_defaults_and_no_reference(tmp_path: Path) -> None:
    chosen = experiment_for(api.load(_arch(tmp_path, None)), overrides=["seed=3"])
    assert chosen == ChosenExperiment(chosen.config) and chosen.reference() is None
    assert chosen.config["seed"] == 3 and chosen.config["dataset"] == "sklearn:digits"


def test_train_and_opt_apply_the_same_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A header naming a section that is not there is the same exit-2 error for train and opt,
    before anything is trained or optimized."""
    from safetensors.torch import save_file

    from nasc.cli import main
    from nasc.deploy import reference_module

    arch = _arch(tmp_path, "examples/digits_tiny.nas :: smokee")
    monkeypatch.chdir(EXAMPLES.parent)  # the header's path is relative to the working directory
    weights = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in reference_module(api.load(arch)).state_dict().items()}, str(weights))
    for argv in (["train", str(arch), "--out", str(tmp_path / "t")],
                 ["opt", str(arch), "-w", str(weights), "-p", "fold-bn", "--out", str(tmp_path / "o")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "has no experiment 'smokee'; did you mean 'smoke'" in err, (argv[0], err)
        assert not (tmp_path / argv[argv.index("--out") + 1]).joinpath("weights.safetensors").exists()
