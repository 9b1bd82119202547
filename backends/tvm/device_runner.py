#!/usr/bin/env python3
"""Run and time a nasc TVM artifact on the device it was built for (copied into artifacts
as ``run_on_device.py``; needs only numpy and TVM's Python package on the device).

    python3 run_on_device.py [ARTIFACT_DIR] [--device cuda|cpu] [--repeats 30] [--number 10]

Before loading anything it checks every file against the sha256s of manifest.json and that
no listed path leaves the folder (the library is native code; ``--no-verify`` skips the
sha256 part for artifacts edited on purpose).  It checks the outputs against the torch
reference saved at build time (io_check.npz), then prints one JSON latency record
(median/p90 over repeats).  If the manifest says the CUDA code is *source*, TVM compiles
it at load time with nvcc (or NVRTC), which must be installed on the device.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
from pathlib import Path


def problems(art: Path, manifest: dict, contents: bool) -> list[str]:
    """This script's own check (it runs where nasc is not installed): paths stay inside the
    folder, the entry is listed, and with ``contents`` every listed file has its sha256."""
    root = art.resolve()
    files = manifest.get("files") or {}
    out = []
    for name in [*files, manifest.get("entry")]:
        if not isinstance(name, str) or name.startswith("/") or ".." in name.split("/") \
                or root not in (art / name).resolve().parents:  # (Path.is_relative_to needs Python 3.9)
            out.append(f"{name!r}: outside the artifact")
    if out or manifest["entry"] not in files:
        return out or [f"{manifest['entry']}: the entry is not listed in the manifest"]
    for name, digest in files.items() if contents else ():
        path = art / name
        if not path.is_file():
            out.append(f"{name}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            out.append(f"{name}: changed")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", nargs="?", default=str(Path(__file__).resolve().parent))
    ap.add_argument("--device", choices=["cpu", "cuda"], default=None)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--number", type=int, default=10)
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--no-verify", action="store_true", help="skip the sha256 check of the files")
    args = ap.parse_args()

    art = Path(args.artifact)
    manifest = json.loads((art / "manifest.json").read_text())
    bad = problems(art, manifest, contents=not args.no_verify)
    if bad:
        print(f"{art} does not match its manifest.json; nothing was loaded:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 2
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
