"""TVM builds that follow nasc's kernel plan: each fused kernel lowered alone, then stitched.

Real TVM builds and a real (1-trial) MetaSchedule run.  The arch is small and residual on
purpose: where a merge has two fusable producers, TVM's own FuseOps over the whole graph
joins the ``add`` to a different conv than nasc's fuse pass does, so a database filled from
the arch's kernels (as ``nasc profile --tune`` fills it from a space's) does not cover the
whole-graph build -- and must cover the kernel-plan build completely.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backend_testlib import needs_tvm

pytestmark = [pytest.mark.tvm, needs_tvm]

ARCH = ("arch r {\n    input x: f32[B, 3, 8, 8]\n"
        "    a = x |> conv(8, 3) |> bn |> relu |> conv(8, 3) |> bn |> relu |> conv(8, 3) |> bn |> relu\n"
        "    output y = (a |> conv(8, 3) |> bn) + (a |> conv(8, 1) |> bn)\n"
        "    output z = a |> max_pool(2) |> flatten\n}\n")
MERGE = ("arch m {\n    input x: f32[B, 3, 8, 8]\n    a = x |> conv(8, 3) |> bn |> relu\n"
         "    output y = (a |> conv(8, 3) |> bn) + (a |> conv(8, 1) |> bn)\n}\n")


def _build(compiled: Any, out: Path, *, plan: bool) -> tuple[Any, dict[str, Any]]:
    """The arch built with TVM for the cpu, with or without its kernel plan."""
    import nasc.backends as nb
    from nasc.backends import BuildOptions
    from nasc.deploy import decided, example_inputs, reference_module
    from nasc.latency.kernel_plan import arch_plan

    net = reference_module(compiled)
    graph = decided(compiled, None, "build").graph.prune()
    options = BuildOptions(output_names=tuple(net.output_names),
                           kernel_plan=arch_plan(graph, compiled.loader.ops, net, "fp32", 1, 0) if plan else None)
    art = nb.build(net, example_inputs(net), out_dir=out, target="cpu", backend="tvm", options=options)
    return art, json.loads((out / "manifest.json").read_text())["details"]


def _load(path: Path, text: str) -> Any:
    from nasc import api

    path.write_text(text)
    return api.load(path)


@pytest.fixture()
def compiled(tmp_path: Path) -> Any:
    return _load(tmp_path / "r.nas", ARCH)


def test_a_kernel_plan_build_computes_the_arch(compiled: Any, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Both outputs (one through a residual merge, one through a flatten the plan looks
    through) agree with torch -- two of the kernels are one structure with different weights,
    imported once; the manifest says how the build was partitioned.  Built again, every
    kernel's decomposed program comes from the cache folder, and the outputs still agree."""
    import nasc.backends as nb

    monkeypatch.setenv("NASC_CACHE_DIR", str(tmp_path / "cache"))
    for build, from_cache in (("cold", 0), ("warm", 5)):
        art, details = _build(compiled, tmp_path / build, plan=True)
        assert details["partition"].startswith("kernel plan: nasc's fuse pass (6 kernels)"), details["partition"]
        assert details["kernel_programs"] == {"kernels": 6, "distinct": 5, "decomposed_from_cache": from_cache}
        with np.load(Path(art.dir) / "io_check.npz") as io:
            inputs = {k.split(".", 1)[1]: io[k] for k in io.files if k.startswith("input.")}
            expected = [io[k] for k in io.files if k.startswith("output.")]
        got = nb.load_and_run(art, inputs)
        assert [g.shape for g in got] == [(1, 8, 8, 8), (1, 392)]
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


def test_a_database_of_the_kernels_covers_the_kernel_plan_build_only(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The arch's kernels tuned as micro-models (what ``nasc profile --tune`` does for a
    space): the kernel-plan build finds every task in the database; TVM's whole-graph
    partition of the same arch has tasks the database never saw."""
    import nasc.backends as nb
    from nasc.backends import BuildOptions
    from nasc.deploy import decided
    from nasc.latency.arch_kernels import arch_kernels
    from nasc.latency.micro import micro_model

    monkeypatch.setenv("NASC_CACHE_DIR", str(tmp_path / "cache"))
    compiled = _load(tmp_path / "merge.nas", MERGE)
    graph = decided(compiled, None, "build").graph.prune()
    micros = [micro_model(k.signature, compiled.loader.ops) for k in arch_kernels(graph, compiled.loader.ops)]
    tuned = nb.tune_kernels([(m.module, m.example_inputs) for m in micros],
                            options=BuildOptions(tune_trials=1, cache_dir=str(tmp_path / "cache")))
    assert tuned["tasks_tuned_now"] == tuned["tasks"] >= 3, tuned
    best = next((tmp_path / "cache" / "tvm-metaschedule").glob("*/best.json"))
    pruned = json.loads(best.read_text())
    assert len(pruned["database_tuning_record.json"].splitlines()) == tuned["tasks"]  # one record per task
    full = (best.parent / "database_tuning_record.json").read_text()
    (best.parent / "database_tuning_record.json").write_text("")  # builds read the pruned copy alone

    _, planned = _build(compiled, tmp_path / "planned", plan=True)
    report = planned["tuning"]
    assert report["not_covered"] == [] and report["tasks_tuned_now"] == 0, report
    assert report["tasks_from_database"] == report["tasks"] == tuned["tasks"], (report, tuned)

    _, whole = _build(compiled, tmp_path / "whole", plan=False)
    assert whole["partition"] == "TVM's FuseOps over the whole graph"
    assert len(whole["tuning"]["not_covered"]) >= 1, whole["tuning"]

    (best.parent / "database_tuning_record.json").write_text(full)
    _stale_pruned_database_is_not_trusted(best, tuned["tasks"])


def _stale_pruned_database_is_not_trusted(best: Path, tasks: int) -> None:
    """A pruned database older than the ledger (its last run's records missing, as when a
    tuning run is killed while pruning) is rewritten before a build reads it; while a tuning
    run holds the lock, the build reads the full database instead."""
    from nasc.backends.tvm.tuning import locked, snapshot

    pruned = json.loads(best.read_text())
    records = pruned["database_tuning_record.json"].splitlines(keepends=True)
    stale = {**pruned, "database_tuning_record.json": records[0], "ledger_bytes": pruned["ledger_bytes"] - 1}
    work = best.parent

    def records_seen() -> int:
        with snapshot(work) as copy:
            return len((copy / "database_tuning_record.json").read_text().splitlines())

    best.write_text(json.dumps(stale))
    with locked(work):  # a tuning run holds the lock: the full database, every record of it
        assert records_seen() == len((work / "database_tuning_record.json").read_text().splitlines()) >= tasks
    assert records_seen() == tasks  # lock free: the pruned database was rewritten from the full one
    assert json.loads(best.read_text())["ledger_bytes"] == pruned["ledger_bytes"]

