"""The architectures a baseline compiles: random search and regularized evolution on a space.

A baseline runs no search: each task compiles one architecture of the space as given
(``nasc compile`` of a frozen arch retrains, runs the passes, builds and measures it exactly
as it does a searched one), so its front and a λ sweep's differ only in how architectures
were chosen.

* ``random-search``: architecture ``i`` is :func:`nasc.api.random_assignment` with seed
  ``seed * 1_000_003 + i`` (redrawn, up to :data:`REDRAWS` times, when it repeats one already
  chosen).
* ``regularized-evolution``: the first :data:`POPULATION` architectures are random as above;
  after that a tournament draws :data:`TOURNAMENT` of the :data:`POPULATION` most recently
  finished runs (the oldest age out, as in Real et al. 2019), takes one of the tournament's
  non-dominated runs (accuracy up, latency down; at random among them, so the whole
  trade-off is bred, not only its accurate end) and changes one of its active decisions to
  another option.  With ``--budget latency=B`` a run over B loses to any run within it.

Each chosen assignment is written to ``DIR/runs/NAME/assignment.json`` before its task
starts, so a resumed baseline compiles the same architecture again instead of drawing anew.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..fsio import write_json
from .hypervolume import Point, non_dominated

if TYPE_CHECKING:
    from ..api import Compiled
    from ..ir.space import SearchSpace

POPULATION = 10
TOURNAMENT = 3
REDRAWS = 100
ASSIGNMENT = "assignment.json"


@dataclass(frozen=True)
class Scored:
    """A finished baseline run: the assignment it compiled and where it landed."""

    assignment: dict[str, int]
    point: Point


class Chooser:
    """Picks the assignment of each baseline task (``strategy``: random-search or
    regularized-evolution), never one chosen before when it can help it."""

    def __init__(self, compiled: "Compiled", space: "SearchSpace", strategy: str, seed: int,
                 latency_budget_ms: float | None = None) -> None:
        self.compiled, self.space, self.strategy = compiled, space, strategy
        self.seed, self.budget = seed, latency_budget_ms
        self.rng = random.Random(seed)
        self.seen: set[tuple[tuple[str, int], ...]] = set()

    def _key(self, assignment: dict[str, int]) -> tuple[tuple[str, int], ...]:
        from ..api import active_assignment

        return tuple(sorted(active_assignment(self.space, assignment).items()))

    def remember(self, assignment: dict[str, int]) -> None:
        """An assignment chosen earlier (a resumed sweep's)."""
        self.seen.add(self._key(assignment))

    def _random(self, index: int) -> dict[str, int]:
        from ..api import random_assignment

        for attempt in range(REDRAWS):
            candidate = random_assignment(self.space, self.seed * 1_000_003 + index + attempt * 7_919)
            if self._key(candidate) not in self.seen:
                return candidate
        return candidate

    def _mutant(self, parent: dict[str, int]) -> dict[str, int]:
        from ..api import active_assignment

        for _ in range(REDRAWS):
            active = sorted(active_assignment(self.space, parent))
            path = self.rng.choice(active)
            decision = self.space.decision(path)
            options = [o for o in range(decision.n) if o not in decision.excluded and o != parent[path]]
            if not options:
                continue
            child = {**parent, path: self.rng.choice(options)}
            if self._key(child) not in self.seen:
                return child
        return self._random(self.rng.randrange(1 << 30))

    def choose(self, index: int, finished: Sequence[Scored]) -> dict[str, int]:
        """The assignment of task ``index``, given the runs finished so far (in finish order)."""
        if self.strategy == "regularized-evolution" and len(finished) >= POPULATION:
            alive = list(finished[-POPULATION:])
            picks = self.rng.sample(alive, TOURNAMENT)
            within = [s for s in picks if self.budget is None or s.point.latency_ms <= self.budget] or picks
            best = non_dominated([s.point for s in within])
            chosen = self._mutant(within[self.rng.choice(best)].assignment)
        else:
            chosen = self._random(index)
        self.remember(chosen)
        return chosen

    def arch_text(self, assignment: dict[str, int], run: Path, experiment_ref: str | None) -> str:
        """The frozen arch of ``assignment``, its experiment header relative to ``run``."""
        from ..api import pins_from_assignment, render_arch

        arch = self.compiled.elaborate(self.space.name, pins_from_assignment(assignment))
        return render_arch(self.compiled, self.space, arch, f"sampled by nasc sweep ({self.strategy}) from "
                           f"{self.compiled.module.name} :: {self.space.name}", f"{self.space.name}_sampled", run,
                           experiment_ref=experiment_ref).text


def saved_assignment(run: Path) -> dict[str, int] | None:
    """The assignment an earlier run of this task chose, if it wrote one."""
    try:
        doc = json.loads((run / ASSIGNMENT).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in doc.items()):
        return None
    return doc


def save_assignment(run: Path, assignment: dict[str, int]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    write_json(run / ASSIGNMENT, assignment)
