#!/usr/bin/env python3
"""Run a nasc GPU artifact on its device, in the best form the device can run (copied into
every Jetson/cuda artifact as ``run_on_device.py``; needs only Python 3 and the form's runtime).

    python3 run_on_device.py [--form auto|tensorrt|tvm] [--repeats 30] [--number 10] [--warmup 10]

Before anything is loaded it checks every file against the sha256s in manifest.json and that
no listed path leaves the folder (``--no-verify`` skips the sha256 part for artifacts edited
on purpose); the only files allowed that the manifest does not list are the TensorRT engine
and timing cache this script builds on the device.  ``auto`` takes TensorRT when its engine is
built or the ``tensorrt`` Python package is installed to build it (``tensorrt/build_engine.py``:
the engine is built for this GPU, then timed), else the TVM library (``tvm/run_on_device.py``:
checked against the reference outputs, then timed with TVM's time_evaluator).  Either prints
one JSON latency record that states its protocol (warmup, repeats, calls per sample, timer).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

DEVICE_BUILT = ("tensorrt/model.engine", "tensorrt/timing.cache")


def problems(root: Path, files: dict, contents: bool) -> list[str]:
    """Listed paths that leave the folder, files missing or changed, files not listed."""
    real = root.resolve()
    out = []
    for name, digest in files.items():
        path = root / name
        if not isinstance(name, str) or name.startswith("/") or ".." in name.split("/") \
                or real not in path.resolve().parents:
            out.append(f"{name!r}: outside the artifact")
        elif contents and not path.is_file():
            out.append(f"{name}: missing")
        elif contents and hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            out.append(f"{name}: changed")
    for folder, _, names in os.walk(root):
        for n in names:
            rel = (Path(folder) / n).relative_to(root).as_posix()
            if contents and rel not in files and rel != "manifest.json" and rel not in DEVICE_BUILT:
                out.append(f"{rel}: present but not listed in the manifest")
    return out


def choose(root: Path, manifest: dict, wanted: str) -> tuple[str, str]:
    """The form to run and why."""
    forms = {name: rec for name, rec in manifest["forms"].items() if rec.get("built")}
    if wanted != "auto":
        if wanted not in forms:
            raise SystemExit(f"this artifact has no {wanted} form (it has: {', '.join(forms)})")
        return wanted, "asked for with --form"
    if "tensorrt" in forms:
        if (root / "tensorrt" / "model.engine").is_file():
            return "tensorrt", "its engine is built"
        spec = importlib.util.find_spec("tensorrt")  # the folder tensorrt/ next to this script is no package
        if spec is not None and spec.origin is not None:
            return "tensorrt", "TensorRT is installed: the engine is built for this GPU first"
    if "tvm" in forms:
        return "tvm", "TensorRT is not installed here" if "tensorrt" in forms else "the only form"
    raise SystemExit("neither TensorRT (not installed) nor a TVM library can run this artifact here")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--form", choices=["auto", "tensorrt", "tvm"], default="auto")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--number", type=int, default=10)
    ap.add_argument("--no-verify", action="store_true", help="skip the sha256 check of the files")
    args = ap.parse_args()

    root = Path(__file__).resolve().parent
    manifest = json.loads((root / "manifest.json").read_text())
    bad = problems(root, manifest.get("files") or {}, contents=not args.no_verify)
    if bad:
        print(f"{root} does not match its manifest.json; nothing was loaded:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 2
    form, why = choose(root, manifest, args.form)
    print(f"form: {form} ({why})", file=sys.stderr)
    timing = ["--warmup", str(args.warmup), "--repeats", str(args.repeats), "--number", str(args.number)]
    if form == "tensorrt":
        cmd = [sys.executable, str(root / "tensorrt" / "build_engine.py"), "--measure", *timing]
    else:
        cmd = [sys.executable, str(root / "tvm" / "run_on_device.py"), str(root / "tvm"), *timing]
        cmd += ["--no-verify"] if args.no_verify else []
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
