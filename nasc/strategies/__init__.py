"""Black-box search strategies over a tabular benchmark: ask an oracle, get a query trace.

Why a package of its own: these strategies treat an architecture as a point of a finite
candidate set and its accuracy and latency as answers to a counted, expensive question
(train it, measure it).  That is the setting in which search strategies are compared on
NAS-Bench-201 (``benchmarks/nb201_strategies.py``), and it is independent of how
``nasc compile`` searches a space.

* :mod:`.problem` -- the :class:`~.problem.Problem` (candidates, latency budget, query
  cap), the :class:`~.problem.Oracle` protocol, observations and traces.
* :mod:`.tabular` -- the NAS-Bench-201 tabular oracle (accuracy from the shipped table,
  latency from a recorded device).
* :mod:`.encoding` -- how an architecture becomes a vector for a surrogate.
* one module per strategy: :mod:`.random_search`, :mod:`.evolution`,
  :mod:`.expected_improvement`, :mod:`.information_gain`, :mod:`.information_directed`
  (the last three share the Gaussian-process surrogate of :mod:`.surrogate`, which imports
  BoTorch: nothing here imports it until a surrogate strategy runs; the two information-based
  ones draw their Thompson samples with :mod:`.thompson`).

docs/strategies.md describes the mode, the strategies and the benchmark's result.
"""

from __future__ import annotations

STRATEGIES = ("information-gain", "information-directed", "expected-improvement", "regularized-evolution",
              "random-search")
"""Names of the strategies, in the order the benchmark reports them (:func:`.registry.strategy`)."""

__all__ = ["STRATEGIES"]
