"""Decided Arch IR + ArchNet weights -> primitive-level :class:`~nasc.passes.optir.OptIR`.

Every pass works on primitives, so composites are expanded first -- through the op
library's own expansions (``lib.expand``), the same ones that define their shapes and
costs and that :class:`nasc.lower.ops_torch.Expanded` executes.  That is what makes the
weights line up without a name-matching heuristic:

======================================  ==========================================
ArchNet state-dict key                  primitive node of the OptIR
======================================  ==========================================
``layers.n{i}_{op}.{param}``            the node for primitive arch node ``i``
``layers.n{i}_{op}.ops.{j}.{param}``    expansion node ``j`` of composite arch node ``i``
======================================  ==========================================

(``j`` indexes ``lib.expand(op, in_shapes, attrs).nodes``; nested composites are
already flattened by the expansion builder, and ``Expanded`` numbers its submodules the
same way.)  The prefix is kept per node as ``origin`` in the OptIR and in ``ir.json``.
Weights are stored per node under the torch parameter names (``weight``, ``bias``,
``running_mean``, ``running_var``); ``num_batches_tracked`` is training state and dropped.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import NascError
from ..ir.graph import IRGraph, Node
from ..ir.ops import OpLibrary
from .optir import OptIR
from .roles import RoleError, role_of

TRAINING_ONLY = ("num_batches_tracked",)


class WeightsMismatch(NascError):
    """A weights file that does not belong to the architecture."""


def from_arch(graph: IRGraph, lib: OpLibrary, state: Mapping[str, Any], name: str) -> OptIR:
    """Expand every composite of a decided, pruned graph and attach its ArchNet weights."""
    if not graph.is_decided():
        raise NascError("passes need a fully decided arch (run nasc search or nasc freeze first)")
    nodes: list[Node] = []
    origin: dict[int, str] = {}
    weights: dict[int, dict[str, Any]] = {}
    value: dict[int, int] = {}  # arch node id -> OptIR node id holding its value
    used: set[str] = set()

    def add(kind: str, op: str | None, attrs: tuple, inputs: tuple[int, ...], shape: tuple,
            name: str | None = None) -> int:
        nid = len(nodes)
        nodes.append(Node(nid, kind, op, attrs, inputs, tuple(shape), name=name))
        return nid

    def attach(nid: int, prefix: str) -> None:
        origin[nid] = prefix
        found = {k[len(prefix) + 1:]: v for k, v in state.items()
                 if k.startswith(prefix + ".") and "." not in k[len(prefix) + 1:]}
        for k in list(found):
            used.add(f"{prefix}.{k}")
            if k in TRAINING_ONLY:
                del found[k]
        if found:
            weights[nid] = {k: v.detach().to("cpu").float().contiguous() for k, v in found.items()}

    for n in graph:
        if n.kind == "input":
            value[n.id] = add("input", None, (), (), n.shape, n.name)
            continue
        if n.kind == "output":
            add("output", None, (), (value[n.inputs[0]],), n.shape, n.name)
            continue
        opdef = lib.get(n.op or "")
        if opdef.module_fn is not None:
            raise NascError(f"custom op '{n.op}' is a torch module with no expansion into primitives, "
                            "so the passes cannot see inside it")
        ins = tuple(value[i] for i in n.inputs)
        key = f"layers.n{n.id}_{n.op}"
        if not opdef.composite:
            _check_role(lib, n.op or "")
            nid = add("op", n.op, bound_attrs(lib, n.op or "", dict(n.attrs)), ins, n.shape)
            attach(nid, key)
            value[n.id] = nid
            continue
        exp = lib.expand(n.op or "", [graph.node(i).shape for i in n.inputs], dict(n.attrs))
        local: dict[int, int] = {}
        for j, p in enumerate(exp.nodes):
            _check_role(lib, p.op)
            pins = tuple(ins[-1 - i] if i < 0 else local[i] for i in p.inputs)
            nid = add("op", p.op, bound_attrs(lib, p.op, dict(p.attrs)), pins, p.shape)
            attach(nid, f"{key}.ops.{j}")
            local[j] = nid
        value[n.id] = ins[-1 - exp.output] if exp.output < 0 else local[exp.output]
    unused = sorted(k for k in state if k not in used)
    if unused:
        raise WeightsMismatch(f"the weights hold {len(unused)} tensors this arch does not use "
                              f"(first: {unused[0]}); were they trained for another arch?")
    _check_params(nodes, weights, lib)
    ins_ = tuple(n.id for n in nodes if n.kind == "input")
    outs = tuple(n.id for n in nodes if n.kind == "output")
    return OptIR(name, tuple(nodes), ins_, outs, origin, weights)


def bound_attrs(lib: OpLibrary, op: str, attrs: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Attributes with defaults filled in, in the op's parameter order (one canonical form)."""
    full = lib.bind(lib.get(op), attrs)
    return tuple((p.name, full[p.name]) for p in lib.get(op).params)


def _check_role(lib: OpLibrary, op: str) -> None:
    try:
        role_of(lib.get(op))
    except RoleError as e:
        raise NascError(str(e)) from None


def expected_params(node: Node, in_shapes: list[tuple[Any, ...]], lib: OpLibrary) -> dict[str, tuple[int, ...]]:
    """The parameter shapes the torch op table gives this primitive (what verify checks)."""
    a = node.attr
    cin: Any = in_shapes[0][1] if in_shapes and len(in_shapes[0]) > 1 else None  # concrete int here
    out: dict[str, tuple[int, ...]]
    if node.op == "conv":
        out = {"weight": (a["C"], cin // a["groups"], a["k"], a["k"])}
        if a["bias"]:
            out["bias"] = (a["C"],)
        return out
    if node.op == "dwconv":
        out = {"weight": (cin, 1, a["k"], a["k"])}
        if a["bias"]:
            out["bias"] = (cin,)
        return out
    if node.op == "linear":
        out = {"weight": (a["n"], cin)}
        if a["bias"]:
            out["bias"] = (a["n"],)
        return out
    if node.op == "bn":
        return {k: (cin,) for k in ("weight", "bias", "running_mean", "running_var")}
    return {}


def bn_eps() -> float:
    """The eps of the op table's BN (what ArchNet trains with): folding and the ONNX emitter
    must divide by the same one."""
    from ..lower.ops_torch import make_primitive  # torch: loaded only when a BN is folded or emitted

    eps = make_primitive("bn", [(1, 1, 1, 1)], {}).eps
    assert isinstance(eps, float)
    return eps


def _check_params(nodes: list[Node], weights: dict[int, dict[str, Any]], lib: OpLibrary) -> None:
    by_id = {n.id: n for n in nodes}
    for n in nodes:
        if n.kind != "op":
            continue
        want = expected_params(n, [by_id[i].shape for i in n.inputs], lib)
        have = weights.get(n.id, {})
        if n.op == "bn" and "weight" not in have and "running_mean" in have:
            want = {k: v for k, v in want.items() if k.startswith("running")}  # affine=False BN
        missing = sorted(set(want) - set(have))
        if missing:
            raise WeightsMismatch(f"the weights lack {missing[0]} of node %{n.id} ({n.op}); "
                                  "were they trained for another arch?")
        for k, shape in want.items():
            if tuple(have[k].shape) != shape:
                raise WeightsMismatch(f"node %{n.id} ({n.op}) {k} has shape {list(have[k].shape)}, "
                                      f"the arch needs {list(shape)}")
