"""``nasc profile --tune``: what tuning a space's kernels adds to a profile.

Tuning itself is the TVM backend's (:mod:`nasc.backends.tvm.tuning`): a micro-model built with
``tune_trials`` > 0 tunes each of its TVM tasks the target's MetaSchedule database does not
hold yet, then applies the database.  A profile with ``--tune`` builds every kernel of the
space that way, so the database ends up covering every kernel the space can produce and
every later build of one of its architectures is tuned without tuning anything.

Tuned and untuned latencies are different things measured with the same protocol, so they
live in the store under different backend labels: ``tvm`` for TVM's default schedules,
``tvm-tuned`` for builds that took their schedules from the database.  Same keys (the
kernel signature's, the arch's sha256), so one table can be compared with the other
kernel by kernel, and a model fitted on one never mixes in the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

TUNED = "-tuned"
"""The suffix of the store's backend label for latencies of tuned builds (``tvm-tuned``)."""


def store_backend(backend: str, tune_trials: int) -> str:
    """The backend label a profile's records carry: ``tvm-tuned`` for a tuned profile."""
    return backend + TUNED if tune_trials else backend


def built_backend(backend: str, tuning: Mapping[str, Any] | str | None) -> str:
    """The backend label of a measurement of a build whose manifest says ``tuning`` (its
    ``details["tuning"]``): ``tvm-tuned`` when any of its TVM tasks took a schedule from the
    tuning database, the build's backend otherwise.

    Why from the artifact and not from what the caller asked for: every TVM build applies the
    target's database when one exists, so a measuring loop that asked for plain ``tvm`` gets
    a tuned build on a machine where a space was tuned, and its record must not join the
    untuned ones a ``tvm`` model is fitted on.  A partly covered build counts as tuned, as a
    tuned profile's kernel does whose task found no valid schedule: ``tvm-tuned`` means
    "built with the database applied", which is what a deployment gets."""
    if not isinstance(tuning, Mapping):
        return backend
    covered = int(tuning.get("tasks", 0)) - len(tuning.get("not_covered", ()))
    return backend + TUNED if covered > 0 else backend


@dataclass
class TuningTally:
    """What a tuned profile did: its tuning runs (a chunk of kernels each, see
    :func:`nasc.backends.tune_kernels`) and then its builds, which find their tasks tuned."""

    trials: int
    runs: int = 0
    tasks_tuned: int = 0
    tasks_from_database: int = 0
    seconds: float = 0.0
    not_covered: list[str] = field(default_factory=list)
    database: str = ""

    def add_run(self, report: Mapping[str, Any]) -> None:
        """One tuning run's report: its distinct tasks, tuned now or found tuned."""
        self.runs += 1
        self.tasks_tuned += int(report["tasks_tuned_now"])
        self.tasks_from_database += int(report["tasks_from_database"])
        self.seconds += float(report["tuning_seconds"])
        self.database = str(report["database"])

    def add(self, report: Mapping[str, Any] | str | None) -> None:
        """One build's ``details["tuning"]`` (a string when the build was not tuned): what it
        still had to tune, and the tasks the database had no valid schedule for.  Its tasks
        found in the database are counted by the tuning runs (once, not once per kernel), or
        here when no run came first (an architecture's build)."""
        if not isinstance(report, Mapping):
            return
        self.tasks_tuned += int(report["tasks_tuned_now"])
        if not self.runs:
            self.tasks_from_database += int(report["tasks_from_database"])
        self.seconds += float(report["tuning_seconds"])
        self.not_covered += list(report["not_covered"])
        self.database = str(report["database"])

    def summary(self) -> str:
        """One line for the end of ``nasc profile --tune``."""
        failed = (f"; {len(self.not_covered)} task(s) got no valid schedule and keep TVM's default: "
                  f"{', '.join(self.not_covered)}" if self.not_covered else "")
        where = f" in {self.database}" if self.database else ""
        runs = f" over {self.runs} tuning run(s)" if self.runs else ""
        return (f"tuned {self.tasks_tuned:,} TVM tasks ({self.trials} MetaSchedule trials each, "
                f"{self.seconds:.1f} s of tuning{runs}); {self.tasks_from_database:,} were in the database{where} "
                f"already{failed}")


__all__ = ["TUNED", "TuningTally", "built_backend", "store_backend"]
