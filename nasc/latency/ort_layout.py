"""What ONNX Runtime's CPU provider does to an architecture's graph, predicted from the graph.

Why: a kernel-sum model adds up kernels as nasc's fuse pass plans them, timed one by one.
ONNX Runtime (``ORT_ENABLE_ALL`` on x86) rewrites the graph first, and on NAS-Bench-201
cells the rewrite is where the kernel sum goes wrong: on 80 measured architectures, the
kernel sum with per-class terms put 58% within +-10% of the measured latency, and adding
the counts of the nodes ONNX Runtime's *optimized* graph really holds (per activation
shape) put 90% there.  Those counts depend on how the nodes connect, not on which kernels
there are, so no per-kernel term can carry them.  This module derives them from the
architecture's own folded graph, following the rewrites ONNX Runtime applies:

* **common subexpressions**: a weightless op applied twice to the same value (NB201 puts
  a ReLU on each edge leaving a node) runs once;
* **the NCHWc layout** (``NchwcTransformer``): convolutions whose channels fill the CPU's
  vector block run in a blocked layout, and so do pools, activations and adds whose
  inputs are all blocked; a value crossing from the plain layout into a blocked
  convolution or pool is reordered once (``ReorderInput``), and a blocked value read by
  anything else (a ``zero``'s multiply, a global pool, an output) once the other way
  (``ReorderOutput``);
* **fusion into a convolution**: a ``zero`` (a multiply by a constant) reading a
  convolution that nothing else reads is folded into its weights (``ConvMulFusion``); then,
  in the blocked layout, an add one of whose inputs is a convolution read only by that add
  becomes the convolution's sum input, and an activation read from a convolution (or
  convolution + sum) and nothing else becomes its activation.

Checked against ONNX Runtime's own optimized graphs of those 80 architectures and 80 of
the digits example: the counts of layout changes, adds, ReLUs and multiplies agree on all
160 (``tests/test_ort_layout.py`` builds four and compares).  :func:`layout_terms`
returns the counts per activation shape; the kernel-sum model fits one cost per term on
the measured architectures (:mod:`.kernel_model`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Mapping, Sequence

LAYOUT_PREFIX = "ort "
"""How a layout term is named among a kernel-sum model's counts (beside the kernel classes)."""
BLOCKED = frozenset({"conv", "dwconv", "avg_pool", "max_pool", "bn"})
"""Ops the layout transform rewrites to the blocked layout (when their channels allow)."""
CONVS = frozenset({"conv", "dwconv", "bn"})
"""Blocked ops that take a sum input and an activation (a BN left unfolded becomes a depthwise
1x1 convolution)."""
FOLLOWS = frozenset({"relu", "relu6", "add"})
"""Layout-agnostic ops that stay blocked when every input is."""
COUNTED = ("relu", "relu6", "add", "zero", "avg_pool", "max_pool")
"""Ops whose standalone occurrences (after rewrites) are terms: the ones a rewrite removes or keeps."""


@dataclass(frozen=True)
class OpNode:
    """One op of a decided, folded graph: ``ref`` identifies it, ``inputs`` are refs
    (graph inputs are refs without a node), ``weighted`` whether it has weights (never merged
    as a common subexpression)."""

    ref: Hashable
    op: str
    attrs: Mapping[str, Any]
    inputs: tuple[Hashable, ...]
    shape: tuple[Any, ...]
    weighted: bool


def nchwc_block(flags: Iterable[str] | None = None) -> int:
    """The blocked layout's channel block on this CPU (ONNX Runtime's MLAS): 16 with AVX-512,
    8 with AVX2, 4 with plain SSE/NEON-class vectors; ``flags`` default to /proc/cpuinfo's."""
    if flags is None:
        flags = _cpu_flags()
    have = set(flags)
    if "avx512f" in have:
        return 16
    if "avx2" in have:
        return 8
    return 4


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _channels(shape: Sequence[Any]) -> int | None:
    return shape[1] if len(shape) == 4 and isinstance(shape[1], int) else None


def _reads(node: OpNode, in_shape: Sequence[Any], block: int) -> str | None:
    """Which layout a blocked ``node`` reads (``"blocked"``, or ``"plain"`` for a convolution
    with fewer input channels than a block), or None when the transform leaves it alone.
    Convolutions pad their output channels to whole blocks; pools need whole blocks."""
    out_c, in_c = _channels(node.shape), _channels(in_shape)
    if out_c is None or in_c is None:
        return None
    groups = int(node.attrs.get("groups", 1))
    if node.op == "dwconv" or node.op == "conv" and groups > 1 and groups == in_c == out_c:
        return "blocked"
    if node.op == "conv" and groups == 1:
        return "blocked" if in_c % block == 0 else "plain" if in_c < block else None
    if node.op in ("avg_pool", "max_pool") and in_c % block == 0:
        return "blocked"
    if node.op == "bn" and in_c % block == 0:  # a depthwise 1x1 convolution, if its input is blocked
        return "blocked"
    return None


def _dedupe(nodes: Sequence[OpNode]) -> list[OpNode]:
    """The graph after common-subexpression elimination of weightless ops."""
    canon: dict[Hashable, Hashable] = {}
    seen: dict[tuple[Any, ...], Hashable] = {}
    out = []
    for n in nodes:
        inputs = tuple(canon.get(i, i) for i in n.inputs)
        if not n.weighted:
            key = (n.op, tuple(sorted(n.attrs.items())), inputs)
            if key in seen:
                canon[n.ref] = seen[key]
                continue
            seen[key] = n.ref
        out.append(OpNode(n.ref, n.op, n.attrs, inputs, n.shape, n.weighted))
    return out


def layout_terms(nodes: Sequence[OpNode], outputs: Iterable[Hashable], block: int) -> Counter[str]:
    """Counts of what ONNX Runtime runs besides the kernels, per activation shape (module
    docstring): ``reorder_in``/``reorder_out`` (values changing layout), the standalone
    ``relu``/``add``/``zero``/pools left after fusion, and ``fused_add``/``fused_relu``.
    ``nodes`` in topological order; ``outputs`` the refs the graph returns."""
    graph = _dedupe(nodes)
    by_ref = {n.ref: n for n in graph}
    readers: Counter[Hashable] = Counter(i for n in graph for i in n.inputs)
    for o in outputs:
        readers[o] += 1
    blocked: set[Hashable] = set()
    reorder_in: set[Hashable] = set()
    reorder_out: set[Hashable] = set()
    with_act: set[Hashable] = set()
    with_sum: set[Hashable] = set()
    becomes: dict[Hashable, Hashable] = {}  # a fused node -> the conv that took it
    terms: Counter[str] = Counter()

    def shape_of(ref: Hashable) -> tuple[Any, ...]:
        return by_ref[ref].shape if ref in by_ref else ()

    def conv_of(ref: Hashable) -> OpNode | None:
        n = by_ref.get(becomes.get(ref, ref))
        return n if n is not None and n.op in CONVS and n.ref in blocked else None

    for n in graph:
        tag = _shape_tag(n.shape)
        if n.op == "zero" and n.inputs and (by_ref[n.inputs[0]].op if n.inputs[0] in by_ref else "") in CONVS - {"bn"} \
                and readers[n.inputs[0]] == 1:
            # a multiply by a constant is folded into the convolution it alone reads (ConvMulFusion)
            becomes[n.ref] = n.inputs[0]
            if n.inputs[0] in blocked:
                blocked.add(n.ref)
            terms[f"fused_zero {tag}"] += 1
            continue
        reads = _reads(n, shape_of(n.inputs[0]), block) if n.op in BLOCKED and n.inputs else None
        if n.op == "bn" and n.inputs[0] not in blocked:
            reads = None  # a BN is rewritten only where its input already is blocked
        if reads is not None:
            src = n.inputs[0]
            if reads == "blocked" and src not in blocked:
                reorder_in.add(src)
            elif reads == "plain" and src in blocked:
                reorder_out.add(src)
            blocked.add(n.ref)
        elif n.op in FOLLOWS and n.inputs and all(i in blocked for i in n.inputs) \
                and len({shape_of(i) for i in n.inputs}) == 1:
            blocked.add(n.ref)
            if n.op == "add":
                host = next((c for c, i in ((conv_of(i), i) for i in n.inputs) if c is not None and readers[i] == 1
                             and c.ref not in with_act and c.ref not in with_sum), None)
                if host is not None:
                    with_sum.add(host.ref)
                    becomes[n.ref] = host.ref
                    terms[f"fused_add {tag}"] += 1
                    continue
            else:
                host = conv_of(n.inputs[0])
                if host is not None and readers[n.inputs[0]] == 1 and host.ref not in with_act:
                    with_act.add(host.ref)
                    becomes[n.ref] = host.ref
                    terms[f"fused_{n.op} {tag}"] += 1
                    continue
        else:
            reorder_out.update(i for i in n.inputs if i in blocked)
        if n.op in COUNTED:
            terms[f"{n.op} {tag}"] += 1
    reorder_out.update(o for o in outputs if o in blocked)
    for ref in reorder_in:
        terms[f"reorder_in {_shape_tag(shape_of(ref))}"] += 1
    for ref in reorder_out:
        terms[f"reorder_out {_shape_tag(shape_of(ref))}"] += 1
    return terms


def named_terms(graph: tuple[Sequence[OpNode], Sequence[Hashable]], block: int) -> tuple[tuple[str, int], ...]:
    """:func:`layout_terms` of ``graph`` (ops, outputs: :meth:`DecidedKernels.ops
    <nasc.latency.decided_kernels.DecidedKernels.ops>`) on a CPU whose layout block is
    ``block``, as counts named ``ort <term>``: the terms an ONNX Runtime kernel-sum model fits
    besides its kernel classes."""
    terms = layout_terms(*graph, block)
    return tuple(sorted((f"{LAYOUT_PREFIX}{name}", n) for name, n in terms.items()))



def _shape_tag(shape: Sequence[Any]) -> str:
    return "[" + ",".join(str(d) for d in shape[1:]) + "]"


__all__ = ["BLOCKED", "CONVS", "COUNTED", "FOLLOWS", "LAYOUT_PREFIX", "OpNode", "named_terms", "layout_terms", "nchwc_block"]
