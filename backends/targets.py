"""Targets as the backends build for them: the registry's records plus this build host.

Names, backends, precisions, TVM tags and Jetson facts come from the one table in
:mod:`nasc.targets`; what is added here depends on the machine nasc runs on: the host triple
and core count of ``cpu`` (whose ``mcpu: native`` LLVM resolves to the host CPU at build
time, never hard-coded) and the arch of a local GPU for ``cuda``.  A Target is made on each
call (the table is tiny) so there is no module-level mutable state, and looking up one target
never probes for the others (``cuda`` runs nvidia-smi).
"""

from __future__ import annotations

from typing import Any

from nasc.errors import UsageError, did_you_mean
from nasc.targets import TARGETS, TargetSpec, TvmSettings, buildable_target

from .base import Target
from .hostinfo import cpu_count, host_triple, local_gpu_arch


def _native(settings: TvmSettings | dict[str, Any]) -> dict[str, Any]:
    """An LLVM target for this machine: the registry's entries plus its triple and core count."""
    return {**dict(settings), "mtriple": host_triple(), "num-cores": cpu_count()}


def _make(spec: TargetSpec) -> Target:
    """The backends' Target for a buildable record; only ``cpu`` and ``cuda`` ask the host anything."""
    tvm = spec.tvm
    if tvm is None or spec.kind == "recorded":
        raise ValueError(f"target {spec.name} cannot be built (nasc.targets gives it no TVM target)")
    settings = {} if isinstance(tvm.target, str) else dict(tvm.target)
    tvm_target: str | dict[str, Any] = tvm.target if isinstance(tvm.target, str) else settings
    tvm_host = dict(tvm.host) if tvm.host is not None else None
    arch, description = spec.device_arch, spec.description
    if spec.kind == "cpu":
        tvm_target = _native(settings)
    elif spec.kind == "cuda":
        arch = local_gpu_arch()
        tvm_target = {**settings, **({"arch": arch} if arch else {})}
        tvm_host = _native(tvm.host or ())
        description += "" if arch else " (none found on this machine)"
    return Target(name=spec.name, kind=spec.kind, tvm_target=tvm_target, backends=spec.backends,
                  precisions=spec.precisions, host_triple=spec.host_triple or host_triple(), device_arch=arch,
                  tvm_host=tvm_host, description=description, device_software=spec.device_software)


def target_names() -> list[str]:
    """The names of the targets an artifact can be built for, in display order."""
    return [t.name for t in TARGETS if t.buildable]


def known_targets() -> dict[str, Target]:
    """All buildable targets by name, in display order."""
    return {t.name: _make(t) for t in TARGETS if t.buildable}


def list_targets() -> list[Target]:
    return list(known_targets().values())


def get_target(name: str | Target) -> Target:
    """The target called ``name`` (or an alias of it); an unknown name lists the known ones and
    a recorded device, which has nothing to build with, says so."""
    if isinstance(name, Target):
        return name
    return _make(buildable_target(name))


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
