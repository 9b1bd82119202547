"""Information-directed sampling: the least squared regret per unit of information about the best architecture.

Max-value entropy search (:mod:`.information_gain`) asks what tells most about the best
feasible *value*; the benchmark, like a user, wants the best feasible *architecture* asked
about, soon.  Information-directed sampling (Russo & Van Roy, 2018) weighs the two goals a
query serves: what it costs now (its expected regret ``Delta(x) = E[r* - r(x)]``, how far
its answer falls short of the best one's) against what it teaches about which architecture
is best (the information gain ``g(x)`` about the argmax ``x*``).  It asks the candidate with
the smallest information ratio ``Delta(x)^2 / g(x)``: a likely-best candidate is asked
because its regret is small, an uncertain one because its answer would say where ``x*`` is,
and one that is neither is never asked.

Everything is computed from ``SAMPLES`` joint Thompson samples over the candidates that
could hold the best (:func:`.thompson.feasible_draws`, with the best feasible answer so far
as one more, known, action):

* the reward of a candidate in a sample is its drawn accuracy when its drawn latency meets
  the budget, else the lowest value of the sample (an infeasible answer finds nothing);
* ``x*`` of a sample is its best action, ``r*`` that action's reward;
* ``g(x)`` is the variance-based information of Russo & Van Roy (their section 6):
  ``sum_a P(x* = a) (E[r(x) | x* = a] - E[r(x)])^2``, how much the answer at ``x`` is
  expected to move with where the best is, a lower bound (up to a factor) on the mutual
  information between that answer and ``x*`` for Gaussian answers.

The ratio is minimized over single candidates (deterministic IDS); candidates outside the
sampled subset are not asked.
"""

from __future__ import annotations

import numpy as np

from .model_based import Beliefs, search
from .problem import Oracle, Problem, Trace
from .thompson import candidate_rows, feasible_draws

NAME = "information-directed"
SAMPLES = 512
"""Thompson samples the regret and the information are estimated from."""
SUBSET = 500
"""Candidates the samples are drawn over."""
_TINY = 1e-300


def regret_and_information(rewards: np.ndarray, known: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate (columns of ``rewards``, one row per sample): the expected regret and the
    variance-based information about which action is best, ``known`` being the reward of an
    action already answered (the incumbent), which can be best but is never asked again."""
    n, k = rewards.shape
    actions = rewards if known is None else np.column_stack([rewards, np.full(n, known)])
    best = actions.argmax(axis=1)
    r_star = actions[np.arange(n), best]
    regret = (r_star[:, None] - rewards).mean(axis=0)
    _, group = np.unique(best, return_inverse=True)
    onehot = np.zeros((n, int(group.max()) + 1))
    onehot[np.arange(n), group] = 1.0
    count = onehot.sum(axis=0)
    conditional = (onehot.T @ rewards) / count[:, None]
    information = (count[:, None] / n * (conditional - rewards.mean(axis=0)) ** 2).sum(axis=0)
    return regret, information


def acquisition(b: Beliefs) -> np.ndarray:
    """Minus the information ratio at the sampled candidates, ``-inf`` elsewhere."""
    rows = candidate_rows(b, SUBSET)
    f = feasible_draws(b, rows, SAMPLES)
    floor = np.where(np.isfinite(f), f, np.inf).min(axis=1, initial=np.inf)
    if b.incumbent is not None:
        floor = np.minimum(floor, b.incumbent)
    floor = np.where(np.isfinite(floor), floor, float(np.min(b.mean)))  # nothing feasible drawn
    rewards = np.where(np.isfinite(f), f, floor[:, None])
    regret, information = regret_and_information(rewards, b.incumbent)
    scores = np.full(len(b.mean), -np.inf)
    scores[rows] = -(np.maximum(regret, 0.0) ** 2) / np.maximum(information, _TINY)
    return scores


def run(problem: Problem, oracle: Oracle, seed: int) -> Trace:
    """Information-directed sampling on the shared surrogate (:func:`.model_based.search`)."""
    return search(NAME, acquisition, problem, oracle, seed)
