"""nasc backends: build deployable artifacts from a torch module and measure their latency.

Importing this package is cheap on purpose: no torch, TVM, ONNX Runtime or TensorRT is
imported until a backend is used (``python -c "import nasc.backends"`` must stay fast,
and a machine without the [tvm] extra must still list targets).

Entry points for the frontend and CLI::

    from nasc.backends import build, measure, load_and_run, BuildOptions, MeasureProtocol
    art = build(module, {"x": x}, target="cpu", backend="auto", out_dir="out/")
    rec = measure(art, MeasureProtocol(repeats=50))
"""

from __future__ import annotations

from typing import Any

from .base import (Artifact, Backend, BackendUnavailable, BuildError, BuildOptions, KernelPlan, KernelStep, KernelTime,
                   LatencyRecord, MeasureProtocol, MeasurementUnavailable, Target)
from .integrity import ArtifactIntegrityError, verify_artifact, verify_files
from .manifest import load_artifact
from .registry import ENTRY_POINT_GROUP, availability, backend_names, get_backend
from .targets import get_target, known_targets, list_targets

__all__ = [
    "Artifact", "Backend", "BackendUnavailable", "BuildError", "BuildOptions", "ENTRY_POINT_GROUP", "KernelPlan",
    "KernelStep",
    "KernelTime", "LatencyRecord", "MeasureProtocol", "MeasurementUnavailable", "Target", "availability",
    "backend_names", "build", "describe_targets", "get_backend", "get_target", "known_targets",
    "list_targets", "load_and_run", "load_runner", "load_artifact", "measure", "verify_files", "ArtifactIntegrityError",
    "tune_kernels", "verify_artifact",
]


def __getattr__(name: str) -> Any:
    # api.py pulls in numpy; keep it out of the bare package import.
    if name in ("build", "measure", "load_and_run", "load_runner", "describe_targets", "tune_kernels"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'nasc.backends' has no attribute {name!r}")
