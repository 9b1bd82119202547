"""Information gain about the best feasible accuracy: constrained max-value entropy search.

Max-value entropy search (Wang & Jegelka 2017) asks the candidate whose answer tells most
about ``y*``, the largest value of the objective.  Under a latency budget the quantity of
interest is the largest value *among feasible candidates*, and the answer of a query is a
pair (accuracy, latency).  Following Perrone et al. (2019, constrained MES), with
independent GPs for the two, knowing ``y*`` rules out one region of a candidate's answer:
more accurate than ``y*`` *and* within budget.  With ``gamma = (y* - mu) / sd``,
``a = 1 - Phi(gamma)`` (the chance of being above ``y*``), ``beta`` the budget's z-score
under the latency GP and ``b = Phi(beta)`` (the chance of being feasible), the mutual
information between the answer and ``y*`` is, per sample of ``y*``,

    IG = -log Z + (b gamma phi(gamma) - a beta phi(beta)) / (2 Z),   Z = 1 - a b,

which reduces to MES's ``gamma phi / (2 Phi) - log Phi(gamma)`` when ``b = 1``
(:func:`information_gain`; tests check both limits).  It is averaged over samples of ``y*``.

Samples of ``y*`` (:func:`max_value_samples`) are Thompson samples: joint draws of the
accuracy and latency GPs over the candidates that could hold the maximum (the ``SUBSET``
not yet asked with the highest ``mean + 3 sd`` among those with a fair chance of meeting the
budget), each sample's ``y*`` the best accuracy among its feasible draws, floored at the best
feasible value already found (exact: the table answers without noise).  Joint draws keep
the correlations between similar cells; the cheaper independence approximation (one
marginal per candidate, as in the Gumbel sampling of Wang & Jegelka) treats 15,625
correlated candidates as independent and put ``y*`` several points of accuracy above any
cell of the table, which makes every candidate look alike.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .model_based import Beliefs, search
from .problem import Oracle, Problem, Trace
from .thompson import candidate_rows, feasible_draws

NAME = "information-gain"
SAMPLES = 64
"""Samples of ``y*`` the information gain is averaged over."""
SUBSET = 500
"""Candidates the samples of ``y*`` are drawn over (a 500 x 500 Cholesky per GP and query)."""
_LOG_2PI = np.log(2 * np.pi)


def max_value_samples(b: Beliefs, samples: int = SAMPLES, subset: int = SUBSET) -> np.ndarray:
    """``samples`` Thompson samples of the best feasible value ``y*`` (module docstring)."""
    best = feasible_draws(b, candidate_rows(b, subset), samples).max(axis=1)
    floor = b.incumbent if b.incumbent is not None else -np.inf
    y_star = np.maximum(best, floor)
    # a sample with nothing feasible and no incumbent: the least informative floor there is
    return np.where(np.isfinite(y_star), y_star, float(np.min(b.mean)))


def information_gain(gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Constrained MES's mutual information for standardized ``gamma = (y* - mu) / sd`` and
    budget z-score ``beta`` (broadcast together; the module docstring has the formula)."""
    a = ndtr(-gamma)
    b = ndtr(beta)
    log_z = np.log1p(-np.minimum(a * b, 1 - 1e-16))
    z = np.exp(log_z)
    phi = lambda u: np.exp(-0.5 * u * u - 0.5 * _LOG_2PI)  # noqa: E731
    return -log_z + (b * gamma * phi(gamma) - a * beta * phi(beta)) / (2 * z)


def acquisition(b: Beliefs) -> np.ndarray:
    """Information gain about the best feasible value, averaged over samples of it."""
    y_star = max_value_samples(b)
    gamma = (y_star[:, None] - b.mean[None, :]) / b.sd[None, :]
    return np.asarray(information_gain(gamma, b.lat_z[None, :]).mean(axis=0))


def run(problem: Problem, oracle: Oracle, seed: int) -> Trace:
    """Constrained max-value entropy search on the shared surrogate (:func:`.model_based.search`)."""
    return search(NAME, acquisition, problem, oracle, seed)
