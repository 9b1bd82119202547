#!/usr/bin/env python3
"""Build, run and time a TensorRT engine from an ONNX model (copied into artifacts as
``build_engine.py``; needs only TensorRT's Python package, numpy and, for running/timing,
torch with CUDA or cuda-python).

    python3 build_engine.py [--precision fp16] [--measure]     # in the artifact folder, on the device

Why a standalone file: TensorRT engines are specific to the GPU and TensorRT version, so
Jetson engines must be built on the Jetson.  nasc uses the same functions in-process when
it runs on a machine with an NVIDIA GPU and TensorRT.  A timing cache is reused between
builds, which makes rebuilding an already-seen layer configuration nearly free.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def build_engine(onnx_path: Path, engine_path: Path, precision: str, timing_cache: Path | None = None,
                 workspace_mb: int = 1024) -> dict[str, Any]:
    """Parse ONNX, build a serialized engine, update the timing cache; returns build facts."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT >= 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError("TensorRT could not parse the ONNX model: " + "; ".join(errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    for flag in {"fp16": ["FP16"], "int8": ["INT8"]}.get(precision, []):
        if hasattr(trt.BuilderFlag, flag):  # precision flags are deprecated in newest TensorRT
            config.set_flag(getattr(trt.BuilderFlag, flag))
    cache_bytes = timing_cache.read_bytes() if timing_cache and timing_cache.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    t0 = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("TensorRT engine build failed (see the TensorRT log above)")
    Path(engine_path).write_bytes(bytes(serialized))
    if timing_cache is not None:
        timing_cache.parent.mkdir(parents=True, exist_ok=True)
        timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    return {"tensorrt": trt.__version__, "build_seconds": round(time.perf_counter() - t0, 2),
            "timing_cache": str(timing_cache) if timing_cache else None, "reused_cache_bytes": len(cache_bytes)}


class EngineRunner:
    """Device buffers and an execution context for one engine (torch CUDA tensors as buffers)."""

    def __init__(self, engine_path: Path) -> None:
        import numpy as np
        import tensorrt as trt
        import torch

        self.torch = torch
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        self.context = self.engine.create_execution_context()
        self.inputs: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.engine.get_tensor_shape(name))
            dtype = torch.from_numpy(np.zeros(1, dtype=trt.nptype(self.engine.get_tensor_dtype(name)))).dtype
            buf = torch.empty(shape, dtype=dtype, device="cuda")
            self.context.set_tensor_address(name, buf.data_ptr())
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs)[name] = buf
        self.stream = torch.cuda.current_stream()

    def set_inputs(self, feeds: dict[str, Any]) -> None:
        for name, value in feeds.items():
            self.inputs[name].copy_(self.torch.from_numpy(value))

    def run(self) -> None:
        self.context.execute_async_v3(self.stream.cuda_stream)
        self.stream.synchronize()

    def outputs_numpy(self) -> list[Any]:
        return [t.cpu().numpy() for t in self.outputs.values()]


def time_engine(engine_path: Path, feeds: dict[str, Any], warmup: int, repeats: int, number: int) -> list[float]:
    """Samples in ms: each the mean of ``number`` synchronous executions."""
    runner = EngineRunner(engine_path)
    runner.set_inputs(feeds)
    for _ in range(warmup):
        runner.run()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(number):
            runner.run()
        samples.append((time.perf_counter_ns() - t0) / number / 1e6)
    return samples


def main() -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description="Build (and optionally time) a TensorRT engine")
    ap.add_argument("--onnx", default=str(here / "model.onnx"))
    ap.add_argument("--engine", default=str(here / "model.engine"))
    ap.add_argument("--precision", choices=["fp32", "fp16", "int8"], default=None)
    ap.add_argument("--timing-cache", default=str(here / "timing.cache"))
    ap.add_argument("--measure", action="store_true")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--number", type=int, default=10)
    args = ap.parse_args()
    manifest_path = here / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    precision = args.precision or manifest.get("precision", "fp32")
    info = build_engine(Path(args.onnx), Path(args.engine), precision, Path(args.timing_cache))
    print(json.dumps({"engine": args.engine, "precision": precision, **info}))
    if args.measure:
        import numpy as np

        rng = np.random.default_rng(0)
        shapes = manifest.get("input_shapes") or {}
        feeds = {k: rng.standard_normal(v).astype(np.float32) for k, v in shapes.items()}
        ms = time_engine(Path(args.engine), feeds, args.warmup, args.repeats, args.number)
        print(json.dumps({"median_ms": statistics.median(ms), "p90_ms": float(np.percentile(ms, 90)),
                          "min_ms": min(ms), "repeats": args.repeats, "source": "measured",
                          "how": "measured on device by build_engine.py", "backend": "tensorrt",
                          "precision": precision,
                          "protocol": {"warmup": args.warmup, "repeats": args.repeats, "number": args.number}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
