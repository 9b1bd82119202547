"""Reference backend: eager PyTorch on the host CPU.

It is the yardstick the other backends are checked against (equivalence tests) and the
baseline of the benchmarks.  The artifact is a ``torch.export`` program (``model.pt2``),
self-contained so it can be timed in a fresh process without the Python class that
defined the model; running its graph module is eager execution of the same aten ops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..base import Artifact, BuildOptions, LatencyRecord, MeasureProtocol, MeasurementUnavailable, Target
from ..common import check_request, prepare_out_dir
from ..isolation import measure_maybe_isolated
from ..manifest import library_versions, write_manifest
from ..timing import make_record, random_inputs, time_calls

__all__ = ["TorchBackend"]


class TorchBackend:
    """Eager torch (fp32, CPU)."""

    name = "torch"
    precisions = ("fp32",)

    def available(self, target: Target) -> tuple[bool, str]:
        if target.kind != "cpu":
            return False, f"the torch reference backend runs on the host CPU, not on {target.name}"
        return True, ""

    def build(self, model, example_inputs: Mapping[str, np.ndarray], target: Target,
              options: BuildOptions, out_dir: Path) -> Artifact:
        import torch

        from .model import (export_program, flatten_outputs, inference_copy, input_specs, output_names, to_tensors,
                            write_io_check)

        check_request(self.name, self.precisions, target, options, example_inputs)
        out = prepare_out_dir(out_dir)
        m = inference_copy(model)
        args = to_tensors(example_inputs)
        with torch.inference_mode():
            ref = [t.numpy() for t in flatten_outputs(m(*args))]
        names = output_names(len(ref), options.output_names)
        ep = export_program(m, example_inputs)
        torch.export.save(ep, str(out / "model.pt2"))
        write_io_check(out, example_inputs, ref, names)
        return write_manifest(out, backend=self.name, target=target, precision=options.precision,
                              entry="model.pt2", inputs=input_specs(example_inputs), output_names=names,
                              options=options, versions=library_versions(),
                              details={"format": "torch.export ExportedProgram, run eagerly"})

    def _program(self, artifact: Artifact):
        import torch

        return torch.export.load(str(artifact.entry_path)).module()

    def load_and_run(self, artifact: Artifact, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        return self.runner(artifact)(inputs)

    def runner(self, artifact: Artifact) -> Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]:
        """The program loaded once; the function runs it on one input dict."""
        from .model import run_torch

        program = self._program(artifact)
        return lambda inputs: run_torch(program, inputs)

    def measure(self, artifact: Artifact, protocol: MeasureProtocol) -> LatencyRecord:
        return measure_maybe_isolated(artifact, protocol, self._measure_here)

    def _measure_here(self, artifact: Artifact, protocol: MeasureProtocol) -> LatencyRecord:
        import torch

        from .model import to_tensors

        if protocol.rpc:
            raise MeasurementUnavailable("the torch backend measures locally only; use --backend tvm for RPC")
        protocol = protocol.resolved(artifact)
        program = self._program(artifact)
        args = to_tensors(random_inputs(artifact, protocol.seed))
        previous = torch.get_num_threads()
        torch.set_num_threads(protocol.threads)
        try:
            with torch.inference_mode():
                samples = time_calls(lambda: program(*args), protocol)
        finally:
            torch.set_num_threads(previous)
        return make_record(samples, artifact=artifact, protocol=protocol, how="measured locally",
                           extra_dists=["torch"])
