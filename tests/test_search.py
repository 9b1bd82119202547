"""Differentiable search: hypergradients, budgets, collapse guards, reproducibility and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from nasc import api, experiment
from nasc.ir.cost import arch_cost
from nasc.lower.supernet import GateConfig, Gates, Supernet
from nasc.search.bilevel import Bilevel
from nasc.search.discretize import ConstraintChecker, DiscretizationError, discretize, min_path_ops
from nasc.search.objectives import ExpectedCost

from .conftest import EXAMPLES, ROOT

FIX = ROOT / "tests" / "fixtures" / "search"


def _tiny(order: int = 2):
    compiled = api.load(FIX / "tiny.nas")
    space = compiled.elaborate()
    cfg = experiment.resolve(None, [f"search.order={order}", "search.w_wd=0.01", "search.w_lr=0.1"])
    torch.manual_seed(0)
    net = Supernet(space, space.ops, generator=torch.Generator().manual_seed(0)).double()
    opt = Bilevel(net, cfg, 1, GateConfig())
    gen = torch.Generator().manual_seed(1)
    xt, xv = torch.randn(8, 1, 4, 4, generator=gen).double(), torch.randn(8, 1, 4, 4, generator=gen).double()
    yt, yv = torch.randint(0, 3, (8,), generator=gen), torch.randint(0, 3, (8,), generator=gen)
    with torch.no_grad():
        gates = opt.gates(1.0, None)
    opt.weight_step(xt, yt, gates)  # so the momentum buffers are non-zero
    return compiled, space, net, opt, (xt, yt, xv, yv)


def _unrolled_reference(net: Supernet, opt: Bilevel, xt, yt, xv, yv) -> list[torch.Tensor]:
    """d/dα L_val(w'(α), α) with w'(α) = w - ξ(μ·buf + ∇_w L_train(w, α) + wd·w), by autograd."""
    names = [n for n, p in net.named_parameters() if not n.startswith("arch.")]
    weights = [dict(net.named_parameters())[n] for n in names]
    xi = opt.lr
    mom = opt.w_opt.param_groups[0]["momentum"]
    wd = opt.w_opt.param_groups[0]["weight_decay"]
    loss_t = F.cross_entropy(net(xt, Gates(net.arch, GateConfig(), 1.0)), yt)
    grads = torch.autograd.grad(loss_t, weights, create_graph=True)
    unrolled = {}
    for n, w, g in zip(names, weights, grads):
        buf = opt.w_opt.state[w]["momentum_buffer"]
        unrolled[n] = w - xi * (mom * buf + g + wd * w)
    logits = functional_call(net, unrolled, (xv, Gates(net.arch, GateConfig(), 1.0)))
    return list(torch.autograd.grad(F.cross_entropy(logits, yv), list(net.arch.parameters())))


def test_second_order_hypergradient_matches_explicit_unrolling() -> None:
    _, _, net, opt, (xt, yt, xv, yv) = _tiny(order=2)
    ours, _ = opt.hypergradient(xt, yt, xv, yv, lambda: opt.gates(1.0, None))
    ref = _unrolled_reference(net, opt, xt, yt, xv, yv)
    a, b = torch.cat([g.reshape(-1) for g in ours]), torch.cat([g.reshape(-1) for g in ref])
    assert float(b.norm()) > 0
    assert float((a - b).norm() / b.norm()) < 1e-3


def test_first_order_is_the_plain_validation_gradient() -> None:
    _, _, net, opt, (xt, yt, xv, yv) = _tiny(order=1)
    ours, _ = opt.hypergradient(xt, yt, xv, yv, lambda: opt.gates(1.0, None))
    plain = torch.autograd.grad(F.cross_entropy(net(xv, Gates(net.arch, GateConfig(), 1.0)), yv),
                                list(net.arch.parameters()))
    for a, b in zip(ours, plain):
        assert torch.allclose(a, b)


def test_expected_cost_is_exact_at_one_hot_alphas() -> None:
    compiled, space, net, _, _ = _tiny()
    cost = ExpectedCost(space, space.ops, "params")
    for d in net.free:
        for option in range(d.n):
            probs = {x.id: torch.full((x.n,), 1.0 / x.n, dtype=torch.float64) for x in net.free}
            probs[d.id] = F.one_hot(torch.tensor(option), d.n).double()
            expected = float(cost(probs))
            # brute force: average the exact cost over the other decision's options
            other = next(x for x in net.free if x.id != d.id)
            exact = []
            for o2 in range(other.n):
                arch = compiled.elaborate(pins=api.pins_from_assignment({d.path: option, other.path: o2}))
                exact.append(arch_cost(arch.graph.prune(), space.ops).params)
            assert expected == pytest.approx(sum(exact) / len(exact), rel=1e-6)


def test_hard_budget_is_enforced_at_discretization() -> None:
    compiled, space, net, _, _ = _tiny()
    w = space.decision("w")
    with torch.no_grad():
        net.arch.vector(w.id).copy_(torch.tensor([5.0, 0.0]))  # α prefers the big conv
    checker = ConstraintChecker(space, space.ops, lambda a: compiled.elaborate(pins=api.pins_from_assignment(a)))
    assignment, tried = discretize(net, checker)
    arch = compiled.elaborate(pins=api.pins_from_assignment(assignment))
    params = arch_cost(arch.graph.prune(), space.ops).params
    assert params <= 400 < 823
    assert assignment["w"] == w.labels.index("small") and tried > 1


def test_infeasible_budget_names_the_constraint() -> None:
    text = (FIX / "tiny.nas").read_text().replace("params <= 400", "params <= 100")
    compiled = api.load_text(text, "tiny100.nas")
    space = compiled.elaborate()
    net = Supernet(space, space.ops)
    checker = ConstraintChecker(space, space.ops, lambda a: compiled.elaborate(pins=api.pins_from_assignment(a)))
    with pytest.raises(DiscretizationError, match="params <= 100"):
        discretize(net, checker)


def test_min_path_ops_overrides_an_all_skip_argmax() -> None:
    compiled = api.load(FIX / "collapse.nas")
    space = compiled.elaborate()
    net = Supernet(space, space.ops)
    with torch.no_grad():
        for d in net.free:
            net.arch.vector(d.id).copy_(torch.tensor([0.0, 3.0]))  # every edge prefers skip
    checker = ConstraintChecker(space, space.ops, lambda a: compiled.elaborate(pins=api.pins_from_assignment(a)))
    assignment, tried = discretize(net, checker)
    assert tried > 1
    arch = compiled.elaborate(pins=api.pins_from_assignment(assignment))
    (c,) = [c for c in arch.constraints if c.metric == "min_path_ops"]
    assert min_path_ops(arch.graph, space.ops, c.nodes[0], c.nodes[1], set(c.exclude)) >= 2


def _nasc(*args: str, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nasc", *args], capture_output=True, text=True, cwd=cwd, **kw)


def test_drift_to_skip_is_logged_and_the_path_constraint_holds(tmp_path: Path) -> None:
    """First-order DARTS with fast α and slow w drifts to skip; the log shows it, the arch obeys min_path_ops."""
    out = tmp_path / "c"
    r = _nasc("search", str(FIX / "collapse.nas"), "--out", str(out), "--set", "search.epochs=4",
              "--set", "search.a_lr=1.0", "--set", "search.w_lr=0.01", "--set", "search.skip_warn=0.3")
    assert r.returncode == 0, r.stderr
    log = [json.loads(line) for line in (out / "search.jsonl").read_text().splitlines()]
    shares = [rec["skip_share"] for rec in log]
    assert max(shares) >= 0.5 and shares[-1] >= shares[0]
    assert "collapse risk" in r.stderr and any("warning" in rec for rec in log)
    pinned = api.load(out / "pinned.nas").elaborate()
    (c,) = [c for c in pinned.constraints if c.metric == "min_path_ops"]
    assert min_path_ops(pinned.graph, pinned.ops, c.nodes[0], c.nodes[1], set(c.exclude)) >= 2


SEARCH_ARGS = ["--set", "search.epochs=3", "--set", "search.batch=256", "--set", "budget.wallclock=3600s"]


def test_same_seed_same_arch_and_resume_after_sigkill(tmp_path: Path) -> None:
    src = str(EXAMPLES / "digits_tiny.nas")
    full = _nasc("search", src, "--out", str(tmp_path / "a"), *SEARCH_ARGS)
    assert full.returncode == 0, full.stderr
    again = _nasc("search", src, "--out", str(tmp_path / "b"), *SEARCH_ARGS)
    assert (tmp_path / "a" / "arch.nas").read_text() == (tmp_path / "b" / "arch.nas").read_text()
    assert again.returncode == 0
    # kill a third run in the middle of its second epoch, then resume it
    out = tmp_path / "c"
    proc = subprocess.Popen([sys.executable, "-m", "nasc", "search", src, "--out", str(out), *SEARCH_ARGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, "the search finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "arch.nas").exists()
    resumed = _nasc("search", src, "--resume", str(out), *SEARCH_ARGS)
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "arch.nas").read_text() == (tmp_path / "a" / "arch.nas").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 3 and summary["seed"] == 0
    assert len((out / "search.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("algo", ["gdas", "fairdarts", "snas", "pcdarts"])
def test_algorithms_run(algo: str, tmp_path: Path) -> None:
    compiled = api.load(EXAMPLES / "digits_tiny.nas")
    from nasc.search.run import search

    cfg = experiment.resolve(compiled.module.experiments["smoke"],
                             [f"search.algo={algo}", "search.epochs=1", "search.batch=256", "search.zero_one=1.0",
                              "search.l1=0.1", "search.beta_reg=0.1", "search.pcgrad=true", "search.aux_skip=0.5"]
                             + (["search.partial_channels=2"] if algo == "pcdarts" else []))
    res = search(compiled, cfg, tmp_path, progress=None)
    rec = json.loads((tmp_path / "search.jsonl").read_text().splitlines()[0])
    assert set(rec) >= {"train_loss", "val_acc", "alpha", "tau", "expected", "skip_share", "grad_cosine"}
    assert rec["expected"]["latency_source"].startswith("predicted")
    assert res.summary["constraints"][0]["holds"]
    assert api.load(tmp_path / "arch.nas").elaborate().kind == "arch"


def test_hard_latency_budget_uses_the_predicted_latency() -> None:
    """A hard latency budget is enforced at discretization with the target's prediction (labelled so)."""
    def build(bound_us: float):
        text = (FIX / "tiny.nas").read_text().replace("constraint params <= 400",
                                                      f"constraint latency <= {bound_us}us on cpu")
        compiled = api.load_text(text, f"tiny_lat{bound_us}.nas")
        space = compiled.elaborate()
        checker = ConstraintChecker(space, space.ops,
                                    lambda a: compiled.elaborate(pins=api.pins_from_assignment(a)))
        return space, checker

    space, checker = build(1e6)
    (lat,) = space.constraints
    w = space.decision("w")
    other = next(d for d in space.free if d.path != "w")
    big, source = checker.value(lat, {"w": w.labels.index("big"), other.path: 0})
    small, _ = checker.value(lat, {"w": w.labels.index("small"), other.path: 0})
    assert source.startswith("predicted (roofline-prior:cpu") and small < big
    bound = round((big + small) / 2 * 1e6, 3)
    space, checker = build(bound)
    net = Supernet(space, space.ops)
    with torch.no_grad():
        net.arch.vector(space.decision("w").id).copy_(torch.tensor([5.0, 0.0]))  # α prefers the big conv
        net.arch.vector(space.decision(other.path).id).copy_(torch.tensor([5.0, 0.0, 0.0]))
    assignment, tried = discretize(net, checker)
    (lat,) = space.constraints
    value, _ = checker.value(lat, assignment)
    assert tried > 1 and value <= bound * 1e-6 and assignment["w"] == w.labels.index("small")
