"""Compile worker: ``python -m nasc.backends.tvm.compile_worker SPEC.json``.

A spec with ``"mode": "tune"`` tunes many programs' tasks without building (:func:`tune_spec`).

Every TVM compile runs in a child process, for three reasons: Jetson builds need
``LD_LIBRARY_PATH`` (the libcuda stub) and ``TVM_CUDA_COMPILE_MODE`` set before TVM
loads; MetaSchedule's tensor-intrinsic stub must not leak into the caller's process; and
a crash inside TVM's C++ (it happens) fails one build instead of killing ``nasc``.
The parent hands over a ``torch.export`` program file and reads back a result JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any


def compile_spec(spec: dict[str, Any]) -> dict[str, Any]:
    import tvm
    from tvm import relax

    from ..base import Target
    from .device_code import module_device_code
    from .tvm_target import describe, to_tvm

    t0 = time.perf_counter()
    target = Target.from_dict(spec["target"])
    tgt = to_tvm(target)
    report: dict[str, Any] | None = None
    programs: dict[str, int] | None = None
    if spec.get("plan"):
        mod, report, programs = _planned(spec, tgt)
    elif spec.get("onnx"):
        # an ONNX model with explicit casts (nasc opt's mixed precision): the torch importer
        # types every conv output fp32 and rejects fp16 biases, the ONNX importer keeps the casts
        import onnx
        from tvm.relax.frontend.onnx import from_onnx

        mod = _at_precision(from_onnx(onnx.load(spec["onnx"]), shape_dict=spec["input_shapes"]), spec["precision"])
    else:
        mod = _imported(spec["program"], spec["precision"])
    result: dict[str, Any] = {"tvm_target": describe(tgt)}
    if programs is not None:
        result["kernel_programs"] = programs
    tune = spec.get("tune")
    if tune and not spec.get("plan"):
        mod, report = _tune(mod, tgt, tune)
    if tune and report is not None:
        result["tuning"] = report
    is_gpu = "gpu" in [str(k) for k in tgt.keys]
    t1 = time.perf_counter()
    if is_gpu:
        with tgt:  # nvcc mode reads the arch from the current target (docs/toolchain.md §4)
            ex = tvm.compile(mod, target=tgt)
    else:
        # the default "default_build" pipeline on CPU does no fusion (docs/toolchain.md §2)
        ex = tvm.compile(mod, target=tgt, relax_pipeline=relax.get_default_pipeline(tgt))
    result["compile_seconds"] = round(time.perf_counter() - t1, 2)
    result["device_code"] = module_device_code(ex.mod)
    lib = Path(spec["out_dir"]) / spec["lib_name"]
    cross = spec.get("cross_compiler")
    if cross:
        from tvm.support import cc

        ex.export_library(str(lib), fcompile=cc.cross_compiler(cross))
    else:
        ex.export_library(str(lib))
    result["total_seconds"] = round(time.perf_counter() - t0, 2)
    result["tvm_version"] = tvm.__version__
    return result


def tune_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Tune the tasks of many exported programs in one MetaSchedule run, building nothing
    (``nasc profile --tune``: a chunk of a space's kernels at a time)."""
    from ..base import Target
    from .tuning import tune_modules
    from .tvm_target import to_tvm

    tgt = to_tvm(Target.from_dict(spec["target"]))
    tune = spec["tune"]
    mods = [_imported(p, spec["precision"]) for p in spec["programs"]]
    return tune_modules(mods, tgt, int(tune["trials"]), Path(tune["cache_dir"]), int(tune.get("seed", 0)),
                        tune.get("rpc"))


def _planned(spec: dict[str, Any], tgt: Any) -> tuple[Any, dict[str, Any] | None, dict[str, int]]:
    """A kernel-plan build's module: each kernel imported alone, the database applied to it
    (tuning what it lacks when asked), then the kernels stitched (:mod:`.stitch`); also the
    tuning report and how many distinct kernel programs were decomposed already."""
    from .stitch import stitch
    from .tuning import tune_and_apply_each, zero_pipeline

    plan, tune = spec["plan"], spec.get("tune")
    mods = _plan_modules(plan, spec["precision"])
    report = None
    if tune:
        mods, report = tune_and_apply_each(mods, tgt, int(tune["trials"]), Path(tune["cache_dir"]),
                                           int(tune.get("seed", 0)), tune.get("rpc"))
    else:  # asked to ignore the database: TVM's default schedules
        mods = [zero_pipeline(m, tgt) for m in mods]
    programs = {"kernels": len(plan["program_of"]), "distinct": len(plan["programs"]),
                "decomposed_from_cache": sum(bool(e["decomposed"]) for e in plan["programs"])}
    inputs = {int(v): (name, spec["input_shapes"][name]) for v, name in zip(plan["inputs"], spec["input_shapes"])}
    stitched = stitch(mods, plan["reads"], plan["writes"], inputs, list(zip(plan["outputs"], plan["output_shapes"])))
    return stitched, report, programs


def _plan_modules(plan: dict[str, Any], precision: str) -> list[Any]:
    """Each step of a kernel plan as a Relax module with its own weights: each distinct program
    decomposed once (torch's decomposition is the slow part of an import, and weights do not
    change it), then translated per step with the step's weights in its state dict -- the
    module a plain import of that step's own program gives."""
    import numpy as np
    import torch

    from .convert import relax_from_program

    programs = [_decomposed(entry) for entry in plan["programs"]]
    mods = []
    with np.load(plan["weights"], allow_pickle=False) as weights:
        for i, j in enumerate(plan["program_of"]):
            ep = programs[j]
            for name in ep.state_dict:
                ep.state_dict[name] = torch.from_numpy(weights[f"{i}/{name}"])
            mods.append(_at_precision(relax_from_program(ep, decomposed=True), precision))
    return mods


def _decomposed(entry: dict[str, Any]) -> Any:
    """A kernel's program after torch's decompositions: from nasc's cache folder, or decomposed
    now and kept there (written whole, then renamed: a killed build leaves no half file)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.load(entry["path"])
        if entry["decomposed"]:
            return ep
        ep = ep.run_decompositions()
        kept = Path(entry["keep_as"])
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            part = kept.with_name(f"{kept.name}.{os.getpid()}.part")
            torch.export.save(ep, str(part))
            part.replace(kept)
        except OSError:  # a read-only cache only costs the next build this decomposition again
            pass
    return ep


def _imported(program: str, precision: str) -> Any:
    """A saved ``torch.export`` program as a Relax module at ``precision``."""
    import torch

    from .convert import relax_from_program

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.load(program)
    return _at_precision(relax_from_program(ep), precision)


def _at_precision(mod: Any, precision: str) -> Any:
    from .convert import to_fp16

    return to_fp16(mod) if precision == "fp16" else mod


def _tune(mod: Any, tgt: Any, tune: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """Apply the target's tuning database (tuning what it lacks first when trials > 0)."""
    from .tuning import tune_and_apply

    return tune_and_apply(mod, tgt, int(tune["trials"]), Path(tune["cache_dir"]), int(tune.get("seed", 0)),
                          tune.get("rpc"))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m nasc.backends.tvm.compile_worker SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    result = tune_spec(spec) if spec.get("mode") == "tune" else compile_spec(spec)
    Path(spec["result"]).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
