"""torch ``ExportedProgram`` -> Relax IRModule, plus the IR rewrites the TVM path needs.

Runs inside the compile worker (TVM loaded).  BatchNorm has normally been folded in torch
already (much cheaper than TVM's FoldConstant); ``DecomposeOpsForInference`` handles any
BN left over, turning it into arithmetic that FuseOps merges into the conv epilogue.
"""

from __future__ import annotations

from typing import Any


def relax_from_program(ep: Any, decomposed: bool = False):
    """``ep`` as Relax (``decomposed``: torch's decompositions already ran on it)."""
    from tvm import relax
    from tvm.relax.frontend.torch import from_exported_program

    mod = from_exported_program(ep, unwrap_unit_return_tuple=True, run_ep_decomposition=not decomposed)
    return relax.transform.DecomposeOpsForInference()(mod)


def clip_to_min_max(mod: Any):
    """Rewrite ``R.clip(x, lo, hi)`` (PrimValue bounds) into maximum/minimum with tensor constants.

    ToMixedPrecision in TVM 0.27 crashes on PrimValue clip bounds ("Expected TensorType"),
    which the torch frontend emits for ReLU6/Hardsigmoid (docs/toolchain.md §6)."""
    import tvm
    from tvm import relax
    from tvm.relax.dpl import is_op, rewrite_call, wildcard

    x = wildcard()
    pat = is_op("relax.clip")(x, wildcard(), wildcard())

    def bound(a: Any) -> float:
        return float(getattr(a.value, "value", a.value))

    def rewrite(expr: Any, matches: Any) -> Any:
        call, data = matches[pat], matches[x]
        dt = data.ty.dtype
        lo = relax.const(bound(call.args[1]), dt)
        hi = relax.const(bound(call.args[2]), dt)
        return relax.op.minimum(relax.op.maximum(data, lo), hi)

    funcs = {gv: rewrite_call(pat, rewrite, f) if isinstance(f, relax.Function) else f
             for gv, f in mod.functions.items()}
    return tvm.IRModule(funcs, attrs=mod.attrs)


def to_fp16(mod: Any):
    """fp16 compute with fp32 accumulation; inputs and outputs stay fp32."""
    from tvm import relax

    return relax.transform.ToMixedPrecision(out_dtype="float32")(clip_to_min_max(mod))
