"""The kernel-sum predictor of a measured host, its wiring into model resolution, and
``nasc latency report``.

The store is filled with synthetic records (each kernel's median a function of its key,
each arch's latency an exact kernel-sum law) so that what the model must recover is
known; the kernel lists themselves come from the real enumeration and are checked against
the real pipeline.
"""

from __future__ import annotations

import dataclasses

import collections
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasc import api
from nasc.latency.arch_kernels import arch_key, arch_kernel_list, canonical_arch_text
from nasc.latency.decided_kernels import DecidedKernels
from nasc.latency.fitted import AffinePrior
from nasc.latency.host import host_fingerprint
from nasc.latency.kernel_model import (KernelSumModel, KernelSums, KernelTable, fit_kernel_sum, fit_terms,
                                      kernel_prior_ms)
from nasc.latency.micro import micro_ir
from nasc.latency.model import network_latency, prior_for
from nasc.latency.records import StoredLatency, TimingProtocol
from nasc.latency.report import build_report, cross_validated, write_report
from nasc.latency.resolve import latency_model_for
from nasc.latency.space_kernels import space_kernels
from nasc.latency.store import LatencyStore

from .conftest import EXAMPLES

TINY = EXAMPLES / "digits_tiny.nas"
PROTO = TimingProtocol(warmup=1, repeats=3, batch=1, threads=2)
LAW = {"a": 0.004, "b": 0.8, "d": -0.002}
"""The synthetic arch law: a + b * sum(kernel medians) + d * kernels (ms)."""


def kernel_ms(key: str) -> float:
    """A made-up median per kernel, fixed by its key: 0.005 to 0.015 ms."""
    return 0.005 + int(hashlib.sha256(key.encode()).hexdigest()[:4], 16) / 0xFFFF * 0.01


@pytest.fixture(scope="module")
def tiny():
    compiled = api.load(TINY)
    return compiled, compiled.elaborate()


def _record(kind: str, key: str, ms: float, text: str, backend: str = "onnxruntime") -> StoredLatency:
    return StoredLatency(kind=kind, target="cpu", backend=backend, precision="fp32", key=key, median_ms=ms,  # type: ignore[arg-type]
                         p90_ms=ms * 1.1, protocol=PROTO, versions={"onnxruntime": "test"}, signature=text)


def fill(store: LatencyStore, compiled, space, archs: int, *, skip: int = 0, law: dict | None = None) -> list[dict]:
    """Kernel records for every kernel of ``space`` but the first ``skip``, and ``archs`` arch
    records (seeds 0..) whose latency follows ``law``; returns their assignments."""
    law = law or LAW
    kernels = space_kernels(space, compiled.loader.ops).kernels
    store.put(_record("kernel", k.key, kernel_ms(k.key), k.signature) for k in kernels[skip:])
    assignments, seen = [], set()
    for seed in range(archs * 10):
        if len(assignments) == archs:
            break
        assignment = api.random_assignment(space, seed)
        arch = compiled.elaborate(space.name, api.pins_from_assignment(assignment))
        text = canonical_arch_text(arch, compiled.loader.ops)
        if arch_key(text) in seen:
            continue
        seen.add(arch_key(text))
        listed = arch_kernel_list(arch.graph.prune(), compiled.loader.ops)
        ms = law["a"] + law["b"] * sum(kernel_ms(k.key) for k in listed) + law["d"] * len(listed)
        store.put([_record("arch", arch_key(text), ms, text)])
        assignments.append(assignment)
    return assignments


# -------------------------------------------------------------- kernel lists of one architecture
@pytest.mark.parametrize("name", ["digits_tiny", "nb201"])
def test_decided_kernels_are_the_pipelines_with_repeats(name):
    compiled = api.load(EXAMPLES / f"{name}.nas")
    space = compiled.elaborate()
    decided = DecidedKernels(space)
    for seed in range(4 if name == "nb201" else 12):
        assignment = api.random_assignment(space, seed)
        arch = compiled.elaborate(space.name, api.pins_from_assignment(assignment))
        real = collections.Counter(arch_kernel_list(arch.graph.prune(), compiled.loader.ops))
        mine = collections.Counter(p.kernel for p in decided.of(assignment))
        assert mine == real, f"seed {seed}"
    if name == "nb201":  # five identical cells per stage: repeats must be counted
        assert max(real.values()) >= 5


def test_kernel_prior_is_the_priors_sum_over_the_members(tiny):
    compiled, space = tiny
    lib = compiled.loader.ops
    prior = prior_for("cpu")
    for k in space_kernels(space, lib).kernels[:8]:
        ir = micro_ir(k.signature, lib)
        expected = sum(prior.primitive_latency(lib, n.op, [ir.node(i).shape for i in n.inputs], dict(n.attrs))
                       for n in ir.ops())
        assert kernel_prior_ms(prior, lib, k.signature) == pytest.approx(expected * 1e3, rel=1e-9)


# -------------------------------------------------------------- the fitted terms
def test_terms_recover_a_known_law():
    rng = np.random.default_rng(0)
    sums = [KernelSums(float(rng.uniform(0.05, 0.5)), 0.0, (("conv_add_act", int(rng.integers(2, 9))),
                                                           ("pool", int(rng.integers(0, 4)))))
            for _ in range(40)]
    measured = [0.01 + 0.7 * s.total_ms - 0.003 * s.count("conv_add_act") - 0.001 * s.count("pool") for s in sums]
    terms = fit_terms(sums, measured)
    predicted = [terms.predict_ms(s) for s in sums]
    assert np.allclose(predicted, measured, rtol=0.01)
    assert terms.scale == pytest.approx(0.7, rel=0.05)
    assert dict(terms.dispatch_ms)["conv_add_act"] == pytest.approx(-0.003, rel=0.2)


def test_no_archs_is_the_plain_kernel_sum():
    terms = fit_terms([], [])
    assert terms.predict_ms(KernelSums(0.25, 0.05, (("pool", 3),))) == pytest.approx(0.30)


# -------------------------------------------------------------- the model from a store
def test_model_from_store_predicts_the_law_and_says_so(tiny, tmp_path):
    compiled, space = tiny
    with LatencyStore(tmp_path / "lat.sqlite") as store:
        fitted = fill(store, compiled, space, 12)
        model = latency_model_for("cpu", store, space)
    assert isinstance(model, KernelSumModel)
    n_kernels = len(space_kernels(space, compiled.loader.ops).kernels)
    assert model.name.startswith(f"kernel-sum:cpu/onnxruntime ({n_kernels} kernels, 12 archs, err ")
    assert model.name.endswith("prior share 0%)")
    lib = compiled.loader.ops
    for seed in range(100, 106):  # architectures the fit never saw
        assignment = api.random_assignment(space, seed)
        arch = compiled.elaborate(space.name, api.pins_from_assignment(assignment))
        listed = arch_kernel_list(arch.graph.prune(), lib)
        law = LAW["a"] + LAW["b"] * sum(kernel_ms(k.key) for k in listed) + LAW["d"] * len(listed)
        assert model.decided_latency(space, assignment) == pytest.approx(law / 1e3, rel=0.02)
    # per-node values: the prior with terms fitted on the same archs (exact in expectation)
    assert isinstance(model.per_node, AffinePrior)
    arch = compiled.elaborate(space.name, api.pins_from_assignment(fitted[0]))
    assert network_latency(model, arch) == pytest.approx(network_latency(model.per_node, arch))
    assert network_latency(model, arch) != pytest.approx(network_latency(prior_for("cpu"), arch))


def test_a_model_fitted_on_no_archs_claims_no_prior_share(tiny):
    """The prior's share is taken over the fitted archs: with none, "0%" would claim that
    every prediction is measured when nothing is."""
    compiled, _ = tiny
    model = fit_kernel_sum("cpu/onnxruntime", KernelTable({}, prior_for("cpu"), compiled.loader.ops), [])
    assert model.name.endswith("(0 kernels, 0 archs, err n/a, prior share n/a)"), model.name


def test_unmeasured_kernels_come_from_the_prior(tiny, tmp_path):
    compiled, space = tiny
    with LatencyStore(tmp_path / "lat.sqlite") as store:
        fill(store, compiled, space, 6, skip=5)
        model = latency_model_for("cpu", store, space)
    assert isinstance(model, KernelSumModel)
    assert "prior share 0%" not in model.name
    missing = {k.key for k in space_kernels(space, compiled.loader.ops).kernels[:5]}
    for seed in range(20):
        assignment = api.random_assignment(space, seed)
        sums = model.sums_of(space, assignment)
        kernels = [p.kernel for p in DecidedKernels(space).of(assignment)]
        expected = sum(kernel_prior_ms(prior_for("cpu"), compiled.loader.ops, k.signature)
                       for k in kernels if k.key in missing)
        assert sums.prior_ms == pytest.approx(expected)
        assert sums.measured_ms == pytest.approx(sum(kernel_ms(k.key) for k in kernels if k.key not in missing))


def test_without_kernel_records_resolution_is_unchanged(tiny, tmp_path):
    compiled, space = tiny
    with LatencyStore(tmp_path / "lat.sqlite") as store:
        fill(store, compiled, space, 0)
        other = latency_model_for("cpu", store, space, backend="tvm")  # kernels of onnxruntime only
        empty = LatencyStore(tmp_path / "empty.sqlite")
        bare = latency_model_for("cpu", empty, space)
        empty.close()
    assert other == prior_for("cpu") and bare == prior_for("cpu")


def test_other_hosts_kernels_do_not_count(tiny, tmp_path):
    compiled, space = tiny
    kernels = space_kernels(space, compiled.loader.ops).kernels
    with LatencyStore(tmp_path / "lat.sqlite") as store:
        store.put(StoredLatency(kind="kernel", target="cpu", backend="onnxruntime", precision="fp32", key=k.key,
                                median_ms=0.01, p90_ms=0.01, protocol=PROTO, versions={}, host="another machine",
                                signature=k.signature) for k in kernels)
        model = latency_model_for("cpu", store, space)
    assert model == prior_for("cpu")


def test_another_thread_count_is_another_configuration(tiny, tmp_path):
    """Kernels and archs timed on one thread neither feed the model of the default (two-thread)
    configuration nor count as measured for it; a model asked for one thread gets them."""
    from nasc.latency.kernel_source import KernelSumSource

    compiled, space = tiny
    one = dataclasses.replace(PROTO, threads=1)
    with LatencyStore(tmp_path / "lat.sqlite") as store:
        fill(store, compiled, space, 8)
        rows = list(store.query())
        other = LatencyStore(tmp_path / "one.sqlite")
        other.put(dataclasses.replace(r, protocol=one) for r in rows)
        assert latency_model_for("cpu", other, space) == prior_for("cpu")
        assert other.keys("kernel", "cpu", "onnxruntime", "fp32", threads=2) == set()
        assert len(other.keys("kernel", "cpu", "onnxruntime", "fp32", threads=1)) == len(
            store.keys("kernel", "cpu", "onnxruntime", "fp32"))
        at_one = KernelSumSource(other, "cpu", "onnxruntime", compiled.loader.ops, threads=1).model()
        other.close()
        two_ms = {r.key: r.median_ms for r in rows if r.kind == "arch"}
        store.put(dataclasses.replace(r, protocol=one, median_ms=3 * r.median_ms, p90_ms=3 * r.p90_ms,
                                      created="2100-01-01T00:00:00.000000+00:00")
                  for r in rows)  # both configurations in one store, the one-thread records the latest
        at_two = latency_model_for("cpu", store, space)
    assert isinstance(at_two, KernelSumModel) and len(at_one.fitted) == len(at_two.fitted) == 8
    assert {a.key: a.measured_ms for a in at_two.fitted} == pytest.approx(two_ms)
    assert "at 1 threads" in at_one.name and "threads" not in at_two.name
    assignment = api.random_assignment(space, 100)
    assert at_one.decided_latency(space, assignment) == pytest.approx(at_two.decided_latency(space, assignment))


def test_arch_texts_come_from_records_and_the_archs_table(tiny, tmp_path):
    compiled, space = tiny
    arch = compiled.elaborate(space.name, api.pins_from_assignment(api.random_assignment(space, 0)))
    text = canonical_arch_text(arch, compiled.loader.ops)
    other = text.replace("network", "network ", 1)
    with LatencyStore(tmp_path / "lat.sqlite") as store:
        store.put([_record("arch", arch_key(text), 0.02, text)])
        store.put([_record("arch", arch_key(other), 0.02, "")])
        store.describe_arch(arch_key(other), other, {})
        found = store.arch_texts([arch_key(text), arch_key(other), "0" * 64])
    assert found == {arch_key(text): text, arch_key(other): other}
    assert api.load_text(text, "<t>").elaborate().kind == "arch"  # the canonical text parses back


# -------------------------------------------------------------- nasc latency report
def test_cross_validation_never_sees_the_predicted_arch():
    y = np.arange(1.0, 11.0)
    before = cross_validated(len(y), lambda train, held: np.full(len(held), y[train].mean()))
    y[3] = 1000.0
    after = cross_validated(len(y), lambda train, held: np.full(len(held), y[train].mean()))
    assert after[3] == before[3]
    assert not np.allclose(after, before)


def test_report_judges_each_model_on_held_out_archs(tiny, tmp_path):
    compiled, space = tiny
    with LatencyStore(tmp_path / "lat.sqlite") as store:
        fill(store, compiled, space, 15)
        doc = write_report(store, "cpu", None, tmp_path / "rep")
    assert json.loads((tmp_path / "rep" / "report.json").read_text()) == doc
    assert (tmp_path / "rep" / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    [group] = doc["groups"]
    assert group["backend"] == "onnxruntime" and group["archs"] == 15
    assert "measured with onnxruntime on " + host_fingerprint() in group["source"]
    models = group["models"]
    assert set(models) == {"kernel-sum", "roofline-prior", "roofline-prior-affine"}
    assert models["kernel-sum"]["n"] == 15
    assert models["kernel-sum"]["within_10pct"] == 1.0  # the law is exactly a kernel sum
    assert models["kernel-sum"]["kendall_tau"] > 0.9
    assert models["roofline-prior"]["within_10pct"] == 0.0  # the prior is far off digits' microseconds


def test_report_takes_the_archs_the_models_are_fitted_on(tiny, tmp_path):
    """An fp16 measurement of another arch is not an fp32 one: the report leaves it out, as the
    models do (it used to count it and then fail looking up its kernels' fit)."""
    compiled, space = tiny
    with LatencyStore(tmp_path / "lat.sqlite") as store:
        fill(store, compiled, space, 8)
        arch = compiled.elaborate(space.name, api.pins_from_assignment(api.random_assignment(space, 999)))
        text = canonical_arch_text(arch, compiled.loader.ops)
        store.put([dataclasses.replace(_record("arch", arch_key(text), 1.0, text), precision="fp16")])
        doc, _ = build_report(store, "cpu", "onnxruntime")
    [group] = doc["groups"]
    assert group["archs"] == 8 and group["models"]["kernel-sum"]["n"] == 8


def test_report_of_a_recorded_device_has_the_recorded_fit(tmp_path):
    from .test_latency_loop import measured_archs

    with LatencyStore(tmp_path / "lat.sqlite") as store:
        measured_archs(store, 16)  # 5 folds: each fit sees 12 or 13, what the recorded fit needs
        doc, _ = build_report(store, "recorded-raspi4", None)
    [group] = doc["groups"]
    assert group["source"].startswith("recorded table nb201/")
    fit = group["models"]["recorded-fit"]
    assert fit["n"] == 16 and fit["within_10pct"] > 0.5
    assert "kernel-sum" not in group["models"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nasc.cli", *args], capture_output=True, text=True)


def test_cli_report_and_nothing_to_report(tiny, tmp_path):
    compiled, space = tiny
    db = tmp_path / "lat.sqlite"
    with LatencyStore(db) as store:
        fill(store, compiled, space, 0)
    empty = _cli("latency", "report", "--target", "cpu", "--latency-db", str(db), "--out", str(tmp_path / "r0"))
    assert empty.returncode == 2
    assert "nothing to report" in empty.stderr and "--archs N" in empty.stderr
    with LatencyStore(db) as store:
        fill(store, compiled, space, 6)
    done = _cli("latency", "report", "--target", "cpu", "--backend", "onnxruntime", "--latency-db", str(db),
                "--out", str(tmp_path / "r1"))
    assert done.returncode == 0, done.stderr
    assert "cpu/onnxruntime kernel-sum: n=6, within +-10% " in done.stdout
    assert "cpu/onnxruntime roofline-prior: n=6, within +-10% 0.0%" in done.stdout
    assert (tmp_path / "r1" / "scatter.png").is_file()
