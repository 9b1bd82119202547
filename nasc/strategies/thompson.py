"""Joint posterior draws of both GPs over the candidates that could hold the best feasible accuracy.

The sample-based acquisitions (:mod:`.information_gain`, :mod:`.information_directed`)
reason about the best feasible architecture through Thompson samples: joint draws of the
accuracy GP and the latency GP over a subset of candidates.  Joint, not one marginal per
candidate: similar cells are correlated, and treating 15,625 of them as independent puts the
sampled maximum several points of accuracy above every cell of the table.  The subset is the
``subset`` unasked candidates with the highest ``mean + 3 sd`` among those with a fair
chance of meeting the budget (a ``subset`` x ``subset`` Cholesky per GP and query keeps it
cheap): a candidate outside it is neither likely to be the best nor to be asked.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .model_based import Beliefs

MIN_FEASIBLE = 0.01
"""Candidates less likely than this to meet the budget cannot hold the feasible maximum in
practice and are left out of the subset."""
_JITTER = 1e-9


def candidate_rows(b: Beliefs, subset: int) -> np.ndarray:
    """The rows the draws are taken over (module docstring), best ``mean + 3 sd`` first."""
    open_rows = np.ones(len(b.mean), dtype=bool)
    open_rows[b.asked] = False
    likely = open_rows & (ndtr(b.lat_z) >= MIN_FEASIBLE)
    pool = np.flatnonzero(likely if likely.any() else open_rows)
    return pool[np.argsort(-(b.mean[pool] + 3 * b.sd[pool]), kind="stable")[:subset]]


def draws(mean: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, k) joint draws of a Gaussian (jitter scaled to the diagonal keeps the factor real)."""
    jitter = _JITTER * max(float(np.mean(np.diag(cov))), 1e-12)
    L = np.linalg.cholesky(cov + jitter * np.eye(len(mean)))
    return mean[None, :] + rng.standard_normal((n, len(mean))) @ L.T


def feasible_draws(b: Beliefs, rows: np.ndarray, n: int) -> np.ndarray:
    """(n, len(rows)) joint draws of the accuracy at ``rows``, ``-inf`` where the latency
    drawn with it exceeds the budget."""
    acc_cov, lat_cov = b.joint(rows)
    f = draws(b.mean[rows], acc_cov, n, b.rng)
    c = draws(b.lat_mean[rows], lat_cov, n, b.rng)
    return np.where(c <= b.log_budget, f, -np.inf)
