"""Saving and loading nested training state without pickle.

A search checkpoint holds module weights, optimizer and scheduler state, random-generator
states and the epoch log: nested dicts and lists of tensors, numbers, strings and None.
``torch.load`` would unpickle it, and a crafted checkpoint then runs arbitrary code on the
machine that resumes it -- run directories travel between people and CI caches.  Here the
tensors go to a safetensors file (raw bytes plus a JSON header) and everything else to a
JSON skeleton in that file's metadata, where each tensor is a ``{"$tensor": key}``
placeholder.  Loading parses JSON and raw bytes only; nothing in the file can execute.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .errors import NascError
from .fsio import atomic_path

FORMAT = "nasc-state/1"
_TENSOR, _TUPLE, _ITEMS = "$tensor", "$tuple", "$items"


class StateError(NascError):
    """A state file that cannot be read back (corrupt, truncated, or not a nasc state file)."""


def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().clone().contiguous()  # safetensors refuses shared storage
        return {_TENSOR: key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in obj):
            return {k: _encode(v, tensors) for k, v in obj.items()}
        return {_ITEMS: [[_encode(k, tensors), _encode(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {_TUPLE: [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a state file")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if set(obj) == {_TENSOR}:
        return tensors[obj[_TENSOR]]
    if set(obj) == {_TUPLE}:
        return tuple(_decode(v, tensors) for v in obj[_TUPLE])
    if set(obj) == {_ITEMS}:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in obj[_ITEMS]}
    return {k: _decode(v, tensors) for k, v in obj.items()}


def save_state(obj: Any, path: Path | str) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of tensors and plain values) atomically."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    skeleton = _encode(obj, tensors)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "state": json.dumps(skeleton)})


def load_state(path: Path | str) -> Any:
    """Read a file written by :func:`save_state`; any defect is a :class:`StateError` naming it."""
    from safetensors import SafetensorError, safe_open

    p = Path(path)
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT or "state" not in meta:
                raise StateError(f"{p} is not a nasc state file (format {meta.get('format')!r})")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        return _decode(json.loads(meta["state"]), tensors)
    except StateError:
        raise
    except FileNotFoundError:
        raise StateError(f"{p} does not exist") from None
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as err:
        raise StateError(f"{p} is corrupt or truncated ({err.__class__.__name__}: {err})") from None


__all__ = ["FORMAT", "StateError", "load_state", "save_state"]
