"""Optimization passes on the decided Arch IR: fold-bn, fuse, mixed-precision, quantize.

Processing order inside this package::

    lower.from_arch      decided IR + ArchNet weights -> primitive OptIR (composites expanded)
    base.parse_pipeline  "fold-bn,fuse,mixed-precision{dtype=fp16},quantize{calib=256}"
    PassPipeline.run     each pass: OptIR -> OptIR (+ stats); instruments print/verify/time
    onnx_export          OptIR -> ONNX with casts and explicit Q/DQ
    execute.OptNet       OptIR -> torch module (the reference every pass is tested against)
    artifact             ir.json + weights.safetensors -> build_module() for the backends

Importing this package is cheap (the CLI builds its parser from it); torch loads when a
pass, the executor or the driver is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BuiltModule", "OptIR", "PassRegistry", "PrecisionInfo", "build_module", "default_registry",
           "load_opt", "optimize", "parse_pipeline"]

_LAZY = {
    "BuiltModule": "artifact", "PrecisionInfo": "artifact", "build_module": "artifact", "load_opt": "artifact",
    "OptIR": "ir", "PassRegistry": "base", "parse_pipeline": "base", "default_registry": "registry",
    "optimize": "driver",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'nasc.passes' has no attribute {name!r}")
