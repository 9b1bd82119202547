"""What a sweep is: its settings (checked before Ray starts), its manifest and its tasks.

Every argument a user can get wrong is parsed here into a :class:`SweepPlan`, so a typo
(``--lambda 0.1,x``, ``--seeds 3..1``, ``--budget latency=fast``) exits 2 with one line
before any cluster is started.  The plan's *identity* -- everything that changes what a task
computes -- is written to ``DIR/sweep.json``; a later run in the same directory must have the
same identity (it continues the sweep: finished tasks are reused), else it is refused, since
mixing runs of two settings would make a front of neither.  The stop rules and the cluster
address are not part of it: extending a stopped sweep's budget, or moving it to a cluster,
continues the same sweep.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..frontend.values import UNITS
from ..fsio import write_json
from ..latency.commands import SWEEP_MANIFEST as MANIFEST

RUNS = "runs"
FORMAT = "nasc-sweep/1"
STRATEGIES = ("lambda", "random-search", "regularized-evolution")
"""``lambda``: the λ x seed grid of searches; the others are the baselines (sampled archs)."""
MAX_TASKS = 10_000
STOP_RULES = ("max_task_seconds", "min_hv_gain", "hv_window")
"""Plan fields that say when to stop launching, not what a task computes."""
TIME_UNITS = tuple(u for u, (kind, _) in UNITS.items() if kind == "time")
"""The time units a budget takes: the language's (``latency <= 2ms`` in a space)."""


def parse_lambdas(text: str) -> tuple[float, ...]:
    """``0.01,0.1,1``: distinct finite latency weights >= 0, in the order given."""
    values: list[float] = []
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise UsageError(f"--lambda: {part.strip()!r} is not a number (expected a comma-separated list such as "
                             "0.01,0.1,1)") from None
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"--lambda: {part.strip()} must be a finite number >= 0")
        if value in values:
            raise UsageError(f"--lambda: {part.strip()} is given twice")
        values.append(value)
    return tuple(values)


def parse_seeds(text: str) -> tuple[int, ...]:
    """``0..2`` (inclusive), ``0,3,5`` or ``4``: distinct seeds >= 0."""
    match = re.fullmatch(r"\s*(\d+)\s*\.\.\s*(\d+)\s*", text)
    if match:
        low, high = int(match.group(1)), int(match.group(2))
        if low > high:
            raise UsageError(f"--seeds {text}: the range is empty ({low} > {high}); write LOW..HIGH")
        if high - low >= MAX_TASKS:
            raise UsageError(f"--seeds {text}: at most {MAX_TASKS:,} seeds")
        return tuple(range(low, high + 1))
    seeds: list[int] = []
    for part in text.split(","):
        if not re.fullmatch(r"\s*\d+\s*", part):
            raise UsageError(f"--seeds: {part.strip()!r} is not a seed (expected LOW..HIGH such as 0..2, or a "
                             "comma-separated list of integers >= 0)")
        if int(part) in seeds:
            raise UsageError(f"--seeds: {part.strip()} is given twice")
        seeds.append(int(part))
    return tuple(seeds)


def parse_budget(items: list[str]) -> float | None:
    """``--budget latency=2ms`` (a time unit of the language): the latency bound in ms, or None without one."""
    bound: float | None = None
    for item in items:
        key, sep, value = item.partition("=")
        if key.strip() != "latency" or not sep:
            raise UsageError(f"--budget {item}: expected latency=VALUE with a unit, such as latency=2ms")
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(" + "|".join(TIME_UNITS) + r")\s*", value)
        if not match or float(match.group(1)) <= 0:
            raise UsageError(f"--budget {item}: the latency must be a positive number with a unit "
                             f"{', '.join(TIME_UNITS)} (such as 2ms)")
        if bound is not None:
            raise UsageError("--budget latency=... is given twice")
        bound = float(match.group(1)) * UNITS[match.group(2)][1] * 1e3
    return bound


def lambda_text(value: float) -> str:
    """λ as it appears in directory names and tables (``0.01``, ``1``): short and exact enough."""
    return f"{value:g}"


@dataclass(frozen=True)
class TaskSpec:
    """One task: a compile into ``DIR/runs/NAME``.  ``lam`` is set for a λ task; ``index`` is
    a baseline task's position (its architecture comes from the strategy when it starts)."""

    name: str
    seed: int
    lam: float | None = None
    index: int | None = None


@dataclass(frozen=True)
class SweepPlan:
    """A sweep's settings.  ``identity`` fields decide whether a directory's earlier runs
    belong to this sweep; ``max_task_seconds``, ``min_hv_gain`` and ``hv_window`` are stop rules."""

    space: str
    space_sha256: str
    strategy: str
    lambdas: tuple[float, ...]
    seeds: tuple[int, ...]
    archs: int
    target: str
    backend: str
    experiment: str | None
    sets: tuple[str, ...]
    latency_budget_ms: float | None
    threads: int = 2  # every measurement's intra-op threads: the tasks' and the remeasurement's
    max_task_seconds: float | None = None
    min_hv_gain: float | None = None
    hv_window: int = 3
    remeasure: int = 3
    profile: bool = True  # a λ sweep measured here first profiles the space's kernels (nasc.sweep.profiling)

    def identity(self) -> dict[str, Any]:
        """The settings a task's result depends on (JSON types)."""
        doc = asdict(self)
        for name in (*STOP_RULES, "remeasure"):  # how the front is measured afterwards: not the tasks' results
            doc.pop(name)
        doc["lambdas"], doc["seeds"], doc["sets"] = list(self.lambdas), list(self.seeds), list(self.sets)
        return doc

    def tasks(self) -> list[TaskSpec]:
        """The λ grid seed by seed (every λ of seed 0 first), so a sweep stopped early still
        spans the trade-off; a baseline's ``archs`` tasks, seeded by the one seed."""
        if self.strategy == "lambda":
            return [TaskSpec(f"lam={lambda_text(lam)}-seed={seed}", seed, lam=lam)
                    for seed in self.seeds for lam in self.lambdas]
        return [TaskSpec(f"arch={i:04d}", self.seeds[0], index=i) for i in range(self.archs)]

    def check(self) -> None:
        """What the flags' types cannot say: which flags go with which strategy."""
        if self.strategy == "lambda":
            if not self.lambdas:
                raise UsageError("nasc sweep needs --lambda (or --baseline random-search|regularized-evolution)")
            return
        if self.lambdas:
            raise UsageError(f"--baseline {self.strategy} samples architectures and runs no search: give no --lambda")
        if len(self.seeds) != 1:
            raise UsageError(f"--baseline {self.strategy} takes one seed (its sampler's and every retraining's); "
                             f"got {len(self.seeds)}")
        if self.max_task_seconds is None:
            raise UsageError(f"--baseline {self.strategy} needs --max-task-seconds S: a baseline is compared at "
                             "equal compute, the task-seconds of the sweep it is compared with")


def file_sha256(path: Path) -> str:
    """The space file's content hash: an edited space makes a different sweep."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror}") from None


def run_dir(out: Path, task: TaskSpec) -> Path:
    return out / RUNS / task.name


def claim(out: Path, plan: SweepPlan) -> None:
    """Write ``DIR/sweep.json``, or check that the sweep already there has this identity."""
    path = out / MANIFEST
    identity = plan.identity()
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise UsageError(f"{path} is not a sweep manifest ({err}); choose another --out") from None
        before = old.get("identity") if isinstance(old, dict) else None
        if not isinstance(before, dict):
            raise UsageError(f"{path} is not a sweep manifest; choose another --out")
        if before != identity:
            changed = sorted(k for k in set(before) | set(identity) if before.get(k) != identity.get(k))
            shown = ", ".join(f"{k} {before.get(k)!r} -> {identity.get(k)!r}" for k in changed[:3])
            raise UsageError(f"{out} holds a sweep with other settings ({shown}); continue it with its own settings "
                             f"(see {path}) or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, {"format": FORMAT, "identity": identity, "stop_rules": {k: getattr(plan, k) for k in STOP_RULES}})
