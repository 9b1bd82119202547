"""The sweep's driver: start (or join) Ray, launch the tasks, apply the stop rules, gather.

Why the driver decides everything and the workers only compile: which task runs next, the
stop rules and the baselines' choices all depend on the tasks finished so far, which only the
driver sees.  It keeps at most one task per CPU of the cluster in flight and handles each as
it finishes (``ray.wait``), so a slow run never holds back the others.

Resuming: a task whose directory holds a finished report is never launched again (it is
"reused", and says so in ``DIR/tasks.jsonl`` and on the progress lines); an unfinished one is
launched again and its compile resumes what its directory holds (stage caching, the search's
checkpoint) or restarts its stage cleanly.  ``DIR/tasks.jsonl`` has one line per event
(reused, started, finished, failed), with wall seconds and exit codes: the sweep's own log,
from which a resumed run also takes the seconds its reused tasks cost.

Before the first task a λ sweep measured here profiles the space's kernels into the sweep's
store (:mod:`.profiling`; a ``profiled`` line), so every task's search weighs measured kernels;
those seconds are the ledger's first entry.

Ray's start-up (a local instance: about 4 s on a 2-core machine) is measured and recorded in
``front.json``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..fsio import write_json
from ..latency.store import FILENAME as STORE
from ..progress import progress_for
from .baselines import Chooser, Scored, save_assignment, saved_assignment
from .front import FRONT, Run, front_doc, gather, read_run
from .plan import SweepPlan, TaskSpec, run_dir
from .profiling import ProfileStep, profile_kernels
from .stop import StopRules, stop_reason
from .tasks import compile_argv, run_task

if TYPE_CHECKING:
    from ..experiment_choice import ChosenExperiment

TASK_LOG = "tasks.jsonl"
CPUS_PER_TASK = 1
OBJECT_STORE_BYTES = 80 * 1024 * 1024
"""Ray's object store holds nothing but the tasks' small result dicts; Ray's minimum is ~75 MB."""
PROFILE_ENTRY = "profile"
"""The ledger's entry for step 0's seconds (never a task's name: those start ``lam=`` or ``arch=``)."""
PASSED_ENV = ("NASC_CACHE_DIR", "NASC_PATH", "XDG_CACHE_HOME")


@dataclass
class Ledger:
    """What the sweep has done so far: finished runs in finish order and their seconds."""

    seconds: dict[str, float] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def log_event(out: Path, event: str, **fields: Any) -> None:
    """Append one line to ``DIR/tasks.jsonl`` (one short write: lines never interleave)."""
    line = json.dumps({"event": event, "time": time.time(), **fields}) + "\n"
    with (out / TASK_LOG).open("a") as f:
        f.write(line)


def _events(out: Path, event: str) -> list[dict[str, Any]]:
    """The ``event`` lines of earlier runs' ``tasks.jsonl`` that carry their seconds."""
    try:
        lines = (out / TASK_LOG).read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if isinstance(doc, dict) and doc.get("event") == event and isinstance(doc.get("seconds"), (int, float)):
            found.append(doc)
    return found


def past_seconds(out: Path) -> dict[str, float]:
    """Each task's wall seconds from earlier runs' ``tasks.jsonl`` (its last finished line)."""
    return {str(doc.get("name")): float(doc["seconds"]) for doc in _events(out, "finished")}


def past_profile_seconds(out: Path) -> float:
    """The seconds earlier runs of the driver spent profiling (``profiled`` lines)."""
    return sum(float(doc["seconds"]) for doc in _events(out, "profiled"))


def stage_seconds(run: Path) -> float:
    """A finished run's seconds by its ``compile.json`` (its stages' own times), for a task
    whose ``finished`` line was lost: the driver was killed between the compile's end and
    the line.  Slightly below the task's wall time (start-up, measuring and report are not
    stages), never zero for work that was done."""
    try:
        doc = json.loads((run / "compile.json").read_text())
    except (OSError, ValueError):
        return 0.0
    return sum(float(v.get("seconds", 0.0)) for v in doc.values() if isinstance(v, dict)) \
        if isinstance(doc, dict) else 0.0


def start_ray(address: str | None) -> dict[str, Any]:
    """Join the cluster at ``address`` (``auto``: the one this machine belongs to), or start a
    quiet local instance with one CPU slot per core; returns what was started and its cost."""
    import logging

    import ray

    t0 = time.perf_counter()
    quiet: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                             "configure_logging": True}
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(num_cpus=os.cpu_count() or 1, object_store_memory=OBJECT_STORE_BYTES, **quiet)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return {"address": address or "local", "cpus": cpus, "start_seconds": round(time.perf_counter() - t0, 2)}


class Sweep:
    """One run of the driver over a sweep directory."""

    def __init__(self, plan: SweepPlan, out: Path, log: TextIO) -> None:
        self.plan, self.out, self.log = plan, out.resolve(), log
        self.store = self.out / STORE
        self.rules = StopRules(plan.max_task_seconds, plan.min_hv_gain, plan.hv_window)
        self.ledger = Ledger()
        self.chooser: Chooser | None = None
        self.assignments: dict[str, dict[str, int]] = {}
        self._chosen: ChosenExperiment | None = None
        self.profile_step = ProfileStep(skipped="not run yet")

    def _baseline_setup(self) -> None:
        from .. import api
        from ..experiment_choice import experiment_for

        compiled = api.load(self.plan.space)
        space = compiled.elaborate()
        self.chooser = Chooser(compiled, space, self.plan.strategy, self.plan.seeds[0], self.plan.latency_budget_ms)
        self._chosen = experiment_for(compiled, self.plan.experiment, list(self.plan.sets))

    def _job(self, task: TaskSpec) -> dict[str, Any]:
        """The description a worker gets: argv, directory, CPUs and a baseline's arch text."""
        run = run_dir(self.out, task)
        sets = [*self.plan.sets, f"seed={task.seed}"]
        job: dict[str, Any] = {"name": task.name, "run_dir": str(run), "cpus": CPUS_PER_TASK,
                               "env": {k: os.environ[k] for k in PASSED_ENV if k in os.environ}}
        if task.lam is not None:
            sets.append(f"search.latency_weight={task.lam!r}")
            space = self.plan.space
        else:
            assert self.chooser is not None and self._chosen is not None
            assignment = saved_assignment(run)
            if assignment is not None:  # chosen by a run of this sweep that was stopped
                self.chooser.remember(assignment)
            else:
                assignment = self.chooser.choose(task.index or 0, [Scored(self.assignments[r.task.name], r.point)
                                                                   for r in self.ledger.runs
                                                                   if r.task.name in self.assignments])
                save_assignment(run, assignment)
            self.assignments[task.name] = assignment
            job["arch_text"] = self.chooser.arch_text(assignment, run, self._chosen.reference(relative_to=run))
            space = str(run / "arch.nas")
        job["argv"] = compile_argv(space, run, target=self.plan.target, backend=self.plan.backend, store=self.store,
                                   experiment=self.plan.experiment, sets=sets, threads=self.plan.threads)
        return job

    def _line(self, run: Run, seconds: float, how: str) -> str:
        return (f"{run.task.name}: accuracy {run.accuracy:.4f}, latency {run.latency_ms:.4f} ms "
                f"({run.latency_source}), {run.params:,} params; {how} {seconds:.1f}s")

    def _reuse(self, tasks: list[TaskSpec]) -> list[TaskSpec]:
        """Count the finished tasks as done (never relaunched); the others are left to run."""
        before = past_seconds(self.out)
        pending = []
        for task in tasks:
            run = read_run(self.out, task)
            if run is None:
                pending.append(task)
                continue
            seconds = before.get(task.name)
            if seconds is None:
                seconds = stage_seconds(run_dir(self.out, task))
            self.ledger.runs.append(run)
            self.ledger.seconds[task.name] = seconds
            self.ledger.reused.append(task.name)
            if task.lam is None:
                chosen = saved_assignment(run_dir(self.out, task))
                if chosen is not None:
                    self.assignments[task.name] = chosen
                    if self.chooser is not None:
                        self.chooser.remember(chosen)
            log_event(self.out, "reused", name=task.name, seconds=seconds)
        return pending

    def run(self, ray_address: str | None) -> dict[str, Any]:
        """Run the sweep to its end or its stop rule; write and return ``front.json``."""
        tasks = self.plan.tasks()
        if self.plan.strategy != "lambda":
            self._baseline_setup()
        self._profile()
        pending = self._reuse(tasks)
        progress = progress_for(self.log)
        progress.start(len(tasks), "tasks")
        for name in self.ledger.reused:
            run = next(r for r in self.ledger.runs if r.task.name == name)
            progress.advance(self._line(run, self.ledger.seconds[name], "reused, took"))
        stopped = self._stop()
        ray_info: dict[str, Any] = {"started": False}
        if pending and stopped is None:
            ray_info = self._launch(pending, ray_address, progress)
            stopped = ray_info.pop("stopped")
        progress.close()
        return self._finish(tasks, stopped, ray_info)

    def _profile(self) -> None:
        """Step 0 (:mod:`.profiling`): its seconds, this run's and earlier runs', are the
        ledger's first entry, so the stop rules and a comparison at equal compute count them."""
        before = past_profile_seconds(self.out)
        self.profile_step = profile_kernels(self.plan, self.store, self.log)
        if not self.profile_step.skipped:
            step = self.profile_step
            log_event(self.out, "profiled", name=PROFILE_ENTRY, seconds=step.seconds, kernels=step.kernels,
                      measured=step.measured)
        total = before + self.profile_step.seconds
        if total:
            self.ledger.seconds[PROFILE_ENTRY] = total

    def _stop(self) -> str | None:
        return stop_reason(self.rules, self.ledger.total_seconds, [r.point for r in self.ledger.runs],
                           self.plan.latency_budget_ms)

    def _launch(self, pending: list[TaskSpec], address: str | None, progress: Any) -> dict[str, Any]:
        import ray

        info = start_ray(address)
        progress.note(f"ray: {info['address']}, {info['cpus']} CPUs, started in {info['start_seconds']:.1f}s")
        remote = ray.remote(num_cpus=CPUS_PER_TASK, max_retries=0)(run_task)
        in_flight: dict[Any, TaskSpec] = {}
        stopped: str | None = None
        queue = list(pending)
        try:
            while queue or in_flight:
                while queue and stopped is None and len(in_flight) < info["cpus"] // CPUS_PER_TASK:
                    task = queue.pop(0)
                    job = self._job(task)
                    log_event(self.out, "started", name=task.name)
                    in_flight[remote.remote(job)] = task
                if not in_flight:
                    break
                done, _ = ray.wait(list(in_flight), num_returns=1)
                task = in_flight.pop(done[0])
                self._finished(task, _result(ray, done[0], task), progress)
                stopped = stopped or self._stop()
        finally:
            ray.shutdown()
        info["started"] = True
        info["stopped"] = stopped
        return info

    def _finished(self, task: TaskSpec, result: dict[str, Any], progress: Any) -> None:
        self.ledger.seconds[task.name] = result["seconds"]
        run = read_run(self.out, task) if result["exit"] == 0 else None
        if run is None:
            self.ledger.failed[task.name] = result["exit"]
            log_event(self.out, "failed", **result)
            why = result.get("error") or f"exit {result['exit']}"
            progress.advance(f"{task.name}: FAILED ({why}) after {result['seconds']:.1f}s; see "
                             f"{run_dir(self.out, task) / 'task.log'}")
            return
        self.ledger.runs.append(run)
        log_event(self.out, "finished", **result)
        progress.advance(self._line(run, result["seconds"], "ran"))

    def _within_budget(self) -> dict[str, Any] | None:
        """The tasks, in the order they finished, whose summed seconds stay within
        ``--max-task-seconds``: tasks in flight when the budget was reached ran past it, and a
        comparison at equal compute counts only these (failed tasks spent compute too)."""
        if self.plan.max_task_seconds is None:
            return None
        total, names = 0.0, []
        for name, seconds in self.ledger.seconds.items():
            if total + seconds > self.plan.max_task_seconds:
                break
            total += seconds
            names.append(name)
        finished = {r.task.name for r in self.ledger.runs}
        return {"tasks": names, "runs": [n for n in names if n in finished], "task_seconds": round(total, 2),
                "budget": self.plan.max_task_seconds}

    def _finish(self, tasks: list[TaskSpec], stopped: str | None, ray_info: dict[str, Any]) -> dict[str, Any]:
        from .plot import plot_front

        from .remeasure import remeasured

        runs = remeasured(self.out, gather(self.out, tasks), self.plan.remeasure, self.plan.backend,
                          lambda text: print(text, file=self.log, flush=True), self.plan.threads)
        doc = front_doc(self.plan, runs)
        done = {r.task.name for r in runs}
        doc["sweep"] = {
            "stopped": stopped or ("every task finished" if len(done) == len(tasks) else
                                   f"every task ran; {len(tasks) - len(done)} failed (see {TASK_LOG})"),
            "stop_rules": {"max_task_seconds": self.plan.max_task_seconds, "min_hv_gain": self.plan.min_hv_gain,
                           "hv_window": self.plan.hv_window},
            "task_seconds": round(self.ledger.total_seconds, 2),
            "compute_rule": "task-seconds: the summed wall seconds of every task that ran (a reused task counts "
                            f"with the seconds it took when it ran; each task holds one CPU) and of the kernel "
                            f"profile before them ('{PROFILE_ENTRY}', every run of the driver)",
            "profile": {**self.profile_step.to_dict(), "seconds_all_runs": round(
                self.ledger.seconds.get(PROFILE_ENTRY, 0.0), 2)},
            "tasks": {"planned": len(tasks), "finished": len(done), "reused": len(self.ledger.reused),
                      "failed": sorted(self.ledger.failed), "not_started": sorted(
                          t.name for t in tasks if t.name not in done and t.name not in self.ledger.failed)},
            "within_budget": self._within_budget(),
            "ray": ray_info,
            "latency_store": STORE,
            "remeasure_rounds": self.plan.remeasure,
        }
        write_json(self.out / FRONT, doc)
        plot_front(doc, self.out / "front.png")
        return doc


def _result(ray: Any, ref: Any, task: TaskSpec) -> dict[str, Any]:
    """A task's result, or a failed one when its worker itself died (killed, out of memory):
    one lost task must not end the sweep."""
    try:
        result: dict[str, Any] = ray.get(ref)
        return result
    except ray.exceptions.RayError as err:
        return {"name": task.name, "exit": None, "seconds": 0.0, "error": str(err).splitlines()[0][:300]}
