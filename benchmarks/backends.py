"""Batch-1 CPU latency of the same architectures on every backend, in one run, as JSON.

    .venv/bin/python benchmarks/backends.py --out bench_backends.json [--trials 8] [--models digits,mbv2]

For each model: torch eager, ONNX Runtime fp32 and int8, TVM untuned, TVM tuned with
MetaSchedule (``--trials`` per kernel; 0 skips it), and ``--backend auto`` over the fp32
candidates.  Every figure is a LatencyRecord (median/p90 under one stated protocol, source
"measured").  Ratios are to ONNX Runtime fp32.  For the tuned TVM build the per-kernel
times are listed next to ONNX Runtime's per-node profile, which is how the gap is
explained kernel by kernel.  Expect minutes per model with tuning (TOOLCHAIN.md: ~4-7 min
at 8 trials/kernel on 2 cores); the tuning database in --cache makes re-runs cheap.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backend_models import models  # noqa: E402

import nasc.backends as nb  # noqa: E402
from nasc.backends import BuildOptions, MeasureProtocol  # noqa: E402
from nasc.backends.auto import build_auto  # noqa: E402
from nasc.backends.hostinfo import cpu_model_name  # noqa: E402
from nasc.backends.manifest import library_versions  # noqa: E402


def ort_node_profile(onnx_path: Path, feeds: dict[str, np.ndarray], runs: int, threads: int) -> list[dict[str, Any]]:
    """ONNX Runtime's own per-node timing (session profiling), median us per run, top 15."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        so.profile_file_prefix = str(Path(tmp) / "ort")
        sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        for _ in range(runs):
            sess.run(None, feeds)
        events = json.loads(Path(sess.end_profiling()).read_text())
    per: dict[str, list[float]] = collections.defaultdict(list)
    ops: dict[str, str] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            name = e["name"][: -len("_kernel_time")]
            per[name].append(float(e["dur"]))
            ops[name] = e.get("args", {}).get("op_name", "")
    rows = [{"node": n, "op": ops[n], "median_us": float(np.median(v[-runs:]))} for n, v in per.items()]
    return sorted(rows, key=lambda r: -r["median_us"])[:15]


def run(args: argparse.Namespace) -> dict[str, Any]:
    proto = MeasureProtocol(warmup=args.warmup, repeats=args.repeats, number=args.number, threads=args.threads,
                            isolate=args.isolate)
    cpu = nb.get_target("cpu")
    report: dict[str, Any] = {"protocol": proto.to_dict(), "cpu": cpu_model_name(),
                              "versions": library_versions(), "load_1min_start": os.getloadavg()[0], "models": {}}
    work = Path(args.workdir)
    for name, (model, shape) in models(args.resolution, Path(args.workdir)).items():
        if name not in args.models:
            continue
        x = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        configs = [("torch", "torch", BuildOptions()),
                   ("onnxruntime fp32", "onnxruntime", BuildOptions()),
                   ("onnxruntime int8", "onnxruntime", BuildOptions(precision="int8")),
                   ("tvm untuned", "tvm", BuildOptions())]
        if args.trials:
            configs.append((f"tvm tuned ({args.trials} trials/kernel)", "tvm",
                            BuildOptions(tune_trials=args.trials, cache_dir=args.cache)))
        rows: dict[str, Any] = {}
        artifacts = {}
        for label, backend, opts in configs:
            t0 = time.perf_counter()
            art = nb.build(model, x, target=cpu, backend=backend, options=opts,
                           out_dir=work / name / label.replace(" ", "_").replace("/", "-"))
            build_s = time.perf_counter() - t0
            per_kernel = backend == "tvm" and opts.tune_trials > 0
            rec = nb.measure(art, MeasureProtocol(**{**proto.to_dict(), "per_kernel": per_kernel}))
            out = nb.load_and_run(art, x)[0]
            ref = np.load(art.dir / "io_check.npz")[f"output.{art.output_names[0]}"]
            rows[label] = {"median_ms": rec.median_ms, "p90_ms": rec.p90_ms, "source": rec.source, "how": rec.how,
                           "build_seconds": round(build_s, 2),
                           "max_abs_err_rel": float(np.abs(out - ref).max() / np.abs(ref).max()),
                           "tuning": art.details.get("tuning") if backend == "tvm" else None,
                           "per_kernel_top": [k.to_dict() for k in rec.per_kernel[:15]]}
            artifacts[label] = art
            print(f"{name:7s} {label:28s} {rec.median_ms:9.3f} ms  (build {build_s:.1f} s)", flush=True)
        base = rows["onnxruntime fp32"]["median_ms"]
        for r in rows.values():
            r["ratio_to_ort_fp32"] = r["median_ms"] / base
        t0 = time.perf_counter()
        auto = build_auto(model, x, cpu, BuildOptions(), work / name / "auto", proto)
        sel = json.loads((auto.dir / "manifest.json").read_text())["selection"]
        rows["auto"] = {"chosen": sel["chosen"], "candidates": sel["candidates"],
                        "build_seconds": round(time.perf_counter() - t0, 2)}
        best_single = min(c["median_ms"] for c in sel["candidates"].values() if c["status"] == "measured")
        rows["auto"]["median_ms"] = sel["candidates"][sel["chosen"]]["median_ms"]
        rows["auto"]["never_slower_than_best_single"] = rows["auto"]["median_ms"] <= best_single
        rows["ort_profile_top"] = ort_node_profile(artifacts["onnxruntime fp32"].entry_path, x, 50, args.threads)
        report["models"][name] = rows
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench_backends.json")
    ap.add_argument("--models", default="digits,mbv2")
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--trials", type=int, default=8, help="MetaSchedule trials per kernel (0: skip tuned TVM)")
    ap.add_argument("--cache", default=None, help="tuning database folder (default ~/.cache/nasc)")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "nasc-bench-backends"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--number", type=int, default=5)
    ap.add_argument("--isolate", action="store_true")
    args = ap.parse_args()
    args.models = args.models.split(",")
    report = run(args)
    report["load_1min_end"] = os.getloadavg()[0]
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
