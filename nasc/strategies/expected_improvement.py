"""Constrained expected improvement (Gardner et al. 2014): EI about the best feasible value
times the probability of meeting the latency budget.

EI is computed in log space (``log EI + log P(feasible)``): far from the incumbent plain EI
underflows to zero for thousands of candidates at once, and an argmax over zeros would be a
tie broken by row order instead of by the model.  Before any feasible candidate has been
queried there is nothing to improve on, and the score is the probability of feasibility.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfcx, log_ndtr

from .model_based import Beliefs, search
from .problem import Oracle, Problem, Trace

NAME = "expected-improvement"
_SQRT_HALF_PI = np.sqrt(np.pi / 2)


def log_h(u: np.ndarray) -> np.ndarray:
    """``log(phi(u) + u Phi(u))``, the log of EI at unit scale, accurate for very negative ``u``
    (there ``u Phi(u) / phi(u)`` is ``u`` times the Mills ratio, ``erfcx`` keeps it exact)."""
    u = np.asarray(u, dtype=float)
    log_phi = -0.5 * u * u - 0.5 * np.log(2 * np.pi)
    neg = u < 0
    out = np.empty_like(u)
    out[neg] = log_phi[neg] + np.log1p(u[neg] * _SQRT_HALF_PI * erfcx(-u[neg] / np.sqrt(2)))
    pos = ~neg
    out[pos] = np.log(np.exp(log_phi[pos]) + u[pos] * np.exp(log_ndtr(u[pos])))
    return out


def acquisition(b: Beliefs) -> np.ndarray:
    """log of constrained EI at every candidate."""
    log_feasible = log_ndtr(b.lat_z)
    if b.incumbent is None:
        return np.asarray(log_feasible)
    u = (b.mean - b.incumbent) / b.sd
    return np.log(b.sd) + log_h(u) + log_feasible


def run(problem: Problem, oracle: Oracle, seed: int) -> Trace:
    """Constrained EI on the shared surrogate (:func:`.model_based.search`)."""
    return search(NAME, acquisition, problem, oracle, seed)
