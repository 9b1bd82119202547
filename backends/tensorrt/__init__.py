"""TensorRT backend: ONNX (explicit Q/DQ for int8) -> engine, fp32/fp16/int8, timing cache.

TensorRT engines are tied to one GPU model and TensorRT version, and TensorRT needs an
NVIDIA GPU to build at all.  So where there is no GPU (this project's CI, any build host
for a Jetson) ``build`` still succeeds: it writes the ONNX model, ``build_engine.sh``
(trtexec) and ``build_engine.py`` (Python API) for the device and marks the artifact
"engine: not built (no GPU)".  ``tensorrt`` is imported only when an engine is built or run.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..base import Artifact, BuildOptions, LatencyRecord, MeasureProtocol, MeasurementUnavailable, Target
from ..common import cache_root, check_request, prepare_out_dir
from ..hostinfo import local_gpu_arch
from ..isolation import measure_maybe_isolated
from ..manifest import library_versions, write_manifest
from ..procs import owned_tempdir
from ..timing import make_record, random_inputs

__all__ = ["TensorRTBackend", "NOT_BUILT"]

NOT_BUILT = "engine: not built (no GPU)"
TRTEXEC_FLAGS = {"fp32": "", "fp16": " --fp16", "int8": " --int8"}


def build_script(precision: str) -> str:
    return f"""#!/bin/sh
# Build the TensorRT engine on the device it will run on (engines are GPU- and version-specific).
# Equivalent Python route: python3 build_engine.py --precision {precision} [--measure]
set -e
cd "$(dirname "$0")"
TRTEXEC="${{TRTEXEC:-$(command -v trtexec || echo /usr/src/tensorrt/bin/trtexec)}}"
"$TRTEXEC" --onnx=model.onnx --saveEngine=model.engine --timingCacheFile=timing.cache{TRTEXEC_FLAGS[precision]} "$@"
# Latency on the device: "$TRTEXEC" --loadEngine=model.engine --warmUp=200 --iterations=300
"""


class TensorRTBackend:
    """NVIDIA TensorRT through its Python API (builds on GPU machines, scripts elsewhere)."""

    name = "tensorrt"
    precisions = ("fp32", "fp16", "int8")

    def available(self, target: Target) -> tuple[bool, str]:
        if target.kind == "cpu":
            return False, "TensorRT runs on NVIDIA GPUs; target cpu has none"
        return True, ""

    def engine_buildable_here(self, target: Target) -> tuple[bool, str]:
        """An engine can be built here only with TensorRT and the target's own GPU present."""
        arch = local_gpu_arch()
        if arch is None:
            return False, "no NVIDIA GPU on this machine"
        if importlib.util.find_spec("tensorrt") is None:
            return False, "the tensorrt Python package is not installed here"
        if target.kind == "jetson" and arch != target.device_arch:
            return False, f"the local GPU is {arch}, the target is {target.device_arch}; build on the device"
        return True, ""

    def build(self, model: Any, example_inputs: Mapping[str, np.ndarray], target: Target,
              options: BuildOptions, out_dir: Path) -> Artifact:
        from ..onnxruntime.quantize import calibration_batches, given_qdq, quantize_qdq
        from ..torch_ref.model import inference_copy, input_specs, output_names, run_torch, write_io_check
        from ..torch_ref.onnx_export import OPSET, export_onnx

        check_request(self.name, self.precisions, target, options, example_inputs)
        out = prepare_out_dir(out_dir)
        m = inference_copy(model)
        ref = run_torch(m, example_inputs)
        names = output_names(len(ref), options.output_names)
        details: dict[str, Any] = {"opset": OPSET}
        with owned_tempdir("trt") as tmp:
            fp32 = export_onnx(m, example_inputs, tmp / "model.fp32.onnx", names)
            given = given_qdq(options.extra, out / "model.onnx", symmetric=True) \
                if options.precision == "int8" else None
            if given is not None:  # the torch export above only gave the reference names
                details = {"model": "nasc quantize pass's explicit-Q/DQ ONNX model, as is", "quantization": given}
            elif options.precision == "int8":
                batches, origin = calibration_batches(input_specs(example_inputs), options.calib_samples,
                                                      options.seed, options.calibration, options.calibration_origin)
                # TensorRT wants symmetric int8 activations in explicit-quantization networks.
                details["quantization"] = {**quantize_qdq(fp32, out / "model.onnx", batches, reduce_range=False,
                                                          symmetric_activations=True), "calibration": origin}
            else:
                shutil.copyfile(fp32, out / "model.onnx")
        (out / "build_engine.sh").write_text(build_script(options.precision))
        (out / "build_engine.sh").chmod(0o755)
        shutil.copyfile(Path(__file__).with_name("engine_builder.py"), out / "build_engine.py")
        write_io_check(out, example_inputs, ref, names)
        ok, why = self.engine_buildable_here(target)
        notes: list[str] = []
        if ok:
            from .engine_builder import build_engine

            cache = cache_root(options.cache_dir) / "tensorrt" / f"{local_gpu_arch()}" / "timing.cache"
            details["engine"] = {"built": True, **build_engine(out / "model.onnx", out / "model.engine",
                                                               options.precision, cache)}
            entry = "model.engine"
        else:
            details["engine"] = {"built": False, "status": NOT_BUILT, "reason": why,
                                 "how_to_build": "run ./build_engine.sh (trtexec) or python3 build_engine.py "
                                                 "on the device"}
            details["complete"] = False
            notes.append(f"{NOT_BUILT}: {why}; run build_engine.sh on the device")
            entry = "model.onnx"
        return write_manifest(out, backend=self.name, target=target, precision=options.precision, entry=entry,
                              inputs=input_specs(example_inputs), output_names=names, options=options,
                              versions=library_versions(), notes=notes, details=details)

    def _engine(self, artifact: Artifact) -> Path:
        engine = artifact.dir / "model.engine"
        if not engine.is_file() or importlib.util.find_spec("tensorrt") is None or local_gpu_arch() is None:
            raise MeasurementUnavailable(f"{NOT_BUILT} for {artifact.dir}, or no TensorRT/GPU here; "
                                         "build and time it on the device with build_engine.py --measure")
        return engine

    def load_and_run(self, artifact: Artifact, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        from .engine_builder import EngineRunner

        runner = EngineRunner(self._engine(artifact))
        runner.set_inputs({k: np.ascontiguousarray(v) for k, v in inputs.items()})
        runner.run()
        return runner.outputs_numpy()

    def measure(self, artifact: Artifact, protocol: MeasureProtocol) -> LatencyRecord:
        return measure_maybe_isolated(artifact, protocol, self._measure_here)

    def _measure_here(self, artifact: Artifact, protocol: MeasureProtocol) -> LatencyRecord:
        from .engine_builder import time_engine

        if protocol.rpc:
            raise MeasurementUnavailable("TensorRT engines are timed on the device (build_engine.py --measure), "
                                         "not through TVM RPC")
        protocol = protocol.resolved(artifact)
        engine = self._engine(artifact)
        samples = time_engine(engine, random_inputs(artifact, protocol.seed), protocol.warmup, protocol.repeats,
                              protocol.number)
        return make_record(samples, artifact=artifact, protocol=protocol, how="measured locally",
                           extra_dists=["tensorrt", "torch"], notes=("synchronous execute_async_v3 per call",))
