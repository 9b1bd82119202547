"""Differentiable search: hypergradients, budgets, collapse guards, reproducibility and resume."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from nasc import api, experiment
from nasc.ir.cost import arch_cost
from nasc.lower.supernet import GateConfig, Gates, Supernet
from nasc.safestate import load_state
from nasc.search.bilevel import Bilevel
from nasc.search.discretize import ConstraintChecker, DiscretizationError, discretize, min_path_ops
from nasc.search.objectives import ExpectedCost
from nasc.search.run import CHECKPOINT, Objective

from .conftest import EXAMPLES, ROOT

FIX = ROOT / "tests" / "fixtures" / "search"


def _tiny(order: int = 2, *overrides: str):
    """The tiny space's supernet in float64 after one w step, its optimizer, and a train and a val batch.

    ξ = w_lr = 0.5 makes the second-order term of the hypergradient large on this problem.
    """
    compiled = api.load(FIX / "tiny.nas")
    space = compiled.elaborate()
    cfg = experiment.resolve(None, [f"search.order={order}", "search.w_wd=0.01", "search.w_lr=0.5", *overrides])
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


def _flat(grads) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grads])


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _plain_val_grad(net: Supernet, xv: torch.Tensor, yv: torch.Tensor) -> torch.Tensor:
    """∂L_val/∂α at the current w (the first-order hypergradient), flattened."""
    loss = F.cross_entropy(net(xv, Gates(net.arch, GateConfig(), 1.0)), yv)
    return _flat(torch.autograd.grad(loss, list(net.arch.parameters())))


def _unrolled_reference(net: Supernet, opt: Bilevel, xt, yt, xv, yv) -> tuple[torch.Tensor, torch.Tensor]:
    """d/dα L_val(w'(α), α) with w'(α) = w - ξ(μ·buf + ∇_w L_train(w, α) + wd·w), by autograd.

    Also ∂/∂α L_val(w', α) with w' held fixed: the total without its second-order term.
    """
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

    def val_grad(params: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = functional_call(net, params, (xv, Gates(net.arch, GateConfig(), 1.0)))
        return _flat(torch.autograd.grad(F.cross_entropy(logits, yv), list(net.arch.parameters())))

    return val_grad(unrolled), val_grad({n: w.detach() for n, w in unrolled.items()})


def test_second_order_hypergradient_matches_explicit_unrolling() -> None:
    """Ours matches the unrolled reference on a problem where neither first-order shortcut comes close."""
    _, _, net, opt, (xt, yt, xv, yv) = _tiny(order=2)
    first_order = _plain_val_grad(net, xv, yv)
    ours = _flat(opt.hypergradient(xt, yt, xv, yv, lambda: opt.gates(1.0, None))[0])
    ref, without_hessian_term = _unrolled_reference(net, opt, xt, yt, xv, yv)
    assert float(ref.norm()) > 0
    # the second-order term is large here: the gradient at w, and the one at w' without the
    # finite-difference term, both miss the reference by more than 10%
    assert _rel(first_order, ref) > 0.1 and _rel(without_hessian_term, ref) > 0.1
    assert _rel(ours, ref) < 1e-3
    assert _rel(ours, ref) < 0.01 * min(_rel(first_order, ref), _rel(without_hessian_term, ref))


def test_first_order_is_the_plain_validation_gradient() -> None:
    _, _, net, opt, (xt, yt, xv, yv) = _tiny(order=1)
    ours, _ = opt.hypergradient(xt, yt, xv, yv, lambda: opt.gates(1.0, None))
    assert torch.allclose(_flat(ours), _plain_val_grad(net, xv, yv))


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


def _without_seconds(line: str) -> dict:
    """A search.jsonl record minus its wall-clock time, the one field two equal runs do not share."""
    rec = json.loads(line)
    del rec["seconds"]
    return rec


def test_same_seed_same_arch_and_resume_after_sigkill(tmp_path: Path) -> None:
    """Equal seeds give equal archs; a killed search resumes after its last finished epoch.

    Resuming must continue, not restart: the epochs finished before the kill are not run
    again (their log lines stay byte-identical, wall-clock seconds included, and the resumed
    process reports only the later epochs), and it ends in the uninterrupted run's state.
    """
    src = str(EXAMPLES / "digits_tiny.nas")
    full = _nasc("search", src, "--out", str(tmp_path / "a"), *SEARCH_ARGS)
    assert full.returncode == 0, full.stderr
    again = _nasc("search", src, "--out", str(tmp_path / "b"), *SEARCH_ARGS)
    assert (tmp_path / "a" / "arch.nas").read_text() == (tmp_path / "b" / "arch.nas").read_text()
    assert again.returncode == 0
    # kill a third run right after its first checkpoint, then resume it
    out = tmp_path / "c"
    proc = subprocess.Popen([sys.executable, "-m", "nasc", "search", src, "--out", str(out), *SEARCH_ARGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (out / CHECKPOINT).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.1)
    assert proc.poll() is None, "the search finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "arch.nas").exists()
    done = load_state(out / CHECKPOINT)["epoch"] + 1
    assert 1 <= done < 3, f"the kill came after {done} of 3 epochs"
    before = (out / "search.jsonl").read_text().splitlines()[:done]
    resumed = _nasc("search", src, "--resume", str(out), *SEARCH_ARGS)
    assert resumed.returncode == 0, resumed.stderr
    ran = [int(e) for e in re.findall(r"^epoch +(\d+)/3 ", resumed.stderr, re.MULTILINE)]
    assert ran == list(range(done + 1, 4)), resumed.stderr
    after = (out / "search.jsonl").read_text().splitlines()
    assert after[:done] == before
    assert (out / "arch.nas").read_text() == (tmp_path / "a" / "arch.nas").read_text()
    uninterrupted = (tmp_path / "a" / "search.jsonl").read_text().splitlines()
    assert [_without_seconds(r) for r in after] == [_without_seconds(r) for r in uninterrupted]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 3 and summary["seed"] == 0


@pytest.mark.parametrize("algo, space", [("gdas", EXAMPLES / "digits_tiny.nas"),
                                         ("fairdarts", EXAMPLES / "digits_tiny.nas"),
                                         ("snas", EXAMPLES / "digits_tiny.nas"),
                                         ("pcdarts", FIX / "partial.nas")])
def test_algorithms_run(algo: str, space: Path, tmp_path: Path) -> None:
    """Each algorithm searches end to end with every regularizer and guard on (mechanics: tests below)."""
    from nasc.search.run import search

    smoke = api.load(EXAMPLES / "digits_tiny.nas").module.experiments["smoke"]
    cfg = experiment.resolve(smoke, [f"search.algo={algo}", "search.epochs=1", "search.batch=256", "search.l1=0.1",
                                     "search.beta_reg=0.1", "search.pcgrad=true", "search.aux_skip=0.5"])
    res = search(api.load(space), cfg, tmp_path, progress=None)
    rec = json.loads((tmp_path / "search.jsonl").read_text().splitlines()[0])
    assert set(rec) >= {"train_loss", "val_acc", "alpha", "tau", "expected", "skip_share", "grad_cosine"}
    assert rec["expected"]["latency_source"].startswith("predicted")
    assert res.summary["constraints"][0]["holds"]
    assert api.load(tmp_path / "arch.nas").elaborate().kind == "arch"


def _op_candidates(net: Supernet) -> dict[int, dict[int, nn.Module]]:
    """Per mixed node: option -> module, for each candidate that is an op of its own (not the skip)."""
    g = net.graph
    return {n.id: {n.select[pos]: net.nodes[str(i)] for pos, i in enumerate(n.inputs)
                   if str(i) in net.nodes and len(g.consumers(i)) == 1}
            for n in g if n.kind == "mixed"}


@contextlib.contextmanager
def _count_calls(modules: Iterable[nn.Module]) -> Iterator[Counter]:
    """Forward calls per module (keyed by id), counted by hooks on the real modules."""
    calls: Counter = Counter()
    handles = [m.register_forward_hook(lambda mod, args, out: calls.update([id(mod)])) for m in modules]
    try:
        yield calls
    finally:
        for h in handles:
            h.remove()


def _tiny_net() -> tuple[Supernet, torch.Tensor, torch.Tensor]:
    """The tiny space's supernet in float64 with distinct α, and one batch."""
    space = api.load(FIX / "tiny.nas").elaborate()
    net = Supernet(space, space.ops, generator=torch.Generator().manual_seed(0)).double()
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for a in net.arch.parameters():
            a.copy_(torch.randn(a.shape, generator=gen, dtype=a.dtype))
    return net, torch.randn(8, 1, 4, 4, generator=gen).double(), torch.randint(0, 3, (8,), generator=gen)


def _gumbel_softmax(alpha: torch.Tensor, u: torch.Tensor, tau: float) -> np.ndarray:
    """softmax((α - log(-log u)) / τ), in numpy: the relaxed Gumbel sample of the papers."""
    z = (alpha.detach().numpy() - np.log(-np.log(u.numpy()))) / tau
    e = np.exp(z - z.max())
    return e / e.sum()


def _uniforms_sampling(n: int, k: int) -> torch.Tensor:
    """Uniforms whose Gumbel noise (-log(-log u): 2.97 against -1.10) makes option k the sample."""
    u = torch.full((n,), 0.05, dtype=torch.float64)
    u[k] = 0.95
    return u


def test_gdas_runs_only_the_sampled_candidate_and_alpha_still_learns() -> None:
    """GDAS: a one-hot forward that evaluates one candidate per choice; ∂L/∂α flows straight through."""
    net, x, y = _tiny_net()
    cands = _op_candidates(net)
    mixed = {n.id: n.decision for n in net.graph if n.kind == "mixed"}
    ids = net.arch.ids()
    tau = 2.0
    for forced in itertools.product(*(range(net.arch.vector(d).numel()) for d in ids)):
        # each combination of samples once
        uniforms = {d: _uniforms_sampling(net.arch.vector(d).numel(), k) for d, k in zip(ids, forced)}
        gates = Gates(net.arch, GateConfig("gumbel", hard=True), tau, uniforms=uniforms)
        assert gates.hard_index == dict(zip(ids, forced))
        for d, k in zip(ids, forced):
            one_hot = F.one_hot(torch.tensor(k), net.arch.vector(d).numel()).double()
            assert torch.allclose(gates.mix[d].detach(), one_hot, atol=1e-12, rtol=0)
        net.zero_grad(set_to_none=True)
        with _count_calls(m for by_option in cands.values() for m in by_option.values()) as calls:
            F.cross_entropy(net(x, gates), y).backward()
        for n, by_option in cands.items():
            k = gates.hard_index[mixed[n]]
            ran = {option: calls[id(m)] for option, m in by_option.items() if calls[id(m)]}
            assert ran == ({k: 1} if k in by_option else {})  # the skip candidate is no module
            for option, m in by_option.items():
                if option != k:
                    assert all(p.grad is None for p in m.parameters())
        for d, k in zip(ids, forced):
            # straight through: ∂L/∂α = ∂L/∂mix_k · ∂soft_k/∂α = c · s_k (e_k - s), with s the soft sample
            s = torch.from_numpy(_gumbel_softmax(net.arch.vector(d), uniforms[d], tau))
            direction = s[k] * (F.one_hot(torch.tensor(k), s.numel()).double() - s)
            grad = net.arch.vector(d).grad
            assert grad is not None, "no gradient reached α"
            c = grad[k] / direction[k]
            assert abs(float(c)) > 1e-6
            assert torch.allclose(grad, c * direction, atol=1e-12, rtol=1e-9)


def test_snas_mixes_every_candidate_with_a_relaxed_gumbel_sample() -> None:
    """SNAS: mixing weights are softmax((α - log(-log u))/τ): not one-hot, vary with u and τ; all candidates run."""
    net, x, _ = _tiny_net()
    gen = torch.Generator().manual_seed(3)
    draws = [{d: 0.05 + 0.9 * torch.rand(net.arch.vector(d).shape, generator=gen, dtype=torch.float64)
              for d in net.arch.ids()} for _ in range(2)]
    mixes = {}
    for i, uniforms in enumerate(draws):
        for tau in (1.0, 4.0):
            gates = Gates(net.arch, GateConfig("gumbel", hard=False), tau, uniforms=uniforms)
            assert gates.hard_index == {}
            for d in net.arch.ids():
                mix = gates.mix[d].detach().numpy()
                np.testing.assert_allclose(mix, _gumbel_softmax(net.arch.vector(d), uniforms[d], tau), rtol=1e-12)
                assert (mix > 1e-3).all() and mix.max() < 0.99
                mixes[i, tau, d] = mix
    for d in net.arch.ids():
        assert np.abs(mixes[0, 1.0, d] - mixes[1, 1.0, d]).max() > 1e-3  # a new draw, new weights
        entropy = {tau: -(mixes[0, tau, d] * np.log(mixes[0, tau, d])).sum() for tau in (1.0, 4.0)}
        assert entropy[4.0] > entropy[1.0]  # a hotter sample is flatter
    cands = _op_candidates(net)
    modules = [m for by_option in cands.values() for m in by_option.values()]
    with _count_calls(modules) as calls:
        net(x, Gates(net.arch, GateConfig("gumbel", hard=False), 1.0, uniforms=draws[0]))
    assert [calls[id(m)] for m in modules] == [1] * len(modules)


def test_fairdarts_gates_are_independent_sigmoids() -> None:
    """FairDARTS: mix = σ(α) per candidate; they need not sum to 1 and do not compete."""
    net, _, _ = _tiny_net()
    d = next(n.decision for n in net.graph if n.kind == "mixed" and net.arch.vector(n.decision).numel() == 3)
    gates = Gates(net.arch, GateConfig("sigmoid"), 1.0)
    for i in net.arch.ids():
        a = net.arch.vector(i).detach().numpy()
        np.testing.assert_allclose(gates.mix[i].detach().numpy(), 1 / (1 + np.exp(-a)), rtol=1e-12)
    assert abs(float(gates.mix[d].detach().sum()) - 1) > 0.1
    before = {mode: Gates(net.arch, GateConfig(mode), 1.0).mix[d].detach().clone() for mode in ("sigmoid", "softmax")}
    with torch.no_grad():
        net.arch.vector(d)[0] += 2.0
    after = {mode: Gates(net.arch, GateConfig(mode), 1.0).mix[d].detach() for mode in ("sigmoid", "softmax")}
    assert after["sigmoid"][0] > before["sigmoid"][0]
    assert torch.equal(after["sigmoid"][1:], before["sigmoid"][1:])  # raising one gate lowers no other
    assert (after["softmax"][1:] < before["softmax"][1:]).all()  # unlike a softmax


def test_fairdarts_zero_one_loss_defaults_to_the_papers_weight() -> None:
    """algo=fairdarts brings w₀₁ = 10; the loss is -w₀₁·mean((σ(α) - 1/2)²), value and gradient."""
    net, _, _ = _tiny_net()
    cfg = experiment.resolve(None, ["search.algo=fairdarts"])
    assert cfg["search"]["zero_one"] == 10.0
    objective = Objective(net.space, net.space.ops, cfg)
    alphas = {d: net.arch.vector(d) for d in net.arch.ids()}
    loss = objective.regularizers(alphas, "sigmoid")
    grads = torch.autograd.grad(loss, list(alphas.values()))
    a = np.concatenate([v.detach().numpy() for v in alphas.values()])
    s = 1 / (1 + np.exp(-a))
    assert float(loss.detach()) == pytest.approx(-10.0 * np.mean((s - 0.5) ** 2), rel=1e-12)
    want = -10.0 * 2 * (s - 0.5) * s * (1 - s) / a.size
    np.testing.assert_allclose(np.concatenate([g.numpy() for g in grads]), want, rtol=1e-9)


@pytest.mark.parametrize("pcgrad, conflict", [(True, True), (False, True), (True, False)])
def test_pcgrad_projects_conflicting_task_and_cost_gradients(pcgrad: bool, conflict: bool) -> None:
    """The α gradient applied: with PCGrad and a negative cosine each gradient loses its component along
    the other, t' = t - (t·c/|c|²)c and c' = c - (c·t/|t|²)t, and the step takes t' + c'; otherwise t + c."""
    _, _, net, opt, (xt, yt, xv, yv) = _tiny(1, f"search.pcgrad={str(pcgrad).lower()}")
    t = _plain_val_grad(net, xv, yv)
    r = torch.randn(t.shape, generator=torch.Generator().manual_seed(4), dtype=t.dtype)
    c = (-t if conflict else t) + 0.5 * float(t.norm()) * r / r.norm()  # cos(t, c) < 0 iff conflict
    sizes = [a.numel() for a in net.arch.parameters()]

    def cost_fn(gates: Gates) -> torch.Tensor:
        return sum((part * a.reshape(-1)).sum() for part, a in zip(c.split(sizes), net.arch.parameters()))

    stats = opt.arch_step(xt, yt, xv, yv, 1.0, None, cost_fn)
    applied = _flat(a.grad for a in net.arch.parameters())
    cosine = float(t @ c / (t.norm() * c.norm()))
    assert stats.cosine == pytest.approx(cosine, rel=1e-9) and (cosine < 0) == conflict
    if pcgrad and conflict:
        want = (t - (t @ c) / (c @ c) * c) + (c - (c @ t) / (t @ t) * t)
        assert _rel(t + c, want) > 0.1  # the projection changes the step
    else:
        want = t + c
    assert torch.allclose(applied, want, rtol=1e-9, atol=1e-15)


def test_pcdarts_runs_candidates_on_a_kth_of_the_channels() -> None:
    """PC-DARTS (K = 4): candidates are built for C/K channels and see the first C/K; the mixed output is
    the channel shuffle of [mixed partial part, untouched rest]."""
    space = api.load(FIX / "partial.nas").elaborate()
    k = 4
    net = Supernet(space, space.ops, partial_channels=k, generator=torch.Generator().manual_seed(0)).double()
    g = net.graph
    mixed = [n for n in g if n.kind == "mixed"]
    assert set(net.partial) == {n.id for n in mixed} and not net.partial_refused
    cands = _op_candidates(net)
    for n in mixed:
        src, _ = net.partial[n.id]
        widths = {conv.in_channels for m in cands[n.id].values() for conv in m.modules()
                  if isinstance(conv, nn.Conv2d)}
        assert widths == {g.node(src).shape[1] // k} == {2}
    n = mixed[0]
    src, _ = net.partial[n.id]
    (consumer,) = [c for c, _ in g.consumers(n.id)]  # the relu that reads the whole mixed output
    seen: dict[str, torch.Tensor] = {}
    handles = [net.nodes[str(src)].register_forward_hook(lambda m, args, out: seen.update(src=out)),
               net.nodes[str(consumer)].register_forward_pre_hook(lambda m, args: seen.update(mixed=args[1]))]
    inputs: dict[int, torch.Tensor] = {}
    outputs: dict[int, torch.Tensor] = {}

    def record(option: int):
        def hook(mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
            inputs[option], outputs[option] = args[1], out
        return hook

    handles += [m.register_forward_hook(record(option)) for option, m in cands[n.id].items()]
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for a in net.arch.parameters():
            a.copy_(torch.randn(a.shape, generator=gen, dtype=a.dtype))
        gates = Gates(net.arch, GateConfig(), 1.0)
        net(torch.randn(4, 1, 8, 8, generator=gen).double(), gates)
    for h in handles:
        h.remove()
    x = seen["src"]
    part = x.shape[1] // k
    w = gates.mix[n.decision]
    partial_mix = torch.zeros_like(x[:, :part])
    for pos, i in enumerate(n.inputs):
        option = n.select[pos]
        if option in outputs:
            assert torch.equal(inputs[option], x[:, :part])
            partial_mix += w[option] * outputs[option]
        else:  # the skip candidate: the input's first C/K channels
            partial_mix += w[option] * x[:, :part]
    both = torch.cat([partial_mix, x[:, part:]], dim=1)
    shuffle = [group * part + i for i in range(part) for group in range(k)]  # channel i of group g -> i*K + g
    assert torch.allclose(seen["mixed"], both[:, shuffle], rtol=1e-12, atol=1e-12)


def test_pcdarts_without_partial_channels_is_a_user_error(tmp_path: Path) -> None:
    """pcdarts never silently runs DARTS: K = 1, or a space no choice of which can be split, exits 2."""
    tiny = _nasc("search", str(EXAMPLES / "digits_tiny.nas"), "--out", str(tmp_path / "a"),
                 "--set", "search.algo=pcdarts", "--set", "search.epochs=1")
    assert tiny.returncode == 2 and "Traceback" not in tiny.stderr
    assert "no choice of ops in space 'digits_tiny' can run on 1/4 of its channels" in tiny.stderr
    assert "its input's channel count is a decision ('h[0].a'" in tiny.stderr
    assert not (tmp_path / "a" / "search.jsonl").exists()
    one = _nasc("search", str(FIX / "partial.nas"), "--out", str(tmp_path / "b"),
                "--set", "search.algo=pcdarts", "--set", "search.partial_channels=1", "--set", "search.epochs=1")
    assert one.returncode == 2 and "Traceback" not in one.stderr
    assert 'algo "pcdarts" with partial_channels = 1 would be plain DARTS' in one.stderr


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


def test_keys_read_after_the_search_leave_its_checkpoint_valid() -> None:
    """A checkpoint's fingerprint ignores retraining and the accuracy tolerance (a resumed search
    with another tolerance is the same search) but not a search setting."""
    from nasc import api as nasc_api
    from nasc.experiment_choice import experiment_for
    from nasc.search.run import search_fingerprint

    compiled = nasc_api.load(Path(__file__).resolve().parent.parent / "examples" / "digits_tiny.nas")
    space = compiled.elaborate()
    cfg = experiment_for(compiled).config
    base = search_fingerprint(space, cfg)
    assert search_fingerprint(space, {**cfg, "accuracy_tolerance": 5.0}) == base
    assert search_fingerprint(space, {**cfg, "train": {**cfg["train"], "epochs": 99}}) == base
    assert search_fingerprint(space, {**cfg, "seed": int(cfg["seed"]) + 1}) != base
