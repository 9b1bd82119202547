"""NAS-Bench-201 as a tabular problem: accuracy from the shipped table, latency from a recorded device.

"Evaluate this architecture" is, on a real search, training it and timing it on the device.
Here both are lookups in tables nasc ships (``nasc/data/nb201/README.md``): the 200-epoch
test accuracy (mean over seeds) and the device's measured latency
(:mod:`nasc.latency.recorded`).  Every architecture of the benchmark is a candidate,
including the 341 whose output is cut off from the input: they are legal (the space allows
them) and score 10.0 on CIFAR-10; on the Raspberry Pi most read well under 1 ms (the
runtime folds them; a few read up to 34 ms), so they are feasible under most budgets and
never the best.  No strategy is told which they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..data import nb201
from ..latency.recorded import RecordedTable, device, op_indices
from .problem import CountingOracle, Observation, Problem

DEFAULT_DEVICE = "recorded-raspi4"
DATASETS = ("cifar10", "cifar100", "imagenet16")


@dataclass(frozen=True, eq=False)
class NB201Tabular:
    """Every NAS-Bench-201 architecture with its accuracy on one data set and its latency on
    one recorded device, in the benchmark's order (``arch_index``)."""

    device: str
    dataset: str
    arch_strs: tuple[str, ...]
    ops: np.ndarray
    accuracy: np.ndarray
    latency_ms: np.ndarray

    @classmethod
    def load(cls, device_name: str = DEFAULT_DEVICE, dataset: str = "cifar10",
             table: RecordedTable | None = None) -> "NB201Tabular":
        """Read the shipped tables (accuracy rows are matched to latency rows by ``arch_str``)."""
        if dataset not in DATASETS:
            raise ValueError(f"unknown data set {dataset!r}; known: {', '.join(DATASETS)}")
        table = table or RecordedTable.load()
        acc = {r["arch_str"]: float(r[f"{dataset}_test_acc"]) for r in nb201.accuracy_rows()}
        archs = table.arch_strs
        accuracy = np.array([acc[a] for a in archs])
        latency = np.array(table.latency_ms[device(device_name).column], dtype=float)
        ops = op_indices(archs)
        for a in (ops, accuracy, latency):
            a.setflags(write=False)
        return cls(device_name, dataset, archs, ops, accuracy, latency)

    def problem(self, budget_ms: float, max_queries: int) -> Problem:
        """The search problem: every architecture a candidate, under ``budget_ms``."""
        return Problem(self.arch_strs, self.ops, budget_ms, max_queries)

    def observation(self, index: int) -> Observation:
        """The table's answer for one row (what a query returns)."""
        return Observation(int(index), self.arch_strs[index], float(self.accuracy[index]), float(self.latency_ms[index]))

    def oracle(self, max_queries: int, stop: Callable[[Observation], bool] | None = None) -> CountingOracle:
        """A fresh counting oracle over this table (one per run: oracles hold no shared state)."""
        return CountingOracle(self.observation, max_queries, stop)

    def best_feasible(self, budget_ms: float) -> Observation:
        """The most accurate architecture within the budget (what the benchmark measures
        strategies against; strategies never see it)."""
        feasible = np.flatnonzero(self.latency_ms <= budget_ms)
        if not len(feasible):
            raise ValueError(f"no architecture has a {self.device} latency within {budget_ms} ms")
        return self.observation(int(feasible[np.argmax(self.accuracy[feasible])]))
