"""Every deployable form of one model for a GPU target (Jetson, cuda), in one artifact folder.

Why several forms: which one a device can run depends on what it has installed (TensorRT
builds engines only on the GPU that runs them; TVM's library needs its runtime), and the
build host has no GPU to decide with.  So a GPU build ships them all::

    manifest.json      format nasc-bundle/1: the forms, the primary one, and the sha256 of
                       every file below (each form's own manifest.json included)
    run_on_device.py   checks those hashes, then runs the TensorRT engine if it is built or
                       TensorRT is installed to build it, else the TVM library; prints latency
    tensorrt/          model.onnx (explicit Q/DQ for int8), build_engine.sh/.py, io_check.npz
    tvm/               the cross-compiled library with its device code, its run_on_device.py

Each form is a complete artifact with its own verified manifest, so ``nasc measure DIR/tvm``
works as for a single build, and ``nasc measure DIR`` takes the primary form
(:func:`~nasc.backends.manifest.load_artifact` follows ``primary`` after checking the
bundle's hashes).  The primary form is the TensorRT engine when one was built here, else the
TVM library (the form with code ready to run), else TensorRT's scripts.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from nasc.errors import NascError
from nasc.fsio import atomic_write

from .base import Artifact, BuildOptions, Target
from .common import prepare_out_dir
from .integrity import MANIFEST
from .manifest import BUNDLE_FORMAT, hash_tree, library_versions, load_artifact
from .registry import get_backend

__all__ = ["Form", "build_bundle", "RUNNER"]

RUNNER = "run_on_device.py"


@dataclass(frozen=True)
class Form:
    """One form to build: its backend, the options it is built with, and why they differ from
    the requested ones when they do (``TVM has no int8: built at fp16``)."""

    backend: str
    options: BuildOptions
    note: str = ""


def build_bundle(model: Any, example_inputs: Mapping[str, np.ndarray], target: Target, forms: Sequence[Form],
                 out_dir: Path, precision: str) -> Artifact:
    """Build each form into ``out_dir/<backend>``; a form that cannot build here is recorded
    with its reason (at least one must build).  Returns the primary form's artifact."""
    out = prepare_out_dir(out_dir)
    built: dict[str, Artifact] = {}
    records: dict[str, dict[str, Any]] = {}
    for form in forms:
        backend = get_backend(form.backend)
        ok, why = backend.available(target)
        if not ok:
            records[form.backend] = {"built": False, "reason": why}
            continue
        art = backend.build(model, example_inputs, target, form.options, out / form.backend)
        built[form.backend] = art
        records[form.backend] = {"built": True, "dir": form.backend, "backend": art.backend,
                                 "precision": art.precision, "entry": f"{form.backend}/{art.entry}",
                                 "complete": bool(art.details.get("complete", True)),
                                 "notes": [n for n in (form.note, *art.notes) if n]}
    if not built:
        raise NascError(f"no form could be built for {target.name}: "
                        + "; ".join(f"{n}: {r['reason']}" for n, r in records.items()))
    primary = _primary(built)
    shutil.copyfile(Path(__file__).with_name("bundle_runner.py"), out / RUNNER)
    manifest = {"format": BUNDLE_FORMAT, "target": target.to_dict(), "precision": precision, "primary": primary,
                "forms": records, "runner": RUNNER, "versions": library_versions(),
                "files": hash_tree(out)}
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return load_artifact(out)


def _primary(built: Mapping[str, Artifact]) -> str:
    trt = built.get("tensorrt")
    if trt is not None and trt.details.get("engine", {}).get("built"):
        return "tensorrt"
    if "tvm" in built:
        return "tvm"
    return next(iter(built))
