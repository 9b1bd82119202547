"""MetaSchedule tuning with a workload-keyed JSON database shared across builds.

Why a shared database: NAS builds many architectures made of the same few block shapes.
MetaSchedule keys records by the structural hash of each fused kernel (weights are
arguments, not constants, after BN folding), so a kernel seen in an earlier build is
found in the database and *skipped*: only unseen kernels get trials.  A file lock keeps
concurrent tuning runs from interleaving writes.

Three uses:

* ``nasc profile --tune`` first tunes the tasks of all of a space's kernels, built as
  micro-models, in a few MetaSchedule runs (:func:`tune_modules`, a chunk of kernels per
  run), then builds and times each kernel, which finds its tasks tuned;
* any later TVM build of the same target (``trials_per_task=0``, the default) applies the
  database without tuning (:func:`tune_and_apply`) and reports which of its tasks the
  database covered and which kept TVM's default schedule;
* ``--tune-trials N`` on a build tunes what the database lacks, then applies it.

A task counts as *tuned* when the ledger (``tuned.jsonl`` beside the database) lists it
with at least the trials asked for; MetaSchedule commits records while it tunes, so a run
killed mid-task leaves records without a ledger line, and the next run tunes that task
again instead of trusting a partial search.  A task counts as *covered* (at build time)
when the database has any record for it.

Three TVM 0.27 workarounds (docs/toolchain.md §3): ``stub_tensor_intrin`` avoids the 55 s
``import tvm.s_tir.tensor_intrin`` in every builder worker (which makes LocalBuilder time
out), and it still imports the x86/arm intrinsics because the default CPU schedule rules
reference them (e.g. ``dot_16x4_vnni`` on VNNI hosts); :func:`fix_pack_sum` keeps the cost
model from crashing on tasks with nothing to schedule.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import importlib.util
import json
import sys
import tempfile
import time
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

STUB_NAME = "tvm.s_tir.tensor_intrin"
LEDGER = "tuned.jsonl"
WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"
BEST = "best.json"  # each workload's best record: what builds read (see snapshot)
RPC_SESSION_TIMEOUT_S = 60
TRIALS_PER_ROUND = 64  # MetaSchedule's default candidates measured per search round
POPULATION_MAX = 512  # MetaSchedule's default evolutionary population
POPULATION_PER_TRIAL = 8


def stub_tensor_intrin() -> None:
    """Register a light ``tvm.s_tir.tensor_intrin`` with only the CPU intrinsics.

    Module-level function so MetaSchedule's popen workers can run it as initializer."""
    import platform

    import tvm.s_tir as s_tir

    if STUB_NAME not in sys.modules:
        spec = importlib.util.find_spec(STUB_NAME)
        stub = types.ModuleType(STUB_NAME)
        stub.__path__ = list(spec.submodule_search_locations) if spec and spec.submodule_search_locations else []
        sys.modules[STUB_NAME] = stub
        s_tir.tensor_intrin = stub
    arch = platform.machine().lower()
    importlib.import_module(STUB_NAME + (".arm_cpu" if arch in ("aarch64", "arm64") else ".x86"))


def fix_pack_sum() -> None:
    """Make MetaSchedule's XGBoost cost model survive candidates without feature blocks.

    TVM 0.27's ``PackSum`` indexes each candidate's feature blocks with an array built by
    concatenating Python lists; when no candidate of a batch has a block (a task with no loop
    to schedule, such as the scalar ``multiply`` of NB201's ``zero`` kernel), that array is
    float64 and empty, ``np.bincount`` refuses it, and the whole tuning run dies -- measured
    here on NB201 after 12 minutes of a run.  Indices are made int64 and the prediction gets one
    entry per candidate (0 for a candidate without blocks: the model knows nothing of it)."""
    import numpy as np
    from tvm.s_tir.meta_schedule.cost_model import xgb_model

    cls: Any = xgb_model.PackSum
    if getattr(cls, "nasc_fixed", False):
        return
    init = cls.__init__

    def __init__(self: Any, xs: list[Any], ys: Any) -> None:
        init(self, xs, ys)
        self.ids = np.asarray(self.ids, dtype=np.int64)
        self.candidates = len(xs)

    def predict_with_score(self: Any, pred: Any) -> Any:
        return np.bincount(self.ids, weights=pred, minlength=self.candidates).astype(np.float64)

    cls.__init__, cls.predict_with_score, cls.nasc_fixed = __init__, predict_with_score, True


def database_dir(cache_dir: Path, tgt: Any, device_key: str | None = None) -> Path:
    """One database per exact TVM target (schedules do not transfer between CPUs), and per
    device for tuning through an RPC tracker (the runs were timed there, not here).  Not
    created: a build that only reads must not leave an empty database behind."""
    name = str(tgt) if device_key is None else f"{tgt} rpc:{device_key}"
    return cache_dir / "tvm-metaschedule" / hashlib.sha256(name.encode()).hexdigest()[:16]


def workdir_for(cache_dir: Path, tgt: Any, device_key: str | None = None) -> Path:
    """:func:`database_dir`, created, with the target it is for written beside it."""
    path = database_dir(cache_dir, tgt, device_key)
    path.mkdir(parents=True, exist_ok=True)
    (path / "target.json").write_text(json.dumps({"target": str(tgt), "device_key": device_key}) + "\n")
    return path


@contextmanager
def locked(path: Path, wait: bool = True) -> Iterator[bool]:
    """The database's lock, held for the block; with ``wait=False`` the block runs at once and
    is told whether it got the lock (a tuning run holds it for hours)."""
    with open(path / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ledger(work: Path) -> dict[str, dict[str, Any]]:
    """The tasks whose tuning finished, by workload structural hash (the most trials wins)."""
    done: dict[str, dict[str, Any]] = {}
    path = work / LEDGER
    if not path.is_file():
        return done
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # a line cut short by a crash: that task is tuned again
            continue
        if row.get("trials", 0) >= done.get(row["workload"], {}).get("trials", 0):
            done[row["workload"]] = row
    return done


@contextmanager
def snapshot(work: Path) -> Iterator[Path]:
    """A database a build can read while a tuning run may be appending to ``work``, without
    waiting for its lock (held for the whole tuning).

    The pruned database (:data:`BEST`, each workload's best record) when there is one: loading
    the full database costs about 5 ms per record -- a minute per build for a space tuned at 64
    trials per task -- and a build only ever applies the best record.  Otherwise a copy of the
    full one: whole lines only, records copied before workloads so every record's workload
    index is present in the copy.

    A pruned database written before the ledger's last run (a tuning run killed while it was
    pruning, which takes about a minute at 10k records) lacks that run's schedules: it is
    rewritten first when the lock is free, else the full database is read."""
    with tempfile.TemporaryDirectory(prefix="nasc-msdb-") as tmp:
        best = _read_best(work)
        if best is not None and best["ledger_bytes"] != _ledger_bytes(work):
            best = _refreshed_best(work)
        for name in (RECORDS, WORKLOADS):
            if best is not None:
                data = best[name].encode()
            else:
                data = (work / name).read_bytes() if (work / name).is_file() else b""
            (Path(tmp) / name).write_bytes(data[:data.rfind(b"\n") + 1])
        yield Path(tmp)


def _read_best(work: Path) -> dict[str, Any] | None:
    try:
        best = json.loads((work / BEST).read_text())
    except (OSError, ValueError):
        return None
    return best if isinstance(best, dict) and {RECORDS, WORKLOADS, "ledger_bytes"} <= set(best) else None


def _ledger_bytes(work: Path) -> int:
    """The ledger's size: it only grows, by one line per task when a tuning run ends."""
    return (work / LEDGER).stat().st_size if (work / LEDGER).is_file() else 0


def _refreshed_best(work: Path) -> dict[str, Any] | None:
    """The pruned database brought up to the ledger, or None while a tuning run holds the lock
    or where it cannot be rewritten (a database on a read-only volume)."""
    try:
        with locked(work, wait=False) as mine:
            if not mine:
                return None
            refresh_best(work)
            return _read_best(work)
    except OSError:
        return None


def refresh_best(work: Path) -> bool:
    """Rewrite the pruned database :data:`BEST` from the full one if the ledger changed since it
    was written (lock held); True when rewritten.  Written whole and renamed into place, so a
    build reading it never sees half of one."""
    from tvm.s_tir import meta_schedule as ms

    ledger_bytes = _ledger_bytes(work)
    old = _read_best(work)
    if old is not None and old["ledger_bytes"] == ledger_bytes or not (work / WORKLOADS).is_file():
        return False
    with tempfile.TemporaryDirectory(prefix="nasc-msdb-", dir=work) as tmp:
        ms.database.JSONDatabase(work_dir=str(work)).dump_pruned(ms.database.JSONDatabase(work_dir=tmp))
        best = {name: (Path(tmp) / name).read_text() for name in (RECORDS, WORKLOADS)}
        (Path(tmp) / BEST).write_text(json.dumps({**best, "ledger_bytes": ledger_bytes}))
        (Path(tmp) / BEST).replace(work / BEST)
    return True


def _runner(rpc: Mapping[str, str] | None) -> Any:
    from tvm.s_tir import meta_schedule as ms

    if rpc is None:
        return ms.runner.LocalRunner()
    host, port = rpc["tracker"].rsplit(":", 1)
    return ms.runner.RPCRunner(rpc_config=ms.runner.RPCConfig(tracker_host=host, tracker_port=int(port),
                                                              tracker_key=rpc["key"],
                                                              session_timeout_sec=RPC_SESSION_TIMEOUT_S))


def tune_and_apply(mod: Any, tgt: Any, trials_per_task: int, cache_dir: Path, seed: int,
                   rpc: Mapping[str, str] | None = None) -> tuple[Any, dict[str, Any] | None]:
    """Tune the tasks of ``mod`` the database lacks (none when ``trials_per_task`` is 0), then
    return (module with the database's schedules applied, report).  With ``rpc`` (``tracker``
    HOST:PORT and device ``key``) candidates are timed on that device, into its own database.
    Without trials and without a database: ``mod`` unchanged and no report (an untuned build)."""
    if trials_per_task == 0 and not _has_database(cache_dir, tgt, rpc):
        return mod, None
    mods, report = _apply([mod], tgt, trials_per_task, cache_dir, seed, rpc)
    return mods[0], report


def tune_and_apply_each(mods: list[Any], tgt: Any, trials_per_task: int, cache_dir: Path, seed: int,
                        rpc: Mapping[str, str] | None = None) -> tuple[list[Any], dict[str, Any] | None]:
    """:func:`tune_and_apply` for the kernels of a kernel-plan build, each module on its own.

    Why each alone: the database's schedules must be applied to every kernel *before* the
    kernels are stitched into one module -- extracting tasks from the stitched module runs
    FuseOps over it again, and the tasks it finds are no longer the kernels' own.  Every module
    comes back through Relax's "zero" pipeline (its PrimFuncs fused), scheduled where the
    database has a record; the report counts tasks shared by several kernels once."""
    if trials_per_task == 0 and not _has_database(cache_dir, tgt, rpc):
        return [zero_pipeline(m, tgt) for m in mods], None
    return _apply(mods, tgt, trials_per_task, cache_dir, seed, rpc)


def _has_database(cache_dir: Path, tgt: Any, rpc: Mapping[str, str] | None) -> bool:
    return (database_dir(cache_dir, tgt, rpc["key"] if rpc else None) / WORKLOADS).is_file()


def _apply(mods: list[Any], tgt: Any, trials_per_task: int, cache_dir: Path, seed: int,
           rpc: Mapping[str, str] | None) -> tuple[list[Any], dict[str, Any]]:
    """Tune what the database lacks, apply it to each of ``mods``; (scheduled modules, report)."""
    from tvm import relax

    device = rpc["key"] if rpc else None
    stub_tensor_intrin()
    from tvm.s_tir import meta_schedule as ms

    work = workdir_for(cache_dir, tgt, device) if trials_per_task else database_dir(cache_dir, tgt, device)
    fused = [_fused_tasks(m, tgt) for m in mods]
    distinct: dict[str, Any] = {}
    for _, mod_tasks in fused:
        for task in mod_tasks:
            distinct.setdefault(_shash(task), task)
    tasks = list(distinct.values())
    names = _unique_names(tasks)
    t0 = time.perf_counter()
    todo = _tune_missing(tasks, work, trials_per_task, seed, rpc) if trials_per_task else []
    tuning_s = time.perf_counter() - t0
    out = []
    with snapshot(work) as copy:
        db = ms.database.JSONDatabase(work_dir=str(copy))
        covered = {h for h, t in distinct.items() if _has_record(db, t.dispatched[0])}
        best = {names[h]: _best_us(db, distinct[h].dispatched[0]) for h in covered}
        for zmod, mod_tasks in fused:
            if any(_shash(t) in covered for t in mod_tasks):
                with tgt, db:
                    zmod = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(zmod)
            out.append(zmod)
    tuned_now = {_shash(t) for t in todo}
    report: dict[str, Any] = {
        "trials_per_task": trials_per_task,
        "tasks": len(tasks),
        "tasks_tuned_now": len(todo),
        "tasks_from_database": len(covered - tuned_now),
        "not_covered": [names[h] for h in distinct if h not in covered],
        "tuning_seconds": round(tuning_s, 2),
        "runner": f"rpc:{device}" if device else "local",
        "database": _database_name(work, cache_dir),
        "task_names": [names[h] for h in distinct],
        "best_us": best,
    }
    return out, report


def _unique_names(tasks: list[Any]) -> dict[str, str]:
    """Task names by structural hash, made unique: kernels built alone each name their tasks
    from scratch, so two kernels' different tasks can share a name (``fused_conv2d_add``)."""
    names: dict[str, str] = {}
    seen: dict[str, int] = {}
    for t in tasks:
        n = seen[t.task_name] = seen.get(t.task_name, 0) + 1
        names[_shash(t)] = t.task_name if n == 1 else f"{t.task_name}#{n}"
    return names


def tune_modules(mods: list[Any], tgt: Any, trials_per_task: int, cache_dir: Path, seed: int,
                 rpc: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Tune every task of ``mods`` the database lacks in *one* MetaSchedule run; build nothing.

    Why one run for many modules: MetaSchedule starts its builder and runner pools once per
    run (about 10 s here), which tuning a space kernel by kernel pays for every kernel -- for
    a space of 164 kernels, half an hour of pools starting.  Tasks are deduplicated by
    structural hash across the modules (kernels of a space share many), and the ledger gets
    them when the run ends, so a killed run loses this run's tasks and nothing before it."""
    if trials_per_task < 1:
        raise ValueError("tune_modules needs trials_per_task >= 1")
    device = rpc["key"] if rpc else None
    stub_tensor_intrin()
    work = workdir_for(cache_dir, tgt, device)
    distinct: dict[str, Any] = {}
    for mod in mods:
        for task in _fused_tasks(mod, tgt)[1]:
            distinct.setdefault(_shash(task), task)
    tasks = list(distinct.values())
    t0 = time.perf_counter()
    todo = _tune_missing(tasks, work, trials_per_task, seed, rpc)
    return {"trials_per_task": trials_per_task, "modules": len(mods), "tasks": len(tasks),
            "tasks_tuned_now": len(todo), "tasks_from_database": len(tasks) - len(todo),
            "tuning_seconds": round(time.perf_counter() - t0, 2), "runner": f"rpc:{device}" if device else "local",
            "database": _database_name(work, cache_dir), "task_names": [t.task_name for t in todo]}


def _fused_tasks(mod: Any, tgt: Any) -> tuple[Any, list[Any]]:
    """(``mod`` through Relax's "zero" pipeline, its MetaSchedule tasks): one task per fused kernel."""
    from tvm.s_tir import meta_schedule as ms

    zmod = zero_pipeline(mod, tgt)
    return zmod, list(ms.relax_integration.extract_tasks(zmod, tgt))


def zero_pipeline(mod: Any, tgt: Any) -> Any:
    """``mod`` through Relax's "zero" pipeline: Legalize, then FuseOps/FuseTIR."""
    from tvm import relax

    with tgt:
        return relax.get_pipeline("zero")(mod)


def _tune_missing(tasks: list[Any], work: Path, trials: int, seed: int, rpc: Mapping[str, str] | None) -> list[Any]:
    """Tune the tasks the ledger lacks at ``trials`` (under the database's lock); return them."""
    with locked(work):
        done = ledger(work)
        todo = [t for t in tasks if done.get(_shash(t), {}).get("trials", 0) < trials]
        if todo:
            _tune(todo, work, trials, seed, rpc)
        refresh_best(work)
    return todo


def _database_name(work: Path, cache_dir: Path) -> str:
    return f"<cache>/{work.relative_to(cache_dir)}" if work.is_relative_to(cache_dir) else work.name


def _tune(todo: list[Any], work: Path, trials: int, seed: int, rpc: Mapping[str, str] | None) -> None:
    """Tune ``todo`` into the database of ``work`` (lock held), then add each to the ledger."""
    from tvm.s_tir import meta_schedule as ms

    fix_pack_sum()
    t0 = time.perf_counter()
    db = ms.database.JSONDatabase(work_dir=str(work))
    per_round = min(TRIALS_PER_ROUND, max(1, trials))
    population = population_size(per_round)
    strategy = ms.search_strategy.EvolutionarySearch(population_size=population,
                                                     init_min_unmeasured=min(50, population))
    contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(todo, str(work), seed=seed,
                                                                            strategy=strategy)
    ms.tune.tune_tasks(
        tasks=contexts, task_weights=weights, work_dir=str(work),
        max_trials_global=trials * len(contexts), max_trials_per_task=trials,
        num_trials_per_iter=per_round,
        builder=ms.builder.LocalBuilder(initializer=stub_tensor_intrin, timeout_sec=60.0),
        runner=_runner(rpc), database=db, cost_model="xgb")
    seconds = round(time.perf_counter() - t0, 2)
    with open(work / LEDGER, "a") as fh:
        for t in todo:
            fh.write(json.dumps({"workload": _shash(t), "task": t.task_name, "trials": trials,
                                 "seconds_with_batch": seconds, "tasks_in_batch": len(todo)}) + "\n")


def population_size(per_round: int) -> int:
    """The evolutionary search's population for ``per_round`` candidates measured per round.

    MetaSchedule evolves 512 candidates and measures the cost model's best 64 of them.  With
    fewer trials per round the extra candidates buy nothing: in a task's first round the cost
    model has seen none of the task, so it ranks them close to at random, while sampling and
    mutating 512 schedules costs about half of a short tuning run (measured here: 26 s against
    12 s for a 2-trial conv task, the rest being the builder and runner pools starting).  Eight
    candidates per measured one, up to MetaSchedule's own 512 (reached at 64 trials per round)."""
    return max(POPULATION_PER_TRIAL, min(POPULATION_MAX, POPULATION_PER_TRIAL * per_round))


def _shash(task: Any) -> str:
    import tvm_ffi  # TVM 0.27: structural_hash moved out of tvm.ir (docs/toolchain.md §8)

    return str(tvm_ffi.structural_hash(task.dispatched[0]))


def _has_record(db: Any, task_mod: Any) -> bool:
    if not db.has_workload(task_mod):
        return False
    return bool(db.get_top_k(db.commit_workload(task_mod), 1))


def _best_us(db: Any, task_mod: Any) -> float | None:
    """MetaSchedule's best measured run time of a task (its own timing of the kernel alone)."""
    top = db.get_top_k(db.commit_workload(task_mod), 1)
    secs = [float(getattr(s, "value", s)) for s in (top[0].run_secs or [])] if top else []
    return round(1e6 * sum(secs) / len(secs), 3) if secs else None


def tuning_note(report: Mapping[str, Any] | None, ignored: bool = False) -> str:
    """One line for the manifest's notes and ``nasc build``: how much of the build was tuned
    (``ignored``: the build was asked not to apply the database)."""
    if report is None and ignored:
        return "untuned, as asked: TVM's default schedules, whatever the tuning database holds"
    if report is None:
        return ("untuned: no MetaSchedule database for this target, and TVM's default CPU schedules are far "
                "slower than ONNX Runtime; tune the space once with `nasc profile SPACE --target cpu --backend "
                "tvm --tune` (or build with tune_trials)")
    n, missing = report["tasks"], report["not_covered"]
    tuned = f", {report['tasks_tuned_now']} tuned now ({report['trials_per_task']} trials each)" \
        if report["tasks_tuned_now"] else ""
    head = f"tuned: {n - len(missing)} of {n} TVM tasks have schedules from the database {report['database']}{tuned}"
    if not missing:
        return head
    return f"{head}; not covered (TVM default schedules): {', '.join(missing)}"


def databases_state(cache_dir: Path) -> str:
    """A digest of every tuning ledger under ``cache_dir`` ("" when there is none): it changes
    whenever any database gains tuned tasks, so a cached build (``nasc compile``'s build stage)
    is redone when the database it would apply has grown, without TVM to name the target."""
    ledgers = sorted((cache_dir / "tvm-metaschedule").glob(f"*/{LEDGER}"))
    if not ledgers:
        return ""
    text = "\n".join(f"{p.parent.name} {p.stat().st_size}" for p in ledgers)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
