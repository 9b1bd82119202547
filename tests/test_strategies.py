"""Search strategies on the NAS-Bench-201 table: the oracle, the encodings, the surrogate and
the four strategies' contracts (deterministic per seed, valid queries, cap, budget)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nasc.data import nb201
from nasc.latency.recorded import is_cut_off, recorded_latency
from nasc.strategies import STRATEGIES, encoding, evolution
from nasc.strategies.expected_improvement import log_h
from nasc.strategies.information_directed import regret_and_information
from nasc.strategies.information_gain import information_gain
from nasc.strategies.problem import QueryCapError, Trace
from nasc.strategies.registry import strategy
from nasc.strategies.model_based import beliefs
from nasc.strategies.surrogate import POWER_RANGE, Posterior, Surrogate, error_transform, fit_kernel, fit_power
from nasc.strategies.tabular import NB201Tabular

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
BUDGET = 30.0  # ms on the Pi: about a third of the cells exceed it
CAP = 24  # two surrogate fits (10 and 20 observations): seconds per run


@pytest.fixture(scope="module")
def bench() -> NB201Tabular:
    return NB201Tabular.load()


@pytest.fixture(scope="module")
def traces(bench: NB201Tabular) -> dict[tuple[str, int], Trace]:
    """Each strategy run twice with seed 0 and once with seed 1 (cap CAP, no early stop)."""
    warnings.filterwarnings("ignore", module="botorch|gpytorch|linear_operator")
    out = {}
    for name in STRATEGIES:
        for key, seed in (("a", 0), ("b", 0), ("c", 1)):
            out[(name, key)] = strategy(name)(bench.problem(BUDGET, CAP), bench.oracle(CAP), seed)
    return out


def test_oracle_reads_the_shipped_tables(bench: NB201Tabular) -> None:
    row = bench.arch_strs.index(BEST)
    assert row == 6111 and bench.observation(row).accuracy == pytest.approx(94.37333)
    assert bench.observation(row).latency_ms == recorded_latency("recorded-raspi4", BEST) == pytest.approx(68.4041)
    assert bench.best_feasible(1e9).index == 6111
    # the cut-off cells are candidates like any other: chance accuracy, mostly folded to ~0 ms on the Pi
    cut = np.array([is_cut_off(a) for a in bench.arch_strs])
    assert cut.sum() == 341 and (bench.accuracy[cut] == 10.0).all() and np.median(bench.latency_ms[cut]) < 1.0
    assert bench.best_feasible(BUDGET).latency_ms <= BUDGET < 68.4041


def test_oracle_counts_remembers_and_stops(bench: NB201Tabular) -> None:
    oracle = bench.oracle(2)
    first = oracle.evaluate(5)
    assert oracle.evaluate(5) == first and oracle.queries == 1  # asking again is free
    oracle.evaluate(6)
    assert oracle.done
    with pytest.raises(QueryCapError):
        oracle.evaluate(7)
    assert oracle.evaluate(6).index == 6  # known answers stay available
    stopped = bench.oracle(10, stop=lambda o: o.index == 3)
    stopped.evaluate(3)
    assert stopped.done and stopped.queries == 1


@pytest.mark.parametrize("name", STRATEGIES)
def test_deterministic_per_seed(traces: dict[tuple[str, int], Trace], name: str) -> None:
    assert traces[(name, "a")] == traces[(name, "b")]
    assert [o.index for o in traces[(name, "a")].observations] != [o.index for o in traces[(name, "c")].observations]


@pytest.mark.parametrize("name", STRATEGIES)
def test_valid_queries_within_the_cap(bench: NB201Tabular, traces: dict[tuple[str, int], Trace], name: str) -> None:
    trace = traces[(name, "a")]
    rows = [o.index for o in trace.observations]
    assert len(rows) == CAP and len(set(rows)) == CAP  # ran to the cap, never paid twice for one cell
    for o in trace.observations:
        assert nb201.arch_str(nb201.edge_ops(o.arch_str)) == o.arch_str == bench.arch_strs[o.index]
        assert (o.accuracy, o.latency_ms) == (bench.accuracy[o.index], bench.latency_ms[o.index])


@pytest.mark.parametrize("name", STRATEGIES)
def test_reported_best_respects_the_budget(traces: dict[tuple[str, int], Trace], name: str) -> None:
    trace = traces[(name, "a")]
    best = trace.best()
    feasible = [o for o in trace.observations if o.latency_ms <= BUDGET]
    assert best is not None and best.latency_ms <= BUDGET
    assert best.accuracy == max(o.accuracy for o in feasible)
    assert any(o.latency_ms > BUDGET and o.accuracy > best.accuracy for o in trace.observations) or name != "random-search"


def test_trace_counts_queries_to_a_feasible_target() -> None:
    from nasc.strategies.problem import Observation
    obs = (Observation(0, "a", 95.0, 50.0), Observation(1, "b", 90.0, 10.0), Observation(2, "c", 93.0, 20.0))
    trace = Trace("t", 0, 30.0, obs)
    assert trace.best() == obs[2] and trace.queries_to(92.0) == 3 and trace.queries_to(94.0) is None


def test_mutation_changes_exactly_one_edge() -> None:
    rng = np.random.default_rng(0)
    parent = np.array([3, 3, 3, 1, 3, 2])
    for _ in range(500):
        child = evolution.mutate(parent, rng)
        assert np.count_nonzero(child != parent) == 1 and child.min() >= 0 and child.max() < len(nb201.OPS)
    assert np.array_equal(parent, [3, 3, 3, 1, 3, 2])  # the parent is not touched


def test_evolution_never_asks_after_the_cap(bench: NB201Tabular) -> None:
    oracle = bench.oracle(evolution.POPULATION + 7)
    trace = evolution.run(bench.problem(BUDGET, oracle.max_queries), oracle, 3)
    assert len(trace.observations) == evolution.POPULATION + 7


def test_encodings(bench: NB201Tabular) -> None:
    X = encoding.onehot(bench.ops)
    assert X.shape == (15625, 30) and (X.sum(axis=1) == 6).all()
    P = encoding.paths(bench.ops)
    cut = np.array([is_cut_off(a) for a in bench.arch_strs])
    assert P.shape == (15625, 100) and (P[cut].sum(axis=1) == 0).all() and (P[~cut].sum(axis=1) >= 1).all()
    assert encoding.paths(bench.ops[[6111]]).sum() == 4  # the best cell: all four paths intact
    with pytest.raises(ValueError):
        encoding.encode(bench.ops[:1], "adjacency")


def test_incremental_posterior_is_botorchs(bench: NB201Tabular) -> None:
    import torch
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize

    X = encoding.onehot(bench.ops[:400])
    rows = list(range(0, 400, 16))
    y = error_transform(bench.accuracy[rows])
    kernel = fit_kernel(X[rows], y, seed=0)
    post = Posterior.conditioned(X, kernel, rows[:10], y[:10])
    for r, v in zip(rows[10:], y[10:]):
        post.add(r, float(v))
    mean, sd = post.predict()
    model = SingleTaskGP(torch.tensor(X[rows]), torch.tensor(y)[:, None], outcome_transform=Standardize(m=1))
    model.load_state_dict(dict(kernel.hyperparameters), strict=False)
    model.eval()
    with torch.no_grad():
        ref = model.posterior(torch.tensor(X))
        ref_mean, ref_sd = ref.mean.squeeze(-1).numpy(), ref.variance.sqrt().squeeze(-1).numpy()
    # BoTorch's posterior variance adds no noise; ours is the latent function's, the same thing
    np.testing.assert_allclose(mean, ref_mean, atol=1e-6)
    np.testing.assert_allclose(sd, ref_sd, rtol=1e-4, atol=1e-6)
    cov = post.covariance(np.array([0, 1, 2]))
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), sd[:3], rtol=1e-6)


def test_error_transform_is_box_cox_of_the_error_rate() -> None:
    acc = np.array([10.0, 60.0, 90.0, 93.9, 94.0, 94.37])
    np.testing.assert_allclose(error_transform(acc), -np.log(100 - acc))
    for power in (-1.4, -3.0, 0.5):
        y = error_transform(acc, power)
        assert (np.diff(y) > 0).all()  # the order of accuracies, so the best cell stays the best
        np.testing.assert_allclose(y, -((100 - acc) ** power - 1) / power)
    np.testing.assert_allclose(error_transform(acc, 1e-9), error_transform(acc), atol=1e-6)  # continuous at 0
    # the power the table's error rates ask for folds the tail: 10% and 60% closer than 93.9% and 94.37%
    # are under the log, relative to the spread of the whole table
    y0, y1 = error_transform(acc), error_transform(acc, -1.4)
    assert (y1[5] - y1[3]) / (y1[5] - y1[0]) > 3 * (y0[5] - y0[3]) / (y0[5] - y0[0])


def test_power_is_fitted_to_what_was_observed(bench: NB201Tabular) -> None:
    rng = np.random.default_rng(7)
    assert -2.0 < fit_power(bench.accuracy) < -1.0  # the whole table: about -1.4
    assert fit_power(bench.accuracy[rng.permutation(15625)[:20]]) < -0.5
    assert fit_power([10.0] * 6 + [94.0]) == POWER_RANGE[1]  # the likelihood alone would pick about 2.6
    assert fit_power([93.0, 93.0, 93.0]) == 0.0  # nothing to fit: the log
    rows = [int(r) for r in rng.permutation(15625)[:25]]  # refits at 10 and 20, then five added one by one
    warped, plain = Surrogate(bench.ops, 0, first_fit=10), Surrogate(bench.ops, 0, first_fit=10, warp=False)
    for surrogate in (warped, plain):
        for r in rows:
            surrogate.observe(r, bench.accuracy[r], bench.latency_ms[r])
    assert plain.power == 0.0 and warped.power == pytest.approx(fit_power(bench.accuracy[rows[:20]]))
    assert warped.accuracy is not None
    np.testing.assert_allclose(warped.accuracy.y, error_transform(bench.accuracy[warped.accuracy.rows], warped.power))
    # the incumbent the acquisitions see is the best feasible accuracy in the current units
    b = beliefs(warped, bench.problem(BUDGET, CAP), 93.5, np.random.default_rng(0))
    assert b.incumbent == pytest.approx(float(error_transform(93.5, warped.power)))


def test_information_gain_limits() -> None:
    from scipy.stats import norm

    gamma = np.linspace(-3, 3, 13)
    mes = gamma * norm.pdf(gamma) / (2 * norm.cdf(gamma)) - norm.logcdf(gamma)
    np.testing.assert_allclose(information_gain(gamma, np.full_like(gamma, 40.0)), mes, atol=1e-12)  # surely feasible
    assert np.abs(information_gain(gamma, np.full_like(gamma, -40.0))).max() < 1e-12  # surely infeasible: no news
    assert (information_gain(gamma, np.zeros_like(gamma)) > 0).all()


@pytest.mark.parametrize("gamma, beta", [(0.3, -0.5), (-1.0, 1.2), (1.5, 0.0)])
def test_information_gain_is_the_entropy_drop(gamma: float, beta: float) -> None:
    """H[answer] - H[answer | y*] on a grid: the answer (f, c) ~ N(0, I), and knowing y*
    rules out {f > gamma, c < beta} (more accurate than y* and feasible)."""
    from scipy.stats import norm

    u = np.linspace(-9, 9, 1801)
    f, c = np.meshgrid(u, u, indexing="ij")
    p = norm.pdf(f) * norm.pdf(c) * ~((f > gamma) & (c < beta))
    p /= p.sum()
    cell = (u[1] - u[0]) ** 2
    h_given = -np.sum(p[p > 0] * np.log(p[p > 0] / cell))
    h_prior = np.log(2 * np.pi * np.e)
    assert information_gain(np.array(gamma), np.array(beta)) == pytest.approx(h_prior - h_given, abs=2e-3)


def test_information_directed_regret_and_information() -> None:
    """Regret against each sample's best action and the variance of the conditional means
    given which action is best, by hand on three samples of two candidates."""
    rewards = np.array([[3.0, 1.0], [0.0, 2.0], [1.0, 0.0]])  # best: 0, 1, 0
    regret, information = regret_and_information(rewards, None)
    np.testing.assert_allclose(regret, [(0 + 2 + 0) / 3, (2 + 0 + 1) / 3])
    # x* = 0 with p 2/3 (means 2.0, 0.5), x* = 1 with p 1/3 (means 0.0, 2.0); overall means 4/3, 1
    np.testing.assert_allclose(information, [2 / 3 * (2 - 4 / 3) ** 2 + 1 / 3 * (0 - 4 / 3) ** 2,
                                             2 / 3 * (0.5 - 1) ** 2 + 1 / 3 * (2 - 1) ** 2])
    # an answered action better than every draw is the best in every sample: nothing left to learn
    regret, information = regret_and_information(rewards, 5.0)
    np.testing.assert_allclose(regret, 5.0 - rewards.mean(axis=0))
    np.testing.assert_allclose(information, 0.0, atol=1e-15)


def test_log_ei() -> None:
    from scipy.stats import norm

    u = np.array([-8.0, -2.0, 0.0, 1.5, 6.0])
    np.testing.assert_allclose(log_h(u), np.log(norm.pdf(u) + u * norm.cdf(u)), rtol=1e-9)
    far = log_h(np.array([-40.0, -39.0]))
    assert np.isfinite(far).all() and far[0] < far[1]  # still ordered where plain EI is 0


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="information-gain"):
        strategy("bayes")
