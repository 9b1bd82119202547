"""The kernels of one decided architecture, by the real pipeline.

The ground truth that :func:`nasc.latency.space_kernels.space_kernels` must reproduce
(tests and ``benchmarks/space_kernels.py`` compare the two): ArchNet's weights
(seeded), :func:`~nasc.passes.from_arch.from_arch`, then the passes of
:data:`~nasc.latency.space_kernels.PIPELINES` for the precision -- exactly what
``nasc opt`` runs -- and each kernel's signature.  Also what ``nasc profile --archs``
lists for an architecture it measures whole.

An architecture measured whole is stored under :func:`arch_key`: the sha256 of its
canonical text -- the arch printer's (:func:`nasc.frontend.archtext.arch_text`) without a header
and named :data:`ARCH_NAME`, so it depends on the architecture alone, not on the file or
space it was drawn from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from typing import Any, Iterable, Iterator

from ..ir.analysis import dnf_eval
from ..ir.graph import IRGraph
from ..ir.ops import OpLibrary
from ..ir.space import FALSE, SearchSpace
from ..passes.optir import OptIR
from .space_kernels import PIPELINES, KernelSig


def arch_kernels(graph: IRGraph, lib: OpLibrary, precision: str = "fp32", *, state: Any = None,
                 seed: int = 0) -> frozenset[KernelSig]:
    """The distinct kernels of a decided, pruned arch graph after :data:`PIPELINES` [precision]."""
    return frozenset(arch_kernel_list(graph, lib, precision, state=state, seed=seed))


def arch_kernel_list(graph: IRGraph, lib: OpLibrary, precision: str = "fp32", *, state: Any = None,
                     seed: int = 0) -> tuple[KernelSig, ...]:
    """Every kernel unit of a decided, pruned arch graph after :data:`PIPELINES` [precision], in
    the plan's order and with repeats: what a kernel-sum predictor adds up."""
    from ..passes.signature import kernel_signature

    ir = arch_opt_ir(graph, lib, precision, state=state, seed=seed)
    return tuple(KernelSig.of(kernel_signature(ir, k), k.rule) for k in ir.kernels or ())


def arch_opt_ir(graph: IRGraph, lib: OpLibrary, precision: str = "fp32", *, state: Any = None,
                seed: int = 0) -> OptIR:
    """A decided, pruned arch graph with its weights (``state``: an ArchNet state dict, else
    seeded ones) through the passes of :data:`PIPELINES` [precision]: the kernels it runs as."""
    import torch

    from ..lower.arch import ArchNet
    from ..passes.base import PassContext, parse_pipeline
    from ..passes.from_arch import from_arch
    from ..passes.registry import default_registry

    if state is None:
        torch.manual_seed(seed)
        state = ArchNet(graph, lib).state_dict()
    ir = from_arch(graph, lib, state, "arch")
    return parse_pipeline(PIPELINES[precision], default_registry()).run(ir, PassContext(lib, None, seed)).ir


ARCH_NAME = "network"
"""Not ``arch``: that is a reserved word, and the text must parse back (a kernel-sum model
recomputes the kernels of every stored architecture from it)."""


def canonical_arch_text(arch: SearchSpace, lib: OpLibrary) -> str:
    """The printer's text of a decided architecture, without header, named :data:`ARCH_NAME`."""
    from ..frontend.archtext import arch_text

    return arch_text(dataclasses.replace(arch, graph=arch.graph.prune()), lib, ARCH_NAME, [])


def arch_key(text: str) -> str:
    """The latency-table key of an architecture: the sha256 of its :func:`canonical_arch_text`."""
    return hashlib.sha256(text.encode()).hexdigest()


def every_arch(space: SearchSpace) -> Iterator[dict[str, int]]:
    """Each architecture of ``space`` once: an assignment of its active decisions (path -> option).

    Brute force over every full assignment (decisions a ``choose`` excludes skipped where
    active), kept once per restriction to the decisions active under it -- so the count is
    :func:`nasc.ir.analysis.space_size`.  For spaces small enough to enumerate."""
    free = [d for d in space.decisions if d.free and d.active_if != FALSE]
    fixed = {d.id: d.fixed for d in space.decisions if d.fixed is not None}
    seen: set[tuple[tuple[int, int], ...]] = set()
    for options in itertools.product(*(range(d.n) for d in free)):
        full = {**fixed, **{d.id: o for d, o in zip(free, options)}}
        active = tuple((d.id, full[d.id]) for d in free if dnf_eval(d.active_if, full))
        if active in seen or any(o in space.decisions[i].excluded for i, o in active):
            continue
        seen.add(active)
        yield {space.decisions[i].path: o for i, o in active}


def kernels_of_archs(compiled: Any, space: SearchSpace, assignments: Iterable[dict[str, int]],
                     precision: str = "fp32") -> Iterator[frozenset[KernelSig]]:
    """The kernels of each architecture (path -> option), elaborated from its pins as ``nasc
    freeze`` does: the independent path the enumeration is checked against."""
    from ..api import pins_from_assignment

    lib = compiled.loader.ops
    for assignment in assignments:
        arch = compiled.elaborate(space.name, pins_from_assignment(assignment))
        yield arch_kernels(arch.graph.prune(), lib, precision)


__all__ = ["ARCH_NAME", "arch_key", "arch_kernel_list", "arch_kernels", "canonical_arch_text", "every_arch", "kernels_of_archs"]
