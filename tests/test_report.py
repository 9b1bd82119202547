"""`nasc compile`'s report: report.json states the run's own figures, report.md and the
pictures exist for every compile, and the pictures are drawn from the run's logs."""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from nasc import api
from nasc.cli import main
from nasc.ir.cost import arch_cost
from nasc.ir.notation import space_hash
from nasc.report import render
from nasc.search.data import dataset_fingerprint, load_dataset

from .conftest import EXAMPLES

FAST = ["--set", "search.epochs=2", "--set", "search.batch=256", "--set", "train.epochs=2"]
DIGITS_SPLIT = {"train": 0.6, "val": 0.2, "test": 0.2}  # examples/digits.nas's experiment


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One short compile of the digits example for this machine: its folder and its stderr
    (not a terminal here, so plain lines)."""
    out = tmp_path_factory.mktemp("report") / "run"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["compile", str(EXAMPLES / "digits.nas"), "--target", "cpu", "--backend", "onnxruntime",
                     "--out", str(out), *FAST])
    assert code == 0, err.getvalue()
    return out, err.getvalue()


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def _last_epoch(out: Path) -> dict:
    return json.loads((out / "search" / "search.jsonl").read_text().splitlines()[-1])


def test_report_json_states_the_runs_own_figures(run: tuple[Path, str]) -> None:
    out, _ = run
    r = _report(out)
    arch = api.load(out / "search" / "arch.nas").elaborate()
    cost = arch_cost(arch.graph.prune(), arch.ops)
    assert (r["cost"]["params"], r["cost"]["macs"], r["cost"]["peak_memory_bytes"]) == \
        (cost.params, cost.macs, cost.peak_memory)
    assert r["params"] == cost.params and r["latency"]["source"] == "measured"  # compile's own keys stay
    last = _last_epoch(out)
    assert r["alpha"]["epoch"] == last["epoch"]
    assert {p: d["probs"] for p, d in r["alpha"]["decisions"].items()} == last["alpha"]
    assert r["alpha"]["decisions"]["C"]["labels"] == ["8", "16"]
    metrics = json.loads((out / "train" / "metrics.json").read_text())
    assert r["accuracy"]["fp32"] == metrics["test_accuracy"] and r["passes"] == "fold-bn,fuse"
    stages = json.loads((out / "compile.json").read_text())  # after the passes: the artifact's own run
    assert r["accuracy"]["after_passes"] == stages["accuracy"]["result"]["accuracy"]
    assert "the artifact (onnxruntime fp32" in r["accuracy"]["after_passes_source"]
    # latency: measured here and predicted by the target's model, each saying how
    measured, predicted = r["latency_figures"]["measured"], r["latency_figures"]["predicted"]
    assert measured["source"] == "measured" and measured["median_ms"] == r["latency"]["median_ms"]
    assert "onnxruntime" in measured["how"] and "30 repeats" in measured["how"] and "cores" in measured["how"]
    assert predicted["source"] == "predicted" and predicted["how"].startswith(f"predicted ({predicted['model']}")
    assert predicted["error_vs_measured"] == pytest.approx(predicted["median_ms"] / measured["median_ms"] - 1)
    # the space's one budget, params <= 6K: exact
    (budget,) = r["budgets"]
    assert budget["constraint"] == "params <= 6K [hard]" and budget["source"] == "exact"
    assert budget["value"] == cost.params and budget["holds"] == (cost.params <= 6000)
    assert budget["share"] == pytest.approx(cost.params / 6000)
    prov = r["provenance"]
    assert prov["dataset"]["sha256"] == dataset_fingerprint(load_dataset("sklearn:digits", DIGITS_SPLIT, 0))
    assert prov["space_hash"] == space_hash(api.load(EXAMPLES / "digits.nas").elaborate())
    assert prov["library_versions"]["torch"] == importlib.metadata.version("torch") and prov["seeds"]["seed"] == 0
    summary = json.loads((out / "search" / "summary.json").read_text())
    assert prov["arch_sha256"] == summary["arch_sha256"]


def test_report_md_embeds_every_picture_and_the_tables(run: tuple[Path, str]) -> None:
    out, _ = run
    r = _report(out)
    md = (out / "report.md").read_text()
    assert [p["name"] for p in r["plots"]] == ["alpha", "loss", "accuracy_latency", "latency_predicted_measured"]
    for plot in r["plots"]:
        assert plot["file"] is not None, plot
        with Image.open(out / plot["file"]) as image:
            assert image.format == "PNG" and image.size[0] > 100
        assert f"]({plot['file']})" in md  # a relative link
    assert "| params <= 6K [hard] | <= 6K |" in md and "| measured |" in md and "| predicted |" in md
    assert r["provenance"]["dataset"]["sha256"] in md and "```\nfold-bn,fuse\n```" in md


def test_stage_lines_are_plain_off_a_terminal(run: tuple[Path, str]) -> None:
    _, err = run
    assert "\x1b" not in err  # no ANSI escapes: stderr is not a terminal
    lines = err.splitlines()
    for line in ("[search] running", "[train] running", "[build] running", "[report] running"):
        assert line in lines
    assert any(line.startswith("epoch   2/2 [") for line in lines)  # the search's own epoch lines
    assert any(line.startswith("train epoch   2/2") for line in lines)
    assert [line.split()[0] for line in lines if line.endswith("s)") and "done" in line] == \
        ["[search]", "[train]", "[opt]", "[build]", "[accuracy]", "[latency]", "[report]"]


def test_pictures_are_drawn_from_the_runs_logs(run: tuple[Path, str], tmp_path: Path) -> None:
    """Rendering again after the search's log was edited draws another α picture; without the
    logs a picture is not drawn (and the old one is gone) and report.md says why."""
    out = tmp_path / "run"
    shutil.copytree(run[0], out)
    before = (out / "plots" / "alpha.png").read_bytes()
    log = out / "search" / "search.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    records[-1]["alpha"]["C"] = [0.9, 0.1]
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    render(out)
    assert (out / "plots" / "alpha.png").read_bytes() != before
    (out / "train" / "train.jsonl").unlink()
    log.write_text("")
    r = render(out)
    drawn = {p["name"]: p for p in r["plots"]}
    assert drawn["alpha"]["file"] is None and not (out / "plots" / "alpha.png").exists()
    md = (out / "report.md").read_text()
    assert "Not drawn: the search logged no epoch" in md
    assert drawn["latency_predicted_measured"]["file"] is not None  # the final arch was measured


def test_the_dataset_fingerprint_names_the_samples_as_split() -> None:
    same = dataset_fingerprint(load_dataset("sklearn:digits", DIGITS_SPLIT, 0))
    assert same == dataset_fingerprint(load_dataset("sklearn:digits", DIGITS_SPLIT, 0))
    assert same != dataset_fingerprint(load_dataset("sklearn:digits", DIGITS_SPLIT, 1))
    assert same != dataset_fingerprint(load_dataset("sklearn:digits", {"train": 0.5, "val": 0.3, "test": 0.2}, 0))
    assert same != dataset_fingerprint(load_dataset("sklearn:digits32", DIGITS_SPLIT, 0))


def test_an_opt_stages_accuracy_and_pipeline_are_shown(run: tuple[Path, str], tmp_path: Path) -> None:
    """The keys an optimization stage adds to compile's result (accuracy before and after its
    passes, the pipeline) are what the page shows when present."""
    out = tmp_path / "run"
    shutil.copytree(run[0], out)
    r = _report(out)
    r["accuracy"] = {"fp32": 0.91, "fp32_source": "torch reference on the test split", "after_passes": 0.905,
                     "after_passes_source": "the int8 artifact on the test split", "test_samples": 360,
                     "tolerance_points": 1.0}
    r["passes"] = "fold-bn,fuse,quantize(int8)"
    (out / "report.json").write_text(json.dumps(r))
    md = (out / "report.md").read_text()
    assert "```\nfold-bn,fuse\n```" in md  # the run's own pipeline
    render(out)
    md = (out / "report.md").read_text()
    assert "| after passes | 90.50% | the int8 artifact on the test split |" in md
    assert "```\nfold-bn,fuse,quantize(int8)\n```" in md and "Tolerance: 1.0 points." in md
    assert "```\nfold-bn,fuse\n```" not in md and "test accuracy 91.00% (90.50% after passes)" in md
