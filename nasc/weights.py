"""Weights files (safetensors) that check themselves: the one place nasc saves and loads them.

Why: weights are handed between machines and tools, and a flipped bit or a file cut short
would otherwise build a model that runs and is silently wrong.  Every file nasc writes
carries, in its safetensors header metadata, the sha256 of its contents and one sha256 per
tensor (so a reader can say *which* tensor changed).  Every read recomputes them and,
given the tensors the model expects, also checks names and shapes, so weights trained for
another arch are refused by name instead of failing deep inside torch.

The contents hash is defined on tensors, not on file bytes, so it survives re-serialisation
and does not depend on header layout: per tensor, sha256 over ``dtype``, ``shape`` and the
raw little-endian bytes; overall, sha256 over the lines ``name dtype shape tensor-sha256``
in sorted name order.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .errors import NascError
from .fsio import atomic_path

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

CONTENTS_KEY = "nasc.sha256"
TENSORS_KEY = "nasc.tensor_sha256"
SCHEME_KEY = "nasc.hash"
SCHEME = "tensor-sha256/1"

Warn = Callable[[str], None]


class WeightsError(NascError):
    """A weights file that cannot be read, was altered after nasc wrote it, or belongs to another model."""


def stderr_warning(message: str) -> None:
    """Default for ``warn``: one line on stderr, in the CLI's diagnostic style."""
    sys.stderr.write(f"nasc: warning: {message}\n")


def tensor_sha256(t: "torch.Tensor") -> str:
    """sha256 of one tensor's dtype, shape and bytes (views and strides do not matter)."""
    import torch

    flat = t.detach().to("cpu").contiguous().reshape(-1)
    h = hashlib.sha256(f"{t.dtype} {list(t.shape)}\n".encode())
    if flat.numel():
        h.update(flat.view(torch.uint8).numpy().data)
    return h.hexdigest()


def contents_sha256(tensors: Mapping[str, "torch.Tensor"]) -> tuple[str, dict[str, str]]:
    """(overall sha256, per-tensor sha256) of a name -> tensor mapping, in canonical order."""
    per = {name: tensor_sha256(tensors[name]) for name in sorted(tensors)}
    lines = "".join(f"{name} {tensors[name].dtype} {list(tensors[name].shape)} {digest}\n"
                    for name, digest in per.items())
    return hashlib.sha256(lines.encode()).hexdigest(), per


def save_weights(path: Path | str, tensors: Mapping[str, "torch.Tensor"],
                 metadata: Mapping[str, str] | None = None) -> str:
    """Write ``tensors`` with their hashes in the header, atomically (temporary file in the
    same folder, then ``os.replace``); returns the contents sha256."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    overall, per = contents_sha256(state)
    meta = {**dict(metadata or {}), SCHEME_KEY: SCHEME, CONTENTS_KEY: overall, TENSORS_KEY: json.dumps(per)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return overall


def load_weights(path: Path | str, *, expected: Mapping[str, Any] | None = None, model: str = "the model",
                 warn: Warn = stderr_warning) -> dict[str, "torch.Tensor"]:
    """Read a safetensors file, verify its recorded hashes and, with ``expected`` (a
    ``state_dict`` or any name -> object with ``.shape``), that it fits ``model``.

    Raises :class:`WeightsError` naming the file and the first difference.  A file
    without nasc's hash (written by another tool) loads with a warning through ``warn``."""
    path = Path(path)
    tensors, meta = _read(path)
    recorded = meta.get(CONTENTS_KEY)
    if recorded is None:
        warn(f"weights {path} carry no nasc content hash (written by another tool?): they cannot be verified")
    else:
        _check_recorded(path, tensors, recorded, meta.get(TENSORS_KEY))
    if expected is not None:
        difference = first_mismatch(tensors, expected)
        if difference:
            raise WeightsError(f"weights {path} do not match {model}: {difference}")
    return tensors


def first_mismatch(tensors: Mapping[str, Any], expected: Mapping[str, Any]) -> str | None:
    """The first way ``tensors`` differ from ``expected`` in names or shapes, or None."""
    missing = [k for k in expected if k not in tensors]
    extra = sorted(k for k in tensors if k not in expected)
    if missing:
        more = f" ({len(missing)} missing in all)" if len(missing) > 1 else ""
        return f"tensor '{missing[0]}' is missing{more}"
    if extra:
        more = f" ({len(extra)} unexpected in all)" if len(extra) > 1 else ""
        return f"tensor '{extra[0]}' is not part of it{more}"
    for name, want in expected.items():
        have = tuple(tensors[name].shape)
        if have != tuple(want.shape):
            return f"tensor '{name}' has shape {list(have)}, expected {list(want.shape)}"
    return None


def _read(path: Path) -> tuple[dict[str, "torch.Tensor"], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}" if not path.exists()
                           else f"weights {path} is not a file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"cannot read weights {path}: not a valid safetensors file, truncated or corrupt "
                           f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return tensors, meta


def _check_recorded(path: Path, tensors: Mapping[str, "torch.Tensor"], recorded: str,
                    recorded_per: str | None) -> None:
    overall, per = contents_sha256(tensors)
    if overall == recorded:
        return
    try:
        want = json.loads(recorded_per) if recorded_per else {}
    except json.JSONDecodeError:
        want = {}
    what = _first_changed(want, per) if isinstance(want, dict) and want else None
    raise WeightsError(f"weights {path} differ from the sha256 recorded when nasc wrote them "
                       f"({what or 'the recorded hash itself was changed'}); the file was altered or damaged")


def _first_changed(recorded: Mapping[str, str], actual: Mapping[str, str]) -> str | None:
    for name in recorded:
        if name not in actual:
            return f"tensor '{name}' was removed"
    for name, digest in actual.items():
        if name not in recorded:
            return f"tensor '{name}' was added"
        if recorded[name] != digest:
            return f"tensor '{name}' changed"
    return None
