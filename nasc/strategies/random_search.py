"""Random search: candidates in a seeded random order, each asked once.

The baseline every other strategy has to beat.  It ignores the budget when choosing (it
cannot know a latency before asking) and reports the best feasible answer it got.
"""

from __future__ import annotations

import numpy as np

from .problem import Oracle, Problem, Trace, trace_of

NAME = "random-search"


def run(problem: Problem, oracle: Oracle, seed: int) -> Trace:
    """Ask candidates in the order of a permutation drawn with ``seed`` until the oracle is done."""
    for row in np.random.default_rng(seed).permutation(problem.size):
        if oracle.done:
            break
        oracle.evaluate(int(row))
    return trace_of(NAME, problem, oracle, seed)
