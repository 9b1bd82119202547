"""What every strategy works on: a problem, an oracle that answers counted queries, a trace.

Why split this way: a strategy may look at the candidate set and the budget as much as it
likes (they cost nothing: the set is the search space, the budget is the user's), but it
learns an architecture's accuracy and latency only by asking the :class:`Oracle`, which
counts each question.  A strategy that never sees the table cannot peek at it, and one
accounting serves all strategies, so their query counts compare.

Latency is part of the answer, not of the problem: a real device has to run a candidate
to time it, and the oracle answers both at once (docs/strategies.md says why this, and not
a latency predicted for free before querying, is the setting the benchmark judges).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np


class QueryCapError(RuntimeError):
    """A strategy asked a new question after its oracle was done (cap or stop rule)."""


@dataclass(frozen=True)
class Observation:
    """The oracle's answer for one candidate: its row, its accuracy (%) and its latency (ms)."""

    index: int
    arch_str: str
    accuracy: float
    latency_ms: float


@dataclass(frozen=True, eq=False)
class Problem:
    """A discrete search problem: the candidates, the latency budget and the query cap.

    ``ops`` holds one op index per edge for each candidate (NAS-Bench-201: shape (n, 6),
    indices into ``nasc.data.nb201.OPS``); a strategy proposes candidates by row.
    """

    arch_strs: tuple[str, ...]
    ops: np.ndarray
    budget_ms: float
    max_queries: int

    def __post_init__(self) -> None:
        if len(self.arch_strs) != len(self.ops):
            raise ValueError(f"{len(self.arch_strs)} architecture strings for {len(self.ops)} op rows")
        if not self.budget_ms > 0 or self.max_queries < 1:
            raise ValueError(f"need a positive budget and query cap, got {self.budget_ms} ms, {self.max_queries}")

    @property
    def size(self) -> int:
        return len(self.arch_strs)

    def feasible(self, obs: Observation) -> bool:
        """Whether an answered candidate meets the latency budget."""
        return obs.latency_ms <= self.budget_ms


class Oracle(Protocol):
    """Answers "evaluate this candidate" and counts the questions.

    Asking again about a candidate already answered returns the stored answer and costs
    nothing (a real search keeps its results).  ``done`` turns true when the cap is
    reached or when the caller's stop rule has been met; a new question after that raises
    :class:`QueryCapError`.
    """

    @property
    def queries(self) -> int: ...

    @property
    def done(self) -> bool: ...

    def evaluate(self, index: int) -> Observation: ...

    def known(self, index: int) -> Observation | None: ...

    @property
    def log(self) -> Sequence[Observation]:
        """The new queries, in the order they were asked."""
        ...


@dataclass(eq=False)
class CountingOracle:
    """An :class:`Oracle` over precomputed answers (a tabular benchmark).

    ``answer`` maps a candidate's row to its observation; ``stop`` is the caller's rule for
    ending a run early (a benchmark ends it once the target is found: what happens after
    cannot change how many queries that took).
    """

    answer: Callable[[int], Observation]
    max_queries: int
    stop: Callable[[Observation], bool] | None = None
    log: list[Observation] = field(default_factory=list)
    _seen: dict[int, Observation] = field(default_factory=dict)
    _stopped: bool = False

    @property
    def queries(self) -> int:
        return len(self.log)

    @property
    def done(self) -> bool:
        return self._stopped or self.queries >= self.max_queries

    def known(self, index: int) -> Observation | None:
        return self._seen.get(int(index))

    def evaluate(self, index: int) -> Observation:
        index = int(index)
        if index in self._seen:
            return self._seen[index]
        if self.done:
            raise QueryCapError(f"query {self.queries + 1} asked after the oracle was done "
                                f"(cap {self.max_queries}{', stop rule met' if self._stopped else ''})")
        obs = self.answer(index)
        self._seen[index] = obs
        self.log.append(obs)
        self._stopped = bool(self.stop and self.stop(obs))
        return obs


@dataclass(frozen=True)
class Trace:
    """A strategy's run: its new queries in the order it asked them."""

    strategy: str
    seed: int
    budget_ms: float
    observations: tuple[Observation, ...]

    def best(self) -> Observation | None:
        """The most accurate observation within the budget (None when none is): what the
        strategy reports as its result.  Ties go to the earlier query."""
        feasible = [o for o in self.observations if o.latency_ms <= self.budget_ms]
        return max(feasible, key=lambda o: o.accuracy, default=None)

    def queries_to(self, accuracy: float) -> int | None:
        """How many queries it took to ask about a candidate within the budget with at least
        this accuracy (1-based), or None if it never did."""
        for n, o in enumerate(self.observations, 1):
            if o.latency_ms <= self.budget_ms and o.accuracy >= accuracy:
                return n
        return None


Strategy = Callable[[Problem, Oracle, int], Trace]
"""A search strategy: ``run(problem, oracle, seed)``, deterministic given the seed, asks the
oracle until it is done and returns its trace."""


def trace_of(name: str, problem: Problem, oracle: Oracle, seed: int) -> Trace:
    """The trace of a finished run (the oracle's log of new queries)."""
    return Trace(name, seed, problem.budget_ms, tuple(oracle.log))
