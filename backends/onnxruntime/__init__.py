"""ONNX Runtime backend (CPU): fp32 and static int8 QDQ.

On 2-core x86 CPUs it is the fastest backend for MobileNetV2 (``torch_over_onnxruntime``
and ``tvm_over_onnxruntime`` in ``benchmarks/results/backends_cpu.json``), hence the
production reference the other backends are compared against.
Sessions use ``ORT_ENABLE_ALL`` and ``protocol.threads`` intra-op threads (default 2).
"""

from __future__ import annotations

import collections
import shutil
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..base import Artifact, BuildOptions, LatencyRecord, MeasureProtocol, MeasurementUnavailable, Target
from ..common import check_request, prepare_out_dir
from ..hostinfo import has_vnni, host_triple
from ..isolation import measure_maybe_isolated
from ..manifest import library_versions, write_manifest
from ..procs import owned_tempdir
from ..timing import make_record, random_inputs, time_calls

__all__ = ["OrtBackend", "make_session", "optimized_op_counts"]


def make_session(path: Path, threads: int, level: str = "all", optimized: Path | None = None):
    """A CPU InferenceSession with graph optimisation ``level`` (``all``, what artifacts run
    with, ``extended``, or ``none``: every node run as written, a Q/DQ model's arithmetic op by
    op) and a fixed intra-op thread count; ``optimized``: where ONNX Runtime writes the graph
    it will run."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                                   "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                   "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}[level]
    so.log_severity_level = 3
    if optimized is not None:
        so.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def optimized_op_counts(path: Path, scratch: Path, level: str = "all") -> "collections.Counter[str]":
    """How many nodes of each op type the graph ONNX Runtime runs for the model at ``path``
    has, after its rewrites at ``level`` (written to ``scratch``): what is fused, what is
    moved between layouts."""
    import onnx

    out = Path(scratch) / "ort_optimized.onnx"
    make_session(path, 1, level, out)
    return collections.Counter(n.op_type for n in onnx.load(str(out)).graph.node)


class OrtBackend:
    """ONNX Runtime, CPU execution provider."""

    name = "onnxruntime"
    precisions = ("fp32", "int8")

    def available(self, target: Target) -> tuple[bool, str]:
        import importlib.util

        if target.kind != "cpu":
            return False, f"the onnxruntime backend uses the CPU execution provider; {target.name} is a GPU target"
        if importlib.util.find_spec("onnxruntime") is None:
            return False, "onnxruntime is not installed (pip install onnxruntime)"
        return True, ""

    def build(self, model, example_inputs: Mapping[str, np.ndarray], target: Target,
              options: BuildOptions, out_dir: Path) -> Artifact:
        from ..torch_ref.model import inference_copy, input_specs, output_names, run_torch, write_io_check
        from ..torch_ref.onnx_export import OPSET, export_onnx
        from .quantize import calibration_batches, given_qdq, quantize_qdq

        check_request(self.name, self.precisions, target, options, example_inputs)
        out = prepare_out_dir(out_dir)
        m = inference_copy(model)
        ref = run_torch(m, example_inputs)
        names = output_names(len(ref), options.output_names)
        details: dict[str, object] = {"opset": OPSET, "exporter": "torch.onnx.export(dynamo=False)"}
        with owned_tempdir("ort") as tmp:
            fp32 = export_onnx(m, example_inputs, tmp / "model.fp32.onnx", names)
            given = given_qdq(options.extra, out / "model.onnx", symmetric=False) \
                if options.precision == "int8" else None
            if given is not None:  # the torch export above only gave the reference names
                details = {"model": "nasc quantize pass's explicit-Q/DQ ONNX model, as is", "quantization": given}
            elif options.precision == "int8":
                specs = input_specs(example_inputs)
                batches, origin = calibration_batches(specs, options.calib_samples, options.seed,
                                                      options.calibration, options.calibration_origin)
                # u8s8 saturates on x86 without VNNI; reduce_range avoids it (docs/toolchain.md §1).
                reduce = host_triple().startswith("x86_64") and not has_vnni()
                details["quantization"] = {**quantize_qdq(fp32, out / "model.onnx", batches, reduce_range=reduce),
                                           "calibration": origin}
            else:
                shutil.copyfile(fp32, out / "model.onnx")
        write_io_check(out, example_inputs, ref, names)
        return write_manifest(out, backend=self.name, target=target, precision=options.precision,
                              entry="model.onnx", inputs=input_specs(example_inputs), output_names=names,
                              options=options, versions=library_versions(), details=details)

    def load_and_run(self, artifact: Artifact, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        return self.runner(artifact)(inputs)

    def runner(self, artifact: Artifact) -> Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]:
        """One session; the function runs it on one input dict."""
        sess = make_session(artifact.entry_path, threads=2)
        return lambda inputs: list(sess.run(None, {k: np.ascontiguousarray(v) for k, v in inputs.items()}))

    def timed_call(self, artifact: Artifact, protocol: MeasureProtocol) -> Callable[[], object]:
        """One call of the artifact on the protocol's random inputs with its thread count, in
        this process: what :meth:`measure` times, for loops that time several artifacts in
        one process (``nasc bench``'s paired rounds)."""
        sess = make_session(artifact.entry_path, threads=protocol.threads)
        feeds = random_inputs(artifact, protocol.seed)
        return lambda: sess.run(None, feeds)

    def measure(self, artifact: Artifact, protocol: MeasureProtocol) -> LatencyRecord:
        return measure_maybe_isolated(artifact, protocol, self._measure_here)

    def _measure_here(self, artifact: Artifact, protocol: MeasureProtocol) -> LatencyRecord:
        if protocol.rpc:
            raise MeasurementUnavailable("the onnxruntime backend measures locally only; use --backend tvm for RPC")
        protocol = protocol.resolved(artifact)
        samples = time_calls(self.timed_call(artifact, protocol), protocol)
        return make_record(samples, artifact=artifact, protocol=protocol, how="measured locally",
                           extra_dists=["onnxruntime"],
                           notes=("CPUExecutionProvider, ORT_ENABLE_ALL, inter-op threads 1",))
