"""The loop the surrogate strategies share: an initial random design, then argmax of an acquisition.

Expected improvement and information gain differ only in how they score candidates from
what the surrogate believes (:class:`Beliefs`); everything else -- the initial design, the
refit schedule, the feasibility model, excluding what was already asked, breaking ties --
is this one loop, so a difference in their query counts is a difference of acquisitions.

How latency is treated: a candidate's latency is known only once it has been queried (the
oracle answers accuracy and latency together).  Before that, the latency GP gives a
probability of meeting the budget, ``P(log latency <= log B)``, and each acquisition uses it
explicitly.  What a strategy reports as its best is always a queried candidate whose
*recorded* latency is within the budget (:meth:`.problem.Trace.best`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from .encoding import DEFAULT
from .problem import Oracle, Problem, Trace, trace_of
from .surrogate import Surrogate

INITIAL = 10
"""Random queries before the first fit (a third of the one-hot encoding's dimensions)."""


@dataclass(frozen=True, eq=False)
class Beliefs:
    """What the surrogate says about every candidate, in its modelled units.

    ``mean``/``sd``: the accuracy GP (log error rate, higher is better); ``lat_mean``/
    ``lat_sd``: the latency GP (log ms); ``lat_z``: the budget's z-score under it, so
    ``feasible = Phi(lat_z)`` is the probability of meeting the budget; ``incumbent``: the
    best modelled accuracy of a queried candidate within the budget (None before one is
    found); ``asked``: the rows already queried; ``joint``: posterior covariances (accuracy,
    latency) among given rows, for acquisitions that sample functions; ``rng``: the
    strategy's seeded generator.
    """

    mean: np.ndarray
    sd: np.ndarray
    lat_mean: np.ndarray
    lat_z: np.ndarray
    log_budget: float
    incumbent: float | None
    asked: np.ndarray
    joint: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    rng: np.random.Generator

    @property
    def feasible(self) -> np.ndarray:
        return np.asarray(norm.cdf(self.lat_z))


Acquisition = Callable[[Beliefs], np.ndarray]
"""Scores of every candidate (higher is asked first); rows already asked are masked after."""


def beliefs(surrogate: Surrogate, problem: Problem, best_accuracy: float | None,
            rng: np.random.Generator) -> Beliefs:
    """What the surrogate believes now, with the problem's budget and the best feasible
    accuracy found (``best_accuracy``, %) in its units."""
    incumbent = None if best_accuracy is None else surrogate.value(best_accuracy)
    mean, sd, lat_mean, lat_sd = surrogate.predict()
    log_budget = math.log(problem.budget_ms)
    asked = np.fromiter(surrogate.observed, dtype=int)
    return Beliefs(mean, sd, lat_mean, (log_budget - lat_mean) / lat_sd, log_budget, incumbent, asked,
                   surrogate.joint, rng)


def search(name: str, acquisition: Acquisition, problem: Problem, oracle: Oracle, seed: int, *,
           encoding: str = DEFAULT, initial: int = INITIAL) -> Trace:
    """Run a surrogate strategy: ``initial`` random queries, then the acquisition's argmax
    among the candidates not yet asked (ties to the lowest row), until the oracle is done.

    BLAS runs on one thread: each step is a few hundred thousand-element products, which
    threads slow down many times over as soon as the machine's other cores are busy."""
    with threadpool_limits(limits=1):
        return _search(name, acquisition, problem, oracle, seed, encoding, initial)


def _search(name: str, acquisition: Acquisition, problem: Problem, oracle: Oracle, seed: int, encoding: str,
            initial: int) -> Trace:
    rng = np.random.default_rng(seed)
    surrogate = Surrogate(problem.ops, seed, encoding, first_fit=initial)
    best_accuracy: float | None = None

    def ask(row: int) -> None:
        nonlocal best_accuracy
        obs = oracle.evaluate(row)
        surrogate.observe(row, obs.accuracy, obs.latency_ms)
        if problem.feasible(obs):
            best_accuracy = obs.accuracy if best_accuracy is None else max(best_accuracy, obs.accuracy)

    for row in rng.permutation(problem.size)[:initial]:
        if oracle.done:
            break
        ask(int(row))
    while not oracle.done and len(surrogate.observed) < problem.size:
        b = beliefs(surrogate, problem, best_accuracy, rng)
        scores = np.asarray(acquisition(b), dtype=float).copy()
        scores[b.asked] = -np.inf
        ask(int(np.argmax(scores)))
    return trace_of(name, problem, oracle, seed)
