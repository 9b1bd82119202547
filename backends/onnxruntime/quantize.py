"""Static int8 QDQ quantisation with ONNX Runtime's tooling (the recipe in docs/toolchain.md §1).

QDQ (QuantizeLinear/DequantizeLinear pairs around float ops) is the format both ORT and
TensorRT consume, so the same function serves the TensorRT backend (with symmetric
activations, which TensorRT requires).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np


def calibration_batches(input_shapes: Mapping[str, tuple[tuple[int, ...], str]], n: int, seed: int,
                        given: Sequence[Mapping[str, Any]] | None,
                        origin: str = "") -> tuple[list[dict[str, np.ndarray]], str]:
    """The calibration inputs and a sentence saying where they came from (for the manifest).

    ``given`` batches are the caller's (nasc draws them from the experiment's training split,
    ``nasc.calibration``, and names that in ``origin``); only without them are random-normal
    batches made here."""
    if given is not None:
        said = f"samples of {origin}" if origin else "user-supplied batches"
        return [{k: np.asarray(v) for k, v in b.items()} for b in given], f"{len(given)} {said}"
    rng = np.random.default_rng(seed)
    batches = [{k: rng.standard_normal(shape).astype(dtype) for k, (shape, dtype) in input_shapes.items()}
               for _ in range(n)]
    return batches, (f"{n} random-normal batches (seed {seed}): fine for latency, "
                     "supply real data for accuracy")


QDQ_KEY = "qdq_onnx"
"""``BuildOptions.extra`` key of an int8 model already quantized with explicit Q/DQ (``nasc opt``'s
``model.onnx``): ``{"path": ..., "activations": "s8 per-tensor symmetric", "origin": ...}``."""


def given_qdq(extra: Mapping[str, Any], out_onnx: Path, *, symmetric: bool) -> dict[str, Any] | None:
    """Copy the caller's explicit Q/DQ model into the artifact, so the artifact computes with the
    quantization its pass chose (and measured); None when there is none, or when ``symmetric``
    activations are needed (TensorRT) and it has asymmetric ones -- the backend quantizes then."""
    given = extra.get(QDQ_KEY)
    if not isinstance(given, Mapping):
        return None
    activations = str(given.get("activations", ""))
    if symmetric and not activations.startswith("s8"):
        return None
    import shutil

    shutil.copyfile(given["path"], out_onnx)
    return {"format": "QDQ", "activations": activations, "source": str(given.get("origin", given["path"]))}


def quantize_qdq(fp32_onnx: Path, out_onnx: Path, batches: list[dict[str, np.ndarray]], *,
                 reduce_range: bool, symmetric_activations: bool = False) -> dict[str, Any]:
    """Write a QDQ int8 model (s8 per-channel weights) and return the settings used."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    activation = QuantType.QInt8 if symmetric_activations else QuantType.QUInt8
    extra = {"ActivationSymmetric": True, "WeightSymmetric": True} if symmetric_activations else {}
    with tempfile.TemporaryDirectory(prefix="nasc-quant-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_onnx), str(pre))
        quantize_static(str(pre), str(out_onnx), _Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=activation, weight_type=QuantType.QInt8, per_channel=True,
                        reduce_range=reduce_range, extra_options=extra)
    return {"format": "QDQ", "activations": "s8 symmetric" if symmetric_activations else "u8",
            "weights": "s8 per-channel", "reduce_range": reduce_range}
