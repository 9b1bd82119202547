"""ONNX export shared by the ONNX Runtime and TensorRT backends.

The legacy TorchScript exporter (``dynamo=False``) is used on purpose: torch 2.13's
default dynamo exporter needs ``onnxscript`` and takes ~7 s, the legacy one needs
nothing extra.  Inputs and outputs get the caller's names so ORT/TensorRT bindings and
device scripts can address them.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from ..base import BuildError
from .model import to_tensors

OPSET = 17


def export_onnx(model: torch.nn.Module, example_inputs: Mapping[str, np.ndarray], path: Path,
                output_names: Sequence[str], opset: int = OPSET) -> Path:
    """Export an eval-mode model with static shapes (latency is measured at fixed shapes)."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
        try:
            torch.onnx.export(model, to_tensors(example_inputs), str(path), dynamo=False, opset_version=opset,
                              input_names=list(example_inputs), output_names=list(output_names),
                              do_constant_folding=True)
        except Exception as e:  # the exporter raises many unrelated types; all mean "cannot export"
            raise BuildError(f"ONNX export (opset {opset}) failed: {type(e).__name__}: {e}") from e
    return path
