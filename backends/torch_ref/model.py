"""Helpers every backend uses on the input ``torch.nn.Module``.

Why copy: a build must not change the caller's module (``eval()``, BN folding), and all
backends must see the same inference-mode graph, so the preparation lives in one place.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from nasc.errors import NascError


def inference_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy in eval mode with gradients off (the caller's module is untouched)."""
    m = copy.deepcopy(model).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


class _Positional(torch.nn.Module):
    """Fixed-arity wrapper: torch.fx cannot trace ``forward(*xs)`` (the frontend's ArchNet
    signature), but traces straight through a wrapper whose forward names its arguments."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner


_FORWARDS: dict[int, Callable[..., Any]] = {
    1: lambda self, a: self.inner(a),
    2: lambda self, a, b: self.inner(a, b),
    3: lambda self, a, b, c: self.inner(a, b, c),
    4: lambda self, a, b, c, d: self.inner(a, b, c, d),
}


def randomize_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random BN statistics and affines (eval mode), so that a build which skipped or
    mis-folded BN is visibly wrong in an equivalence check -- freshly initialized BN is
    an identity and would hide it."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                n = m.num_features
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    m.bias.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()


def _count_bn(model: torch.nn.Module) -> int:
    return sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _bn_calls(gm: torch.nn.Module) -> int:
    assert isinstance(gm, torch.fx.GraphModule)
    mods = dict(gm.named_modules())
    return sum(1 for n in gm.graph.nodes if n.op == "call_module"
               and isinstance(mods.get(str(n.target)), torch.nn.modules.batchnorm._BatchNorm))


def fold_batchnorm(model: torch.nn.Module, n_inputs: int) -> tuple[torch.nn.Module, str]:
    """Fold Conv+BN pairs in torch (0.04 s) instead of TVM's FoldConstant (5-60 s).

    Uses ``torch.fx.experimental.optimization.fuse`` (it only folds a BN whose conv output
    has no other user).  A model fx cannot trace is returned unchanged with the reason,
    and the backend then decomposes BN in its own IR (correct, but slower to compile)."""
    from torch.fx.experimental.optimization import fuse

    total = _count_bn(model)
    if total == 0:
        return model, "no BatchNorm layers"
    candidates: list[tuple[torch.nn.Module, str]] = [(model, "")]
    if n_inputs in _FORWARDS:
        wrapper = type(f"Positional{n_inputs}", (_Positional,), {"forward": _FORWARDS[n_inputs]})
        candidates.append((wrapper(model), ", through a fixed-arity wrapper"))
    reason = ""
    for candidate, how in candidates:
        try:
            fused = fuse(candidate)
        except (torch.fx.proxy.TraceError, TypeError, NotImplementedError, RuntimeError) as e:
            reason = f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
            continue
        left = _bn_calls(fused)
        return fused, (f"folded {total - left} of {total} BatchNorm layers in torch (torch.fx fuse{how})"
                       + (f"; {left} left to the backend" if left else ""))
    return model, f"not folded in torch ({reason}); left to the backend"


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
    np.savez(out_dir / "io_check.npz", **arrays)  # type: ignore[arg-type]  # numpy stubs type **kwds as bool
    return "io_check.npz"


def export_program(model: torch.nn.Module, inputs: Mapping[str, np.ndarray]) -> "torch.export.ExportedProgram":
    """``torch.export`` with failures turned into a BuildError (so ``--backend auto`` can skip
    a backend that cannot take this model instead of aborting)."""
    import warnings

    from ..base import BuildError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return torch.export.export(model, to_tensors(inputs))
        except Exception as e:  # dynamo raises many unrelated types; all mean "cannot export"
            raise BuildError(f"torch.export failed: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from e
