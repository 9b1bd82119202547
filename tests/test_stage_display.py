"""compile's stage display: a live view on a terminal, the same events as plain lines elsewhere."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from nasc import api, experiment
from nasc.stage_display import PlainStages, RichStages, stage_display
from nasc.train import train

from .conftest import frozen_arch


def _retrain(display, tmp_path: Path) -> None:
    """A real stage: one retraining epoch of a digits arch, its lines and ticks on the display."""
    arch = api.load(frozen_arch(tmp_path / "arch.nas", "digits", 0))
    cfg = experiment.resolve(None, ["dataset=sklearn:digits", "train.epochs=1"])
    display.stage("search", "cached", "0123456789ab")
    display.stage("train", "running")
    train(arch, cfg, tmp_path / "train", progress=display.lines)
    display.stage("train", "done", "1.0s")
    display.stage("opt", "running")  # a stage the plan does not name
    display.close()


def test_off_a_terminal_the_display_writes_plain_lines(tmp_path: Path) -> None:
    stream = io.StringIO()
    display = stage_display(stream)
    assert isinstance(display, PlainStages)
    _retrain(display, tmp_path)
    lines = stream.getvalue().splitlines()
    assert "\x1b" not in stream.getvalue()
    assert lines[:2] == ["[search] cached (0123456789ab)", "[train] running"]
    assert lines[2].startswith("train epoch   1/1  loss ") and lines[3:] == ["[train] done (1.0s)", "[opt] running"]


def test_on_a_terminal_the_display_is_live(tmp_path: Path) -> None:
    stream = io.StringIO()
    display = stage_display(None, console=Console(file=stream, force_terminal=True, width=120))
    assert isinstance(display, RichStages)
    _retrain(display, tmp_path)
    text = stream.getvalue()
    assert "\x1b[" in text  # drawn with terminal escapes, redrawn in place
    assert "train epoch   1/1  loss" in text  # the stage's own line, printed above the view
    assert "retrain epoch" in text and "1/1" in text  # the counter the retraining ticked
    final = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text.rsplit("\x1b[2K", 1)[-1])  # the view's last drawing
    assert [line.split() for line in final.splitlines()] == [
        ["✓", "search", "cached", "(0123456789ab)"], ["✓", "train", "done", "(1.0s)"], ["▶", "opt", "running"],
        ["·", "build", "pending"], ["·", "latency", "pending"], ["·", "report", "pending"]]
