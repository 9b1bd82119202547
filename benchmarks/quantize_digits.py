"""int8 vs fp32 of the digits example on ONNX Runtime (CPU): accuracy and measured latency side by side.

Steps (the real CLI, in subprocesses): ``nasc search examples/digits.nas``, ``nasc train``
(30 epochs), then ``nasc opt`` twice on the trained weights:

* fp32: ``fold-bn,fuse``                       -> model.onnx (float, BN folded)
* int8: ``fold-bn,fuse,quantize{calib=256}``   -> model.onnx (explicit Q/DQ, our parameters)

and, for context, the same float model quantized by ORT's own ``quantize_static`` through
the onnxruntime backend (``build_module`` -> ``nasc.backends.build(precision="int8")``)
with the same 256 calibration inputs.

Latency protocol (stated again in the JSON): both ONNX files are loaded into ONNX Runtime
sessions made by the onnxruntime backend (``make_session``: CPUExecutionProvider,
ORT_ENABLE_ALL, 2 intra-op threads, 1 inter-op thread), fed the same batch-1 input (a
test-split image), and timed with the backends' timing loop (``time_calls``: a sample is
the mean of ``number`` back-to-back calls, after ``warmup`` untimed calls).  Variants are
timed in rounds whose order alternates (forward, reversed) so machine noise hits all alike;
the report gives the median, p90 and min over all samples of each variant.  Every number
is ``measured locally`` on this machine; nothing is predicted.

    python benchmarks/quantize_digits.py [--out runs/quantize_digits] [--rounds 5]

Targets (exit code 1 when one is missed): int8 loses at most 1.0 point of test accuracy
vs fp32, and ONNX Runtime runs the int8 model on integer kernels (``QLinearConv``), i.e.
the explicit Q/DQ placement is one ORT can fuse.  The latency ratio
``int8_speedup_vs_fp32`` (fp32 median / int8 median) is reported, not targeted: on this
94k-MAC model int8 is not expected to win.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RATIO_CONVENTION, ROOT, Target, at_most, result_path, verdict, write_json  # noqa: E402
from nasc_cli import run_nasc  # noqa: E402
from ort_profile import us_per_call_by_op  # noqa: E402


def nasc(*args: str) -> None:
    """The CLI with one OpenMP thread unless the caller set one (search/train, not timed)."""
    run_nasc(*args, env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})


def ort_ops(path: Path) -> dict[str, int]:
    """Op types ONNX Runtime executes after its graph optimizations (QDQ -> QLinear* fusion)."""
    import onnx
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = str(path.with_suffix(".ort-optimized.onnx"))
    so.log_severity_level = 3
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    ops = collections.Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
    Path(so.optimized_model_filepath).unlink()
    return dict(sorted(ops.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "runs" / "quantize_digits"))
    ap.add_argument("--json", default=result_path("quantize_digits"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=60, help="samples per variant per round")
    ap.add_argument("--number", type=int, default=20, help="calls per sample")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1, help="test images per call (latency is per call)")
    args = ap.parse_args()

    from nasc.backends.base import MeasureProtocol
    from nasc.backends.hostinfo import cpu_model_name, has_vnni
    from nasc.backends.manifest import library_versions
    from nasc.backends.onnxruntime import make_session
    from nasc.backends.timing import SAMPLE, host_load, stats, time_calls

    out = Path(args.out)
    t0 = time.perf_counter()
    nasc("search", str(ROOT / "examples" / "digits.nas"), "--out", str(out))
    nasc("train", str(out / "arch.nas"), "--out", str(out / "train"))
    weights = out / "train" / "weights.safetensors"
    pipelines = {"fp32": "fold-bn,fuse", "int8": "fold-bn,fuse,quantize{calib=256}"}
    docs = {}
    for name, pipe in pipelines.items():
        nasc("opt", str(out / "arch.nas"), "-w", str(weights), "-p", pipe, "--out", str(out / f"opt_{name}"))
        docs[name] = json.loads((out / f"opt_{name}" / "opt.json").read_text())
    prepare_s = time.perf_counter() - t0

    from nasc import api
    from nasc.experiment import resolve, select
    from nasc.search.data import load_dataset

    exp, _ = select(api.load(ROOT / "examples" / "digits.nas").module, "digits")
    cfg = resolve(exp)
    x = {"x": load_dataset(cfg["dataset"], cfg["split"], cfg["seed"]).test.x[:args.batch].numpy()}
    # a third variant for context: the same float model quantized by ORT's own tool (the onnxruntime
    # backend's int8 flow, quantize_static) with the same 256 calibration inputs
    from nasc.backends import BuildOptions, build
    from nasc.passes import build_module

    models = {k: out / f"opt_{k}" / "model.onnx" for k in pipelines}
    if args.batch == 1:  # the backend's artifact has a static batch of 1, like its calibration inputs
        module, example, names, info = build_module(out / "opt_int8")
        build(module, example, target="cpu", backend="onnxruntime", out_dir=out / "ort_int8",
              options=BuildOptions(precision="int8", calibration=info.calibration, output_names=names))
        models["int8_ort_quantizer"] = out / "ort_int8" / "model.onnx"
    protocol = MeasureProtocol(warmup=50, repeats=args.repeats, number=args.number, threads=args.threads)
    sessions = {k: make_session(p, threads=args.threads) for k, p in models.items()}
    outputs = {k: s.run(None, x)[0] for k, s in sessions.items()}
    samples: dict[str, list[float]] = {k: [] for k in models}
    load_before = host_load()
    for r in range(args.rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for k in order:
            sess = sessions[k]
            samples[k] += time_calls(lambda: sess.run(None, x), protocol)
    load_after = host_load()

    latency = {}
    for k, s in samples.items():
        med, p90, low = stats(s)
        latency[k] = {"median_ms": med, "p90_ms": p90, "min_ms": low, "samples": len(s), "source": "measured",
                      "how": "measured locally", "model": os.path.relpath(models[k], ROOT), "ort_executes": ort_ops(models[k]),
                      "ort_profiler_us_per_call_by_op": us_per_call_by_op(models[k], x, args.threads)}
    acc_fp32 = docs["fp32"]["accuracy_after"]
    acc_int8 = docs["int8"]["accuracy_after"]
    loss_points = 100.0 * (docs["int8"]["accuracy_before"] - acc_int8)
    qconv = latency["int8"]["ort_executes"].get("QLinearConv", 0)
    targets = {"int8 test accuracy loss vs fp32 (points)": at_most(loss_points, 1.0, "points"),
               "QLinearConv kernels ONNX Runtime runs for the int8 model": Target(qconv > 0, qconv, "> 0")}
    doc = {
        "benchmark": "quantize_digits",
        "what": "fp32 vs int8 (nasc opt quantize, explicit QDQ) of the searched+trained digits arch on ONNX Runtime",
        "arch": docs["int8"]["arch"], "pipelines": pipelines,
        "accuracy": {"fp32_reference_torch": docs["int8"]["accuracy_before"], "fp32_onnxruntime": acc_fp32,
                     "int8_onnxruntime": acc_int8, "int8_torch_simulation": docs["int8"]["accuracy_after_torch"],
                     "int8_loss_points": loss_points, "test_samples": docs["int8"]["test_samples"],
                     "source": "held-out test split of sklearn:digits (seed 0), never seen by search or training"},
        "latency": latency,
        "int8_speedup_vs_fp32": latency["fp32"]["median_ms"] / latency["int8"]["median_ms"],
        "int8_ort_quantizer_speedup_vs_fp32": (latency["fp32"]["median_ms"] / latency["int8_ort_quantizer"]["median_ms"]
                                               if "int8_ort_quantizer" in latency else None),
        "ratio_convention": RATIO_CONVENTION,
        "protocol": {**protocol.to_dict(), "rounds": args.rounds, "order": "rotating (forward, then reversed)",
                     "timer": SAMPLE, "input": f"the first {args.batch} test-split image(s), float32 [{args.batch},1,8,8]",
                     "session": "nasc.backends.onnxruntime.make_session: CPUExecutionProvider, ORT_ENABLE_ALL, "
                                f"intra-op threads {args.threads}, inter-op 1",
                     "host_load_1min": {"before": load_before, "after": load_after}},
        "quantization": docs["int8"]["quantization"],
        "kernels": {"fp32": docs["fp32"]["kernels"], "int8": docs["int8"]["kernels"]},
        "max_abs_logit_diff_int8_vs_fp32": float(np.abs(outputs["int8"] - outputs["fp32"]).max()),
        "cpu": {"name": cpu_model_name(), "vnni": has_vnni(), "machine": platform.machine()},
        "versions": library_versions(["numpy", "onnx", "onnxruntime", "torch", "nasc"]),
        "prepare_wall_s": prepare_s,
    }
    write_json(doc, args.json, targets)
    print(f"test accuracy: fp32 {acc_fp32:.4f}  int8 {acc_int8:.4f}  ({loss_points:+.2f} points lost; "
          f"{doc['accuracy']['test_samples']} samples)")
    for k, v in latency.items():
        print(f"{k}: median {v['median_ms'] * 1e3:.1f} us  p90 {v['p90_ms'] * 1e3:.1f} us  min {v['min_ms'] * 1e3:.1f} us"
              f"  ({v['samples']} samples x {args.number} calls, measured locally, ORT {args.threads} threads)")
    print(f"int8_speedup_vs_fp32 (fp32 median / int8 median) {doc['int8_speedup_vs_fp32']:.2f}; "
          f"host load {load_before} -> {load_after}")
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
