"""The strategies by name: ``strategy("information-gain")`` is its ``run`` function.

Modules load on first use, so naming a strategy does not import another's dependencies.
"""

from __future__ import annotations

import importlib

from . import STRATEGIES
from .problem import Strategy

_MODULES = {"information-gain": "information_gain", "information-directed": "information_directed",
            "expected-improvement": "expected_improvement",
            "regularized-evolution": "evolution", "random-search": "random_search"}


def strategy(name: str) -> Strategy:
    """The ``run(problem, oracle, seed)`` of the strategy called ``name``."""
    if name not in _MODULES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    run: Strategy = importlib.import_module(f"{__package__}.{_MODULES[name]}").run
    return run
