"""Optimization passes on the decided Arch IR: fold-bn, fuse, mixed-precision, quantize.

Processing order inside this package::

    from_arch.from_arch  decided IR + ArchNet weights -> primitive OptIR (composites expanded)
    base.parse_pipeline  "fold-bn,fuse,mixed-precision{dtype=fp16},quantize{calib=256}"
    PassPipeline.run     each pass (transforms/): OptIR -> OptIR (+ stats); instruments print/verify/time
    onnx_export          OptIR -> ONNX with casts and explicit Q/DQ
    execute.OptNet       OptIR -> torch module (the reference every pass is tested against)
    artifact             ir.json + weights.safetensors -> build_module() for the backends

The passes are in :mod:`nasc.passes.transforms`, one per module; beside it are what they
share: the IR (``optir``, ``side_tables``), ``roles``, ``kernels`` (kernel-unit planning),
``signature``, ``quant_math``, ``observers``, and the verifier (``verify``).
``opt_command`` is the ``nasc opt`` subcommand and ``driver`` its library function.

Importing this package is cheap (the CLI builds its parser from it); torch loads when a
pass, the executor or the driver is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BuiltModule", "OptIR", "PassRegistry", "PrecisionInfo", "build_module", "default_registry",
           "load_opt", "optimize", "parse_pipeline"]

_LAZY = {
    "BuiltModule": "artifact", "PrecisionInfo": "artifact", "build_module": "artifact", "load_opt": "artifact",
    "OptIR": "optir", "PassRegistry": "base", "parse_pipeline": "base", "default_registry": "registry",
    "optimize": "driver",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'nasc.passes' has no attribute {name!r}")
