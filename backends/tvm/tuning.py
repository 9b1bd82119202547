"""MetaSchedule tuning with a workload-keyed JSON database shared across builds.

Why a shared database: NAS builds many architectures made of the same few block shapes.
MetaSchedule keys records by the structural hash of each fused kernel (weights are
arguments, not constants, after BN folding), so a kernel seen in an earlier build is
found in the database and *skipped*: only unseen kernels get trials.  A file lock keeps
concurrent builds from interleaving writes.

Two TVM 0.27 workarounds: ``stub_tensor_intrin`` avoids the 55 s
``import tvm.s_tir.tensor_intrin`` in every builder worker (which makes LocalBuilder time
out), and it still imports the x86/arm intrinsics because the default CPU schedule rules
reference them (e.g. ``dot_16x4_vnni`` on VNNI hosts).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import importlib.util
import json
import sys
import time
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

STUB_NAME = "tvm.s_tir.tensor_intrin"


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


def workdir_for(cache_dir: Path, tgt: Any) -> Path:
    """One database per exact TVM target (schedules do not transfer between CPUs)."""
    key = hashlib.sha256(str(tgt).encode()).hexdigest()[:16]
    path = cache_dir / "tvm-metaschedule" / key
    path.mkdir(parents=True, exist_ok=True)
    (path / "target.json").write_text(json.dumps({"target": str(tgt)}) + "\n")
    return path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    with open(path / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def tune_and_apply(mod: Any, tgt: Any, trials_per_task: int, cache_dir: Path, seed: int) -> tuple[Any, dict[str, Any]]:
    """Tune unseen kernels of ``mod`` and return (module with schedules applied, report)."""
    from tvm import relax

    stub_tensor_intrin()
    from tvm.s_tir import meta_schedule as ms

    work = workdir_for(cache_dir, tgt)
    with tgt:
        zmod = relax.get_pipeline("zero")(mod)  # Legalize + FuseOps/FuseTIR: one task per fused kernel
    tasks = ms.relax_integration.extract_tasks(zmod, tgt)
    t0 = time.perf_counter()
    with locked(work):
        db = ms.database.JSONDatabase(work_dir=str(work))
        todo = [t for t in tasks if not _has_record(db, t.dispatched[0])]
        if todo:
            contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
                todo, str(work), seed=seed)
            ms.tune.tune_tasks(
                tasks=contexts, task_weights=weights, work_dir=str(work),
                max_trials_global=trials_per_task * len(contexts), max_trials_per_task=trials_per_task,
                num_trials_per_iter=min(64, max(1, trials_per_task)),
                builder=ms.builder.LocalBuilder(initializer=stub_tensor_intrin, timeout_sec=60.0),
                runner=ms.runner.LocalRunner(), database=db, cost_model="xgb")
        tuning_s = time.perf_counter() - t0
        with tgt, db:
            tuned = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(zmod)
    report = {
        "trials_per_task": trials_per_task,
        "tasks": len(tasks),
        "tasks_tuned_now": len(todo),
        "tasks_from_database": len(tasks) - len(todo),
        "tuning_seconds": round(tuning_s, 2),
        "database": f"<cache>/{work.relative_to(cache_dir)}" if work.is_relative_to(cache_dir) else work.name,
        "task_names": [t.task_name for t in tasks],
    }
    return tuned, report


def _has_record(db: Any, task_mod: Any) -> bool:
    if not db.has_workload(task_mod):
        return False
    return bool(db.get_top_k(db.commit_workload(task_mod), 1))
