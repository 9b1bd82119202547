"""``--backend auto``: build with every backend available for the target, keep the fastest.

Why by measurement: which backend wins depends on model and machine (on a 2-core x86
CPU untuned TVM beats ONNX Runtime on the small digits arch and is an order of magnitude
slower on MobileNetV2: ``tvm_over_onnxruntime`` in ``benchmarks/results/backends_cpu.json``),
so the only honest choice is timing each build under the *same* protocol.
``benchmarks/backends.py`` checks the choice against independently built and measured
single-backend artifacts.  The losers'
figures stay in the manifest (``selection``), so the choice can be audited.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from nasc.errors import BackendUnavailable, NascError

from .base import Artifact, BuildOptions, LatencyRecord, MeasureProtocol, MeasurementUnavailable, Target
from .common import prepare_out_dir
from .manifest import load_artifact, update_manifest
from .procs import owned_tempdir
from .registry import get_backend

__all__ = ["AutoBackend", "build_auto"]
PROTOCOL_KEY = "auto_protocol"


def build_auto(model: Any, example_inputs: Mapping[str, np.ndarray], target: Target, options: BuildOptions,
               out_dir: Path, protocol: MeasureProtocol | None = None,
               candidates: list[str] | None = None) -> Artifact:
    """Build each candidate, measure each with ``protocol``, move the fastest into ``out_dir``."""
    protocol = protocol or MeasureProtocol()
    out = prepare_out_dir(out_dir)
    report: dict[str, dict[str, Any]] = {}
    built: dict[str, Artifact] = {}
    timed: dict[str, LatencyRecord] = {}
    with owned_tempdir("auto") as tmp:
        for name in candidates or list(target.backends):
            status = _try_candidate(name, model, example_inputs, target, options, tmp / name, protocol)
            report[name] = status["report"]
            if "artifact" in status:
                built[name] = status["artifact"]
            if "record" in status:
                timed[name] = status["record"]
        if timed:
            chosen = min(timed, key=lambda n: timed[n].median_ms)
            rule = "fastest median_ms, all candidates measured with the same protocol"
        else:
            complete = [n for n in built if built[n].details.get("complete", True)]
            if not complete:
                raise NascError(f"--backend auto: no backend could build for {target.name}: "
                                + "; ".join(f"{n}: {r.get('reason', r['status'])}" for n, r in report.items()))
            chosen = complete[0]
            rule = ("no candidate could be measured here; first complete build in the target's backend order "
                    f"({', '.join(target.backends)})")
        for item in built[chosen].dir.iterdir():
            shutil.move(str(item), str(out / item.name))
    update_manifest(out, selection={"mode": "auto", "chosen": chosen, "rule": rule,
                                    "protocol": protocol.to_dict(), "candidates": report})
    return load_artifact(out)


def _try_candidate(name: str, model: Any, example_inputs: Mapping[str, np.ndarray], target: Target,
                   options: BuildOptions, where: Path, protocol: MeasureProtocol) -> dict[str, Any]:
    try:
        backend = get_backend(name)
    except NascError as e:  # BackendUnavailable, NascNameError
        return {"report": {"status": "not available", "reason": e.message}}
    ok, why = backend.available(target)
    if not ok:
        return {"report": {"status": "not available", "reason": why}}
    if options.precision not in backend.precisions:
        return {"report": {"status": "not available", "reason": f"no {options.precision} support"}}
    try:
        artifact = backend.build(model, example_inputs, target, options, where)
    except NascError as e:
        return {"report": {"status": "build failed", "reason": e.message}}
    try:
        record = backend.measure(artifact, protocol)
    except MeasurementUnavailable as e:
        return {"artifact": artifact, "report": {"status": "built, not measured", "reason": e.message}}
    return {"artifact": artifact, "record": record,
            "report": {"status": "measured", "median_ms": record.median_ms, "p90_ms": record.p90_ms,
                       "source": record.source, "how": record.how}}


class AutoBackend:
    """Pseudo-backend: picks among the target's backends by measurement.

    Its ``build`` reads the protocol from ``options.extra["auto_protocol"]`` (a dict) so
    it fits the common Backend signature; :func:`build_auto` takes it directly."""

    name = "auto"
    precisions = ("fp32", "fp16", "int8")

    def available(self, target: Target) -> tuple[bool, str]:
        reasons = []
        for name in target.backends:
            try:
                ok, why = get_backend(name).available(target)
            except BackendUnavailable as e:
                ok, why = False, e.message
            if ok:
                return True, ""
            reasons.append(f"{name}: {why}")
        return False, "; ".join(reasons)

    def build(self, model: Any, example_inputs: Mapping[str, np.ndarray], target: Target,
              options: BuildOptions, out_dir: Path) -> Artifact:
        proto = MeasureProtocol.from_dict(options.extra.get(PROTOCOL_KEY, {}))
        return build_auto(model, example_inputs, target, options, out_dir, proto)

    def measure(self, artifact: Artifact, protocol: MeasureProtocol) -> LatencyRecord:
        return get_backend(artifact.backend).measure(artifact, protocol)

    def load_and_run(self, artifact: Artifact, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        return get_backend(artifact.backend).load_and_run(artifact, inputs)
