"""Turn a registry :class:`~nasc.backends.base.Target` into a ``tvm.target.Target``.

Only imported where TVM is already loaded (the compile worker, measurement)."""

from __future__ import annotations

from typing import Any, Mapping

from ..base import Target


def _resolve_native(d: Mapping[str, Any]) -> dict[str, Any]:
    """Replace ``mcpu: native`` with LLVM's name for this CPU (TVM would otherwise pick a
    generic CPU and never vectorise for the real ISA)."""
    from tvm.target import codegen

    out = dict(d)
    if out.get("mcpu") == "native":
        out["mcpu"] = str(codegen.llvm_get_system_cpu())
    return out


def to_tvm(target: Target):
    """The TVM target, host included, with host-specific placeholders resolved."""
    import tvm

    main = target.tvm_target if isinstance(target.tvm_target, str) else _resolve_native(target.tvm_target)
    if target.tvm_host is not None:
        return tvm.target.Target(tvm.target.Target(main), host=_resolve_native(target.tvm_host))
    return tvm.target.Target(main)


def describe(tgt) -> dict[str, Any]:
    """JSON-safe export of a TVM target (for the manifest)."""
    return _plain(tgt.export())


def _plain(value: Any) -> Any:
    """TVM FFI containers (Map, Array, String, IntImm) -> plain JSON values."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "__iter__"):
        return [_plain(v) for v in value]
    if hasattr(value, "value"):
        return _plain(value.value)
    return str(value)
