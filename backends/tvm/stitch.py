"""Kernel-plan builds: each kernel of nasc's plan lowered alone, the kernels stitched into one module.

Runs inside the compile worker (TVM loaded).  Each kernel arrives as its own Relax module,
already through the "zero" pipeline (its PrimFuncs fused, and scheduled from the tuning
database when it has a record): TVM's FuseOps then only ever saw that kernel, so the tasks
it made are exactly the ones ``nasc profile --tune`` tuned from the kernel's micro-model.
Stitching adds each kernel's PrimFuncs to one module (identical ones once: repeated kernels
share code), each kernel's ``main`` as a Relax function ``kernel<i>``, and a ``main`` that
calls them in plan order.  Nothing is fused or re-partitioned across kernels afterwards.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence


def stitch(kernels: Sequence[Any], reads: Sequence[Sequence[int]], writes: Sequence[int],
           inputs: Mapping[int, tuple[str, Sequence[int]]], outputs: Sequence[tuple[int, Sequence[int]]]) -> Any:
    """One Relax module running ``kernels`` (zero-pipelined modules, in plan order).

    ``reads[i]``/``writes[i]``: the value ids kernel i reads (its parameters, in order) and
    writes; ``inputs``: value id -> (parameter name, shape) of the model's inputs, in order;
    ``outputs``: (value id, shape) of each model output (a value of another shape is reshaped:
    a flatten between the last kernel and the output is an alias the plan looks through)."""
    from tvm import relax

    bb = relax.BlockBuilder()
    params = {vid: relax.Var(name, relax.TensorType(list(shape), "float32")) for vid, (name, shape) in inputs.items()}
    values: dict[int, Any] = dict(params)
    with bb.function("main", list(params.values())):
        with bb.dataflow():
            for i, (kmod, args, out) in enumerate(zip(kernels, reads, writes)):
                kgv = bb.add_func(_renamed_main(bb, kmod), f"kernel{i}")
                values[out] = bb.emit(relax.Call(kgv, [values[a] for a in args]))
            results = [_shaped(bb, values[vid], shape) for vid, shape in outputs]
            out_var = bb.emit_output(results[0] if len(results) == 1 else relax.Tuple(results))
        bb.emit_func_output(out_var)
    return bb.get()


def _renamed_main(bb: Any, kmod: Any) -> Any:
    """``kmod``'s ``main`` calling the PrimFuncs as added to ``bb`` (renamed or deduplicated)."""
    from tvm.relax.expr_functor import PyExprMutator, mutator

    added = {gv.name_hint: bb.add_func(f, gv.name_hint) for gv, f in kmod.functions.items()
             if gv.name_hint != "main"}

    @mutator
    class Remap(PyExprMutator):
        def visit_global_var_(self, gv: Any) -> Any:
            return added.get(gv.name_hint, gv)

    main = Remap().visit_expr(kmod["main"])
    return main.without_attr("global_symbol")


def _shaped(bb: Any, value: Any, shape: Sequence[int]) -> Any:
    from tvm import relax

    shape_expr = getattr(value.ty, "shape", None)
    have = [int(d) for d in shape_expr] if shape_expr is not None else None
    return value if have == list(shape) else bb.emit(relax.op.reshape(value, list(shape)))
