"""TVM backend (apache-tvm 0.27, Relax): host CPU, local CUDA GPU, Jetson cross-compile.

Path: torch module -> (BN folded in torch) -> ``torch.export`` -> ``from_exported_program``
-> ``tvm.compile`` -> ``export_library``.  TVM itself is only ever imported in child
processes during builds (see ``compile_worker``) and lazily for measurement.

Jetson artifacts: aarch64 host code (``.so`` through the aarch64 cross g++, else ``.tar``)
and CUDA device code either compiled to SASS for the board's SM (``binary``, needs nvcc
and the libcuda stub on a GPU-less build host) or stored as CUDA source that the device
compiles at first load (``source``).  The manifest says which, and what the device needs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..base import (Artifact, BuildError, BuildOptions, KernelPlan, LatencyRecord, MeasureProtocol,
                    MeasurementUnavailable, Target)
from ..common import cache_root, check_request, prepare_out_dir
from ..hostinfo import libcuda_loadable, local_gpu_arch, nvcc_version
from ..isolation import measure_maybe_isolated
from ..manifest import library_versions, read_manifest, write_manifest
from ..procs import owned_tempdir
from .device_code import inspect_file
from .toolchain import cuda_stub_dir, link_plan, run_worker
from .tuning import tuning_note

__all__ = ["TvmBackend"]

RUNNER = "run_on_device.py"
PROGRAMS = "tvm-kernel-programs"  # decomposed kernel programs in the cache folder (program_cache)
COMPILE_TIMEOUT_S = 3600.0


class TvmBackend:
    """Apache TVM Relax compiler."""

    name = "tvm"
    precisions = ("fp32", "fp16")

    def available(self, target: Target) -> tuple[bool, str]:
        import importlib.util

        if importlib.util.find_spec("tvm") is None:
            return False, "apache-tvm is not installed (pip install 'nasc[tvm]')"
        if target.kind == "cuda" and local_gpu_arch() is None:
            return False, "target 'cuda' needs a local NVIDIA GPU and driver; none found"
        return True, ""

    # ------------------------------------------------------------------ build
    def build(self, model: Any, example_inputs: Mapping[str, np.ndarray], target: Target,
              options: BuildOptions, out_dir: Path) -> Artifact:
        from ..torch_ref.model import inference_copy, input_specs, output_names, run_torch, write_io_check

        check_request(self.name, self.precisions, target, options, example_inputs)
        ok, why = self.available(target)
        if not ok:
            raise BuildError(why)
        if options.tune_trials and target.kind != "cpu":
            raise BuildError("MetaSchedule tuning is implemented for the cpu target only (timed here, or on a CPU "
                             "behind a TVM RPC tracker); GPU targets build untuned (tune_trials=0), with dlight's "
                             "schedules.")
        if options.tune_trials and (options.tune_rpc is None) != (options.tune_device_key is None):
            raise BuildError("tuning through an RPC tracker needs both tune_rpc (HOST:PORT) and tune_device_key")
        out = prepare_out_dir(out_dir)
        cache = cache_root(options.cache_dir)
        m = inference_copy(model)
        ref = run_torch(m, example_inputs)
        names = output_names(len(ref), options.output_names)
        lib_name, cross, link_note = link_plan(target.host_triple)
        onnx_model = (options.extra or {}).get("onnx_model")
        plan = options.kernel_plan() if options.kernel_plan and target.kind == "cpu" and not onnx_model else None
        with owned_tempdir("tvm-build") as tmp:
            program = tmp / "model.pt2"
            if plan is not None:
                spec_plan: dict[str, Any] | None = _save_plan(plan, [r.shape for r in ref], tmp, cache)
                bn_note = f"BN folded by nasc's fold-bn pass; built kernel by kernel: {plan.origin}"
            else:
                spec_plan = None
                bn_note = ("torch BN folding not used: built from the ONNX model nasc opt wrote" if onnx_model
                           else _save_program(m, example_inputs, program))
            spec: dict[str, Any] = {
                "onnx": onnx_model, "input_shapes": {k: list(v.shape) for k, v in example_inputs.items()},
                "plan": spec_plan,
                "program": str(program), "target": target.to_dict(), "precision": options.precision,
                "out_dir": str(out), "lib_name": lib_name, "cross_compiler": cross,
                "tune": self._tune_spec(options, cache)
                if target.kind == "cpu" and (options.tuning_database or options.tune_trials) else None,
            }
            result, code_note = self._compile(spec, target, options, cache)
        write_io_check(out, example_inputs, ref, names)
        shutil.copyfile(Path(__file__).with_name("device_runner.py"), out / RUNNER)
        details = self._details(target, result, code_note, out / lib_name, link_note, bn_note)
        details["partition"] = (f"kernel plan: {plan.origin}, each kernel lowered and scheduled alone"
                                if plan is not None else "TVM's FuseOps over the whole graph")
        if plan is not None:
            details["kernel_programs"] = result["kernel_programs"]
        notes = [n for n in (code_note, None if lib_name == "model.so" else link_note) if n]
        if target.kind == "cpu":
            notes.append(tuning_note(result.get("tuning"), ignored=not options.tuning_database))
            details["tuning_summary"] = notes[-1]
        return write_manifest(out, backend=self.name, target=target, precision=options.precision, entry=lib_name,
                              inputs=input_specs(example_inputs), output_names=names, options=options,
                              versions=library_versions(), notes=notes, details=details)

    def tune(self, models: Sequence[tuple[Any, Mapping[str, np.ndarray]]], target: Target,
             options: BuildOptions) -> dict[str, Any]:
        """Tune the TVM tasks of ``models`` (module, example inputs) that the target's database
        lacks, at ``options.tune_trials`` trials each, in one MetaSchedule run; build nothing.

        Why: ``nasc profile --tune`` would otherwise tune a space kernel by kernel inside each
        kernel's build, starting MetaSchedule's pools once per kernel; here a chunk of kernels
        shares one run and tasks shared between kernels are tuned once.  Returns the run's report
        (tasks, tuned now, already in the database, seconds)."""
        ok, why = self.available(target)
        if not ok:
            raise BuildError(why)
        if target.kind != "cpu" or options.tune_trials < 1:
            raise BuildError("tuning without building needs the cpu target and tune_trials >= 1")
        from ..torch_ref.model import inference_copy

        cache = cache_root(options.cache_dir)
        with owned_tempdir("tvm-tune") as tmp:
            programs = []
            for i, (model, inputs) in enumerate(models):
                path = tmp / f"model{i}.pt2"
                _save_program(inference_copy(model), inputs, path)
                programs.append(str(path))
            spec = {"mode": "tune", "programs": programs, "target": target.to_dict(), "precision": options.precision,
                    "tune": self._tune_spec(options, cache)}
            return run_worker(spec, {}, COMPILE_TIMEOUT_S)

    @staticmethod
    def _tune_spec(options: BuildOptions, cache: Path) -> dict[str, Any]:
        """What the worker tunes and applies: the target's database (a device's, with a device
        key), trials only when asked; without a database and trials the build stays untuned."""
        rpc = ({"tracker": options.tune_rpc, "key": options.tune_device_key} if options.tune_device_key
               else None)
        return {"trials": options.tune_trials, "cache_dir": str(cache), "seed": options.seed, "rpc": rpc}

    def _compile(self, spec: dict[str, Any], target: Target, options: BuildOptions,
                 cache: Path) -> tuple[dict[str, Any], str]:
        """Run the worker; for GPU targets try compiled device code first, source as fallback."""
        if target.kind == "cpu":
            return run_worker(spec, {}, COMPILE_TIMEOUT_S), ""
        modes = {"auto": ["binary", "source"], "binary": ["binary"], "source": ["source"]}[options.device_code]
        reasons: list[str] = []
        for mode in modes:
            env, why_not = self._device_code_env(mode, cache)
            if env is None:
                reasons.append(f"{mode}: {why_not}")
                continue
            try:
                result = run_worker(spec, env, COMPILE_TIMEOUT_S)
            except BuildError as e:
                reasons.append(f"{mode}: {e.message.splitlines()[-1][:400]}")
                continue
            form = result["device_code"]["form"]
            if mode == "binary" and form != "binary":
                reasons.append("binary: TVM stored CUDA source although the CUDA runtime module loaded")
            note = "" if form == "binary" else (
                "device code: CUDA source, compiled on the device at first load"
                + (f" (compiled form not possible here: {'; '.join(reasons)})" if reasons
                   else " (requested with device_code='source')"))
            return result, note
        raise BuildError(f"no device-code mode worked for {target.name}: " + "; ".join(reasons))

    def _device_code_env(self, mode: str, cache: Path) -> tuple[dict[str, str] | None, str]:
        if mode == "source":
            return {}, ""
        if nvcc_version() is None:
            return None, "nvcc not found on this machine"
        env = {"TVM_CUDA_COMPILE_MODE": "nvcc"}
        if not libcuda_loadable():
            stub, why = cuda_stub_dir(cache)
            if stub is None:
                return None, why
            env["LD_LIBRARY_PATH"] = f"{stub}:{os.environ.get('LD_LIBRARY_PATH', '')}".rstrip(":")
        return env, ""

    def _details(self, target: Target, result: Mapping[str, Any], code_note: str, lib: Path,
                 link_note: str, bn_note: str) -> dict[str, Any]:
        file_info = inspect_file(lib)
        details: dict[str, Any] = {
            "tvm_target": result["tvm_target"],
            "compile_seconds": result.get("compile_seconds"),
            "worker_seconds": result.get("total_seconds"),
            "bn_folding": bn_note,
            "host_code": {"triple": target.host_triple, "format": lib.suffix.lstrip("."), "linker": link_note,
                          "elf_machines": file_info["host_elf_machines"]},
            "tuning": result.get("tuning") or "untuned (TVM default schedules; dlight on GPU)",
        }
        if target.kind == "cpu":
            return details
        form = result["device_code"]["form"]
        cuda = nvcc_version()
        sms = sorted({e["sm"] for e in file_info["fatbin"]})
        details["device_code"] = {
            "form": form,
            "arch": target.device_arch,
            "description": ("compiled cubin (SASS) in a fatbin" if form == "binary"
                            else "CUDA C source, compiled on the device at first load"),
            "fatbin_entries": file_info["fatbin"],
            "verified_from_file": (bool(sms) and all(f"sm_{s}" == target.device_arch for s in sms))
            if form == "binary" else file_info["cuda_source_embedded"],
            "compiled_with": f"nvcc {cuda}" if form == "binary" else None,
            "why": code_note or "libcuda stub made the CUDA runtime module loadable; nvcc produced SASS",
        }
        tvm_version = library_versions(["apache-tvm"]).get("apache-tvm", "unknown")
        details["device_needs"] = {
            "tvm_runtime": f"TVM {tvm_version} runtime built with CUDA (same version: the VM bytecode format "
                           "is not stable across releases)",
            "cuda": (f"a CUDA driver that loads cubins from CUDA {cuda} for {target.device_arch} (the board ships "
                     f"{target.device_software}); if its CUDA is older than {cuda}, rebuild with that CUDA's nvcc "
                     "first on PATH, or with device_code='source'"
                     if form == "binary" else
                     f"nvcc (or NVRTC via cuda-python) on the device, and TVM's Python package to call it; "
                     f"{target.device_software}"),
            "link": ("nothing: the .so is ready" if lib.suffix == ".so"
                     else "g++ on the device: TVM links the .tar into a .so at load"),
            "runner": f"python3 {RUNNER} (numpy + tvm)",
        }
        return details

    # ------------------------------------------------------------------ run / measure
    def _kind(self, artifact: Artifact) -> str:
        return str(read_manifest(artifact.dir)["target"]["kind"])

    def load_and_run(self, artifact: Artifact, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        return self.runner(artifact)(inputs)

    def runner(self, artifact: Artifact) -> Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]:
        from .measure import local_runner

        return local_runner(artifact, self._kind(artifact))

    def timed_call(self, artifact: Artifact, protocol: MeasureProtocol) -> Callable[[], object]:
        """One call of a CPU artifact in this process, for loops that time it beside another
        artifact sample by sample (``nasc bench``'s paired rounds).  At one thread TVM's pool
        does not compete with the other runtime's; the caller is a one-shot child process, so
        the core pinning TVM's pool applies is not undone."""
        from .measure import local_call

        kind = self._kind(artifact)
        if kind != "cpu":
            raise MeasurementUnavailable(f"{artifact.dir} is built for {artifact.target}: only CPU artifacts are "
                                         "timed in a shared loop")
        return local_call(artifact, protocol.resolved(artifact), kind)[0]

    def measure(self, artifact: Artifact, protocol: MeasureProtocol) -> LatencyRecord:
        return measure_maybe_isolated(artifact, protocol, self._measure_here)

    def _measure_here(self, artifact: Artifact, protocol: MeasureProtocol) -> LatencyRecord:
        from .measure import measure_local, measure_rpc

        protocol = protocol.resolved(artifact)
        kind = self._kind(artifact)
        if protocol.rpc:
            return measure_rpc(artifact, protocol, kind)
        return measure_local(artifact, protocol, kind)


def _save_plan(plan: KernelPlan, output_shapes: Sequence[Sequence[int]], tmp: Path, cache: Path) -> dict[str, Any]:
    """``plan`` for the worker: one program per distinct kernel (steps of the same key share
    it), every step's own weights, and how the steps connect.

    Why once per distinct kernel: an arch repeats its kernels (an NB201 arch runs 88 kernels of
    about 25 kinds), and importing a program into TVM costs a third of a second, nearly all of it
    torch's decomposition of the program, which does not depend on the weights.  A kernel's
    decomposed program is kept in the cache folder (:func:`program_cache`), so the archs of a
    space, which share their kernels, decompose each kernel once."""
    from ..torch_ref.model import fold_batchnorm, inference_copy

    programs: dict[str, int] = {}
    entries: list[dict[str, Any]] = []
    weights: dict[str, np.ndarray] = {}
    for i, step in enumerate(plan.steps):
        module, _ = fold_batchnorm(inference_copy(step.module), len(step.example_inputs))
        if step.key not in programs:
            programs[step.key] = len(programs)
            kept = program_cache(cache, step.key)
            if kept.is_file():
                entries.append({"path": str(kept), "decomposed": True})
            else:
                path = tmp / f"kernel{programs[step.key]}.pt2"
                _export(module, step.example_inputs, path)
                entries.append({"path": str(path), "decomposed": False, "keep_as": str(kept)})
        weights.update({f"{i}/{name}": t.detach().cpu().numpy() for name, t in module.state_dict().items()})
    np.savez(tmp / "weights.npz", **weights)  # type: ignore[arg-type]  # numpy stubs type **kwds as bool
    return {"programs": entries, "program_of": [programs[s.key] for s in plan.steps],
            "weights": str(tmp / "weights.npz"),
            "reads": [list(s.reads) for s in plan.steps], "writes": [s.writes for s in plan.steps],
            "inputs": list(plan.inputs), "outputs": list(plan.outputs),
            "output_shapes": [list(s) for s in output_shapes]}


def program_cache(cache: Path, key: str) -> Path:
    """Where the decomposed program of the kernel ``key`` (its signature) is kept: nasc's own
    cache folder, one file per kernel and torch version (a program is torch's serialization)."""
    import torch

    digest = hashlib.sha256(f"{key}\ntorch {torch.__version__}".encode()).hexdigest()[:24]
    return cache / PROGRAMS / f"{digest}.pt2"


def _save_program(model: Any, example_inputs: Mapping[str, np.ndarray], path: Path) -> str:
    """BN folded in torch, then ``torch.export`` saved to ``path`` for the worker; returns the
    folding note (an inference copy of the model is expected: it is changed in place)."""
    from ..torch_ref.model import fold_batchnorm

    m, bn_note = fold_batchnorm(model, len(example_inputs))
    _export(m, example_inputs, path)
    return bn_note


def _export(model: Any, example_inputs: Mapping[str, np.ndarray], path: Path) -> None:
    import torch

    from ..torch_ref.model import export_program

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.export.save(export_program(model, example_inputs), str(path))

