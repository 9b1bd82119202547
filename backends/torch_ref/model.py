"""Helpers every backend uses on the input ``torch.nn.Module``.

Why copy: a build must not change the caller's module (``eval()``, BN folding), and all
backends must see the same inference-mode graph, so the preparation lives in one place.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from nasc.errors import NascError


def inference_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy in eval mode with gradients off (the caller's module is untouched)."""
    m = copy.deepcopy(model).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def fold_batchnorm(model: torch.nn.Module) -> tuple[torch.nn.Module, str]:
    """Fold Conv+BN pairs in torch (0.04 s) instead of TVM's FoldConstant (5-6 s).

    Uses ``torch.fx.experimental.optimization.fuse``; a model fx cannot trace is returned
    unchanged with the reason, and the backend then decomposes BN in its own IR."""
    from torch.fx.experimental.optimization import fuse

    try:
        return fuse(model), "folded in torch (torch.fx fuse)"
    except (torch.fx.proxy.TraceError, TypeError, NotImplementedError, RuntimeError) as e:
        return model, f"not folded in torch ({type(e).__name__}: {e}); left to the backend"


def to_tensors(inputs: Mapping[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
    """Positional torch tensors in the dict's order (= the order of ``forward``'s arguments)."""
    return tuple(torch.from_numpy(np.ascontiguousarray(v)) for v in inputs.values())


def flatten_outputs(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        flat: list[torch.Tensor] = []
        for o in out:
            flat.extend(flatten_outputs(o))
        return flat
    if isinstance(out, Mapping):
        return flatten_outputs(list(out.values()))
    raise NascError(f"model output of type {type(out).__name__} is not a tensor, tuple or dict of tensors")


def run_torch(model: torch.nn.Module, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    with torch.inference_mode():
        return [t.detach().cpu().numpy() for t in flatten_outputs(model(*to_tensors(inputs)))]


def output_names(n: int, requested: Sequence[str] | None) -> tuple[str, ...]:
    if requested:
        if len(requested) != n:
            raise NascError(f"{len(requested)} output names given for a model with {n} outputs")
        return tuple(requested)
    return ("output",) if n == 1 else tuple(f"output_{i}" for i in range(n))


def input_specs(inputs: Mapping[str, np.ndarray]) -> dict[str, tuple[tuple[int, ...], str]]:
    return {k: (tuple(int(d) for d in v.shape), str(v.dtype)) for k, v in inputs.items()}


def write_io_check(out_dir: Path, inputs: Mapping[str, np.ndarray], outputs: Sequence[np.ndarray],
                   names: Sequence[str]) -> str:
    """Save example inputs and the torch reference outputs, so a device can check itself."""
    arrays = {f"input.{k}": v for k, v in inputs.items()}
    arrays.update({f"output.{n}": o for n, o in zip(names, outputs)})
    np.savez(out_dir / "io_check.npz", **arrays)
    return "io_check.npz"
