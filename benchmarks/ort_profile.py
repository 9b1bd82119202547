"""ONNX Runtime's own per-kernel profile of a model (its session profiler).

Why a separate pass: profiling slows every call, so it never feeds a latency; it only
says *where* the time of a measured latency goes (which node, which op type).
"""

from __future__ import annotations

import collections
import json
import statistics
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np


def kernel_times(model: Path, feeds: Mapping[str, np.ndarray], threads: int,
                 calls: int) -> list[tuple[str, str, float]]:
    """(node name, op type, microseconds) of every kernel run during ``calls`` runs, with
    the session options the onnxruntime backend uses (ORT_ENABLE_ALL, 1 inter-op thread)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.enable_profiling = True
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with tempfile.TemporaryDirectory(prefix="nasc-ort-profile-") as tmp:
        so.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        for _ in range(calls):
            sess.run(None, dict(feeds))
        events = json.loads(Path(sess.end_profiling()).read_text())
    suffix = "_kernel_time"
    return [(e["name"][: -len(suffix)], e.get("args", {}).get("op_name", ""), float(e["dur"]))
            for e in events if e.get("cat") == "Node" and e.get("name", "").endswith(suffix)]


def us_per_call_by_op(model: Path, feeds: Mapping[str, np.ndarray], threads: int, calls: int = 200) -> dict[str, float]:
    """Mean microseconds per call spent in each op type, largest first."""
    per_op: collections.Counter[str] = collections.Counter()
    for _, op, us in kernel_times(model, feeds, threads, calls):
        per_op[op] += us
    return {k: round(v / calls, 2) for k, v in per_op.most_common()}


def top_nodes(model: Path, feeds: Mapping[str, np.ndarray], threads: int, calls: int = 50,
              top: int = 15) -> list[dict[str, object]]:
    """The ``top`` nodes by median microseconds per run."""
    per: dict[str, list[float]] = collections.defaultdict(list)
    ops: dict[str, str] = {}
    for node, op, us in kernel_times(model, feeds, threads, calls):
        per[node].append(us)
        ops[node] = op
    rows = [{"node": n, "op": ops[n], "median_us": statistics.median(v)} for n, v in per.items()]
    return sorted(rows, key=lambda r: -float(r["median_us"]))[:top]
