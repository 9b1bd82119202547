"""Backend registry: built-ins plus third-party backends from the ``nasc.backends`` entry points.

Backends are named by ``"module:attribute"`` strings and imported only when asked for,
so listing them never imports TVM or TensorRT.  A third-party package adds one with::

    [project.entry-points."nasc.backends"]
    mybackend = "my_pkg.backend:MyBackend"

The attribute is a class (instantiated without arguments) or a ready object that
satisfies :class:`nasc.backends.base.Backend`.  A built-in name cannot be shadowed: the
built-in wins, because an artifact's manifest names its backend and must keep meaning
the same code.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

from nasc.errors import BackendUnavailable, NascNameError, did_you_mean

from .base import Backend, Target

ENTRY_POINT_GROUP = "nasc.backends"
BUILTIN: dict[str, str] = {
    "torch": "nasc.backends.torch_ref:TorchBackend",
    "onnxruntime": "nasc.backends.onnxruntime:OrtBackend",
    "tvm": "nasc.backends.tvm:TvmBackend",
    "tensorrt": "nasc.backends.tensorrt:TensorRTBackend",
    "auto": "nasc.backends.auto:AutoBackend",
}
ALIASES: dict[str, str] = {"ort": "onnxruntime", "trt": "tensorrt", "torch_ref": "torch"}


def _entry_point_specs() -> dict[str, str]:
    specs: dict[str, str] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in BUILTIN:
            specs[ep.name] = ep.value
    return specs


def backend_specs() -> dict[str, str]:
    """Every known backend name -> ``module:attribute`` (built-ins first)."""
    return {**BUILTIN, **_entry_point_specs()}


def backend_names() -> list[str]:
    return list(backend_specs())


def _load(name: str, spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BackendUnavailable(f"backend '{name}' cannot be imported ({module_name}): {e}") from None
    obj: Any = module
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj() if isinstance(obj, type) else obj


def get_backend(name: str) -> Backend:
    """The backend called ``name``; unknown names list the known ones."""
    specs = backend_specs()
    key = ALIASES.get(name, name)
    if key not in specs:
        raise NascNameError(f"unknown backend '{name}'{did_you_mean(name, list(specs) + list(ALIASES))}. "
                            f"Known backends: {', '.join(specs)}")
    backend = _load(key, specs[key])
    if not isinstance(backend, Backend):
        raise BackendUnavailable(f"backend '{key}' ({specs[key]}) does not implement the Backend protocol")
    return backend


def availability(target: Target, names: list[str] | None = None) -> dict[str, tuple[bool, str]]:
    """``name -> (available, reason)`` for the target's backends (or the given names)."""
    out: dict[str, tuple[bool, str]] = {}
    for name in names if names is not None else list(target.backends) + list(_entry_point_specs()):
        try:
            out[name] = get_backend(name).available(target)
        except BackendUnavailable as e:
            out[name] = (False, e.message)
    return out
