"""Target registry: where an artifact is meant to run.

Jetson targets start from TVM's ``nvidia/jetson-*`` tags (so the CUDA limits TVM's
schedules rely on are the vendor-checked ones) and override the host CPU where the tag is
wrong for the board.  ``cpu`` is this host: ``mcpu: native`` is resolved to LLVM's name
for the host CPU at build time, never hard-coded.  The table is rebuilt on every call
(it is tiny) so there is no module-level mutable state.
"""

from __future__ import annotations

from typing import Callable

from nasc.errors import NascNameError, UsageError, did_you_mean

from .base import Target
from .hostinfo import cpu_count, host_triple, local_gpu_arch

AARCH64 = "aarch64-linux-gnu"
GPU_PRECISIONS = ("fp32", "fp16", "int8")


def _cpu() -> Target:
    return Target(
        name="cpu",
        kind="cpu",
        tvm_target={"kind": "llvm", "mcpu": "native", "mtriple": host_triple(), "num-cores": cpu_count()},
        backends=("onnxruntime", "tvm", "torch"),
        precisions=("fp32", "fp16", "int8"),
        host_triple=host_triple(),
        description="this machine's CPU (LLVM -mcpu detected at build time)",
    )


def _cuda() -> Target:
    arch = local_gpu_arch()
    tvm_target: dict[str, object] = {"kind": "cuda"}
    if arch:
        tvm_target["arch"] = arch
    return Target(
        name="cuda",
        kind="cuda",
        tvm_target=tvm_target,
        tvm_host={"kind": "llvm", "mcpu": "native", "mtriple": host_triple(), "num-cores": cpu_count()},
        backends=("tensorrt", "tvm", "torch"),
        precisions=GPU_PRECISIONS,
        host_triple=host_triple(),
        device_arch=arch,
        description="a local NVIDIA GPU" + ("" if arch else " (none found on this machine)"),
    )


def _jetson(name: str, tag: str, arch: str, software: str, host: dict[str, object] | None,
            description: str) -> Target:
    return Target(
        name=name,
        kind="jetson",
        tvm_target=tag,
        tvm_host=host,
        backends=("tvm", "tensorrt"),
        precisions=GPU_PRECISIONS,
        host_triple=AARCH64,
        device_arch=arch,
        description=description,
        device_software=software,
    )


def _factories() -> dict[str, Callable[[], Target]]:
    """Name -> constructor, so looking up one target never probes for the others
    (``cuda`` runs nvidia-smi)."""
    a78 = {"kind": "llvm", "mtriple": AARCH64, "mcpu": "cortex-a78", "num-cores": 6}
    orin_sw = "JetPack 6 (CUDA 12.x) or JetPack 7 (CUDA 13)"
    return {
        "cpu": _cpu,
        "cuda": _cuda,
        "jetson-orin-nano": lambda: _jetson(
            "jetson-orin-nano", "nvidia/jetson-orin-nano", "sm_87", orin_sw, a78,
            "Jetson Orin Nano: Ampere sm_87, 6x Cortex-A78AE (the TVM tag's Carmel host is overridden)"),
        "jetson-agx-orin": lambda: _jetson(
            "jetson-agx-orin", "nvidia/jetson-agx-orin-64gb", "sm_87", orin_sw, None,
            "Jetson AGX Orin: Ampere sm_87, 12x Cortex-A78AE"),
        "jetson-xavier-nx": lambda: _jetson(
            "jetson-xavier-nx", "nvidia/jetson-agx-xavier", "sm_72", "JetPack 5 (CUDA 11.4)",
            {"kind": "llvm", "mtriple": AARCH64, "mcpu": "carmel", "num-cores": 6},
            "Jetson Xavier NX: Volta sm_72, 6x Carmel"),
        "jetson-agx-xavier": lambda: _jetson(
            "jetson-agx-xavier", "nvidia/jetson-agx-xavier", "sm_72", "JetPack 5 (CUDA 11.4)", None,
            "Jetson AGX Xavier: Volta sm_72, 8x Carmel"),
        "jetson-nano": lambda: _jetson(
            "jetson-nano", "nvidia/jetson-nano", "sm_53", "JetPack 4.6 (CUDA 10.2, Python 3.6)",
            {"kind": "llvm", "mtriple": AARCH64, "mcpu": "cortex-a57", "num-cores": 4},
            "Jetson Nano: Maxwell sm_53, 4x Cortex-A57 (the TVM tag has no host; added here)"),
    }


def target_names() -> list[str]:
    return list(_factories())


def known_targets() -> dict[str, Target]:
    """All targets by name, in display order."""
    return {name: make() for name, make in _factories().items()}


def list_targets() -> list[Target]:
    return list(known_targets().values())


def get_target(name: str | Target) -> Target:
    """The target called ``name``; an unknown name lists the known ones."""
    if isinstance(name, Target):
        return name
    table = _factories()
    make = table.get(name)
    if make is None:
        raise NascNameError(f"unknown target '{name}'{did_you_mean(name, table)}. "
                            f"Known targets: {', '.join(table)}")
    return make()


def check_target_backend(tgt: Target, backend: str) -> None:
    """A named backend must be one the target lists (``auto`` picks among them)."""
    if backend != "auto" and backend not in tgt.backends:
        raise UsageError(f"backend '{backend}' does not build for target '{tgt.name}' "
                         f"(its backends: {', '.join(tgt.backends)})")


def check_build_request(target: str, backend: str, precision: str) -> Target:
    """Target, backend and precision exist and agree -- checked before anything runs or is
    written (``nasc compile --target cpuu`` must not search and retrain first).  Static: it
    reads the target table and the registry's names and imports no backend's libraries."""
    from .registry import backend_names

    tgt = get_target(target)  # unknown names raise with the known ones listed
    names = sorted(set(backend_names()) | {"auto"})
    if backend not in names:
        raise UsageError(f"unknown backend '{backend}'{did_you_mean(backend, names)} (known: {', '.join(names)})")
    check_target_backend(tgt, backend)
    if precision not in tgt.precisions:
        raise UsageError(f"target '{tgt.name}' has no {precision} precision{did_you_mean(precision, tgt.precisions)} "
                         f"(its precisions: {', '.join(tgt.precisions)})")
    return tgt
