"""Step 0 of a λ sweep: the space's kernels measured into the sweep's latency store.

Why: every task's search weighs latency through the model its store supports, and a store
without the space's kernels for the sweep's target, backend and thread count leaves that
model the roofline prior, a guess proportional to MACs.  On small networks time does not
follow MACs: measured on the digits example, a sweep whose searches weighed the prior pushed
λ = 10 to archs of 4.7-12.9K MACs that ran at 21-24 us while random search found a 93K-MAC
arch at 18.6 us, and its front's hypervolume was 0.87 of random search's.  With the kernels
profiled first (122 kernels in about 7 s) the searches weigh the measured kernel sum and λ = 1
lands faster than every random arch (docs/sweep.md).

So a λ sweep whose target is measured here (``cpu``) profiles before its first task, into the
sweep's own store, at the sweep's thread count.  The profile is resumable (stored kernels are
skipped, so a rerun after an interruption costs the enumeration only) and its seconds count
in the sweep's compute next to the tasks' (a comparison at equal compute pays for it).  A
recorded device answers from its table and needs no profile; a device behind a tracker is
profiled with ``nasc profile --rpc`` beforehand; ``--no-profile`` skips it (the front then
says its searches may have used the prior).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .plan import SweepPlan


@dataclass(frozen=True)
class ProfileStep:
    """What step 0 did: ``skipped`` says why nothing was profiled (empty: it ran)."""

    skipped: str = ""
    seconds: float = 0.0
    kernels: int = 0
    measured: int = 0

    def to_dict(self) -> dict[str, Any]:
        if self.skipped:
            return {"ran": False, "why": self.skipped}
        return {"ran": True, "seconds": round(self.seconds, 2), "kernels": self.kernels, "measured": self.measured,
                "already_stored": self.kernels - self.measured}


def why_not(plan: SweepPlan) -> str:
    """Why the sweep profiles nothing (empty: it profiles)."""
    from ..errors import UsageError
    from ..latency.profile import ProfileError, check_settings
    from ..targets import resolve_target

    if plan.strategy != "lambda":
        return "a baseline runs no search: nothing weighs a latency model"
    if not plan.profile:
        return "--no-profile: the searches weigh whatever the sweep's store holds (the roofline prior when nothing)"
    kind = resolve_target(plan.target).kind
    if kind == "recorded":
        return f"{plan.target} answers from its recorded table"
    if kind != "cpu":
        return (f"{plan.target} is not measured here: profile it beforehand with `nasc profile --rpc` into the "
                "sweep's store")
    if plan.backend == "auto":
        return "--backend auto: no one backend's table to fill (name the backend to profile it)"
    try:
        check_settings(plan.target, plan.backend, "fp32")
    except (ProfileError, UsageError) as err:
        return str(err)
    return ""


def profile_kernels(plan: SweepPlan, store_path: Path, log: TextIO) -> ProfileStep:
    """Profile the plan's space into ``store_path`` unless :func:`why_not` says otherwise;
    progress and outcome on ``log``."""
    import time

    from .. import api
    from ..backends import MeasureProtocol
    from ..latency.profile import ProfileSettings, profile_space
    from ..latency.store import LatencyStore
    from ..progress import progress_for

    def say(text: str) -> None:
        print(text, file=log, flush=True)

    skipped = why_not(plan)
    if skipped:
        say(f"profile: skipped ({skipped})")
        return ProfileStep(skipped=skipped)
    t0 = time.perf_counter()
    settings = ProfileSettings(plan.target, plan.backend, "fp32", MeasureProtocol(threads=plan.threads))
    progress = progress_for(log)
    try:
        with LatencyStore(store_path) as store:
            report = profile_space(api.load(plan.space), None, settings, store, progress, say)
    finally:
        progress.close()
    seconds = time.perf_counter() - t0
    say(f"profile: {report.measured} of {report.kernels} kernels measured in {seconds:.1f} s "
        f"({report.already} already stored)")
    return ProfileStep(seconds=seconds, kernels=report.kernels, measured=report.measured)
