"""A network's example inputs: seeded, for latency and numerics checks.

Here, below every stage that builds or measures a network (deploy, micro-models, kernel plans,
the profile), so none of them imports another stage for it."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class Inputs(Protocol):
    """What example inputs are drawn for: a network's input names and shapes (an ArchNet, an OptNet)."""

    @property
    def input_names(self) -> Sequence[str]: ...

    @property
    def input_shapes(self) -> Sequence[Sequence[int]]: ...


def example_inputs(net: Inputs, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded standard-normal inputs of ``batch`` (latency and numerics checks: values do not matter)."""
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal((batch, *s[1:])).astype(np.float32)
            for n, s in zip(net.input_names, net.input_shapes)}
