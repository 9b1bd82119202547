#!/usr/bin/env python3
"""Run and time a nasc TVM artifact on the device it was built for (copied into artifacts
as ``run_on_device.py``; needs only numpy and TVM's Python package on the device).

    python3 run_on_device.py [ARTIFACT_DIR] [--device cuda|cpu] [--repeats 30] [--number 10]

It checks the outputs against the torch reference saved at build time (io_check.npz),
then prints one JSON latency record (median/p90 over repeats).  If the manifest says the
CUDA code is *source*, TVM compiles it at load time with nvcc (or NVRTC), which must be
installed on the device.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", nargs="?", default=str(Path(__file__).resolve().parent))
    ap.add_argument("--device", choices=["cpu", "cuda"], default=None)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--number", type=int, default=10)
    ap.add_argument("--no-check", action="store_true")
    args = ap.parse_args()

    art = Path(args.artifact)
    manifest = json.loads((art / "manifest.json").read_text())
    kind = manifest["target"]["kind"]
    device = args.device or ("cpu" if kind == "cpu" else "cuda")
    if manifest.get("details", {}).get("device_code", {}).get("form") == "source":
        os.environ.setdefault("TVM_CUDA_COMPILE_MODE", "nvcc")

    import numpy as np
    import tvm

    if device == "cuda":
        import tvm.support.nvcc  # noqa: F401  registers tvm_callback_cuda_compile (source-form artifacts)
    from tvm.runtime.vm import VirtualMachine

    dev = tvm.cuda(0) if device == "cuda" else tvm.cpu(0)
    lib = tvm.runtime.load_module(str(art / manifest["entry"]))
    vm = VirtualMachine(lib, dev)
    io = np.load(art / "io_check.npz")
    names = list(manifest["input_shapes"])
    inputs = [tvm.runtime.tensor(io[f"input.{n}"], dev) for n in names]

    check = None
    if not args.no_check:
        out = vm["main"](*inputs)
        outs = [out] if hasattr(out, "numpy") else list(out)
        ref = [io[f"output.{n}"] for n in manifest["output_names"]]
        diffs = [float(np.abs(o.numpy() - r).max()) for o, r in zip(outs, ref)]
        scale = max(float(np.abs(r).max()) for r in ref) or 1.0
        check = {"max_abs_diff": max(diffs), "relative_to_output_scale": max(diffs) / scale}

    if args.warmup:
        vm.time_evaluator("main", dev, number=args.warmup, repeat=1)(*inputs)
    res = vm.time_evaluator("main", dev, number=args.number, repeat=args.repeats)(*inputs)
    ms = sorted(r * 1e3 for r in res.results)
    record = {
        "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)), "min_ms": ms[0],
        "repeats": args.repeats, "source": "measured",
        "how": f"measured on device by run_on_device.py ({platform.node()}, {device})",
        "protocol": {"warmup": args.warmup, "repeats": args.repeats, "number": args.number,
                     "timer": "tvm time_evaluator", "inputs": "io_check.npz"},
        "backend": manifest["backend"], "target": manifest["target"]["name"],
        "precision": manifest["precision"], "versions": {"tvm": tvm.__version__, "numpy": np.__version__},
        "check": check,
    }
    print(json.dumps(record, indent=2))
    return 0 if check is None or check["relative_to_output_scale"] < 1e-2 else 1


if __name__ == "__main__":
    sys.exit(main())
