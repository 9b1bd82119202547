"""The kernels one architecture of a space runs, with repeats, read off the space itself.

Why not the real pipeline (:func:`nasc.latency.arch_kernels.arch_kernels`: elaborate,
build the torch model, from_arch, fold-bn, fuse): a predictor summing kernel latencies is
asked for many architectures -- discretization tries hundreds, a report every stored one --
and that pipeline takes a good fraction of a second per architecture.  The enumeration's
decided view (:mod:`nasc.latency.decided`) answers the same questions for the
architectures a condition admits; under a *full* assignment it admits one architecture,
so walking every unit start of the space gives that architecture's kernels, each as often
as it runs (NB201's five identical cells per stage give five of each), and the space node
each unit starts at.  ``tests/test_latency_predictor.py`` checks the list against the real
pipeline's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Hashable, Mapping

from ..ir.space import TRUE, SearchSpace
from ..passes.kernels import rules_for
from .conditions import Known
from .decided import DecidedView, Ref, SpaceIndex
from .space_kernels import KernelSig, kernels_at, primitives_at

if TYPE_CHECKING:
    from .ort_layout import OpNode


class _Assigned(Known):
    """A :class:`Known` of one architecture: every decision is read from the assignment,
    and a question is answered by computing it there (once)."""

    def __init__(self, options: Mapping[int, int]) -> None:
        super().__init__(TRUE, {}, options)
        self._answered: dict[Hashable, Any] = {}

    def ask(self, key: Hashable, compute: Callable[[Known], Any]) -> Any:
        if key not in self._answered:
            self._answered[key] = compute(self)
        return self._answered[key]


def full_options(space: SearchSpace, assignment: Mapping[str, int]) -> dict[int, int]:
    """Every decision's option (id -> option): the assignment's for the decisions it names
    (by path), the fixed value, else an option the decision's ``choose`` allows -- a decision
    the assignment leaves out is inactive, so which allowed option it takes changes nothing."""
    out: dict[int, int] = {}
    for d in space.decisions:
        if d.path in assignment:
            out[d.id] = int(assignment[d.path])
        elif d.fixed is not None:
            out[d.id] = d.fixed
        else:
            out[d.id] = first_allowed(d)
    return out


def first_allowed(decision: Any) -> int:
    """The first option a decision's ``choose`` allows: what an inactive decision is set to
    when something reads every decision (its value changes nothing)."""
    return next((o for o in range(decision.n) if o not in decision.excluded), 0)


@dataclass(frozen=True)
class PlacedKernel:
    """A kernel the architecture runs and the space node its unit starts at."""

    node: int
    kernel: KernelSig


class DecidedKernels:
    """The kernels of architectures of one space (one per object: it keeps the space's index)."""

    def __init__(self, space: SearchSpace, precision: str = "fp32", target: str = "cpu") -> None:
        self.space = space
        self.precision = precision
        self.rules = rules_for(target)
        self.index = SpaceIndex(space, space.ops)
        self.starts = [n.id for n in space.graph if n.kind in ("op", "param_choice", "input_choice")]

    def view(self, assignment: Mapping[str, int]) -> DecidedView:
        """The decided, folded graph of the architecture ``assignment`` picks."""
        return DecidedView(self.index, _Assigned(full_options(self.space, assignment)))

    def ops(self, assignment: Mapping[str, int], view: DecidedView | None = None) -> tuple[list["OpNode"], list[Ref]]:
        """The architecture's inputs and folded ops in topological order (aliases looked through,
        folded BNs gone) and the values its outputs return: what :func:`.ort_layout.layout_terms`
        reads.  ``view``: that architecture's view, when the caller has one (its answers are kept)."""
        from ..passes.roles import Role
        from .ort_layout import OpNode

        view = view or self.view(assignment)
        nodes = [OpNode((n.id, 0), "input", {}, (), tuple(view.space_shape(n.id)), True)
                 for n in self.space.graph if n.kind == "input"]  # weighted: never one value
        for sid in self.starts:
            if not view.live(sid):
                continue
            for j in range(primitives_at(view, sid)):
                ref = (sid, j)
                if view.prim(ref) is None or view.op(ref) is None or view.folded(ref) or view.role(ref) is Role.ALIAS:
                    continue
                role = view.role(ref)
                nodes.append(OpNode(ref, view.op(ref) or "", dict(view.attrs(ref)), tuple(view.producers(ref)),
                                    tuple(view.shape(ref)), role is not None and (role.anchor or role is Role.NORM)))
        outputs = [view.alias_source(view.value(n.inputs[0])) for n in self.space.graph if n.kind == "output"]
        return nodes, outputs

    def of(self, assignment: Mapping[str, int], view: DecidedView | None = None) -> tuple[PlacedKernel, ...]:
        """Every kernel the architecture ``assignment`` (decision path -> option) runs, in unit order."""
        view = view or self.view(assignment)
        found: list[PlacedKernel] = []
        for sid in self.starts:
            for j in range(primitives_at(view, sid)):
                found.extend(PlacedKernel(sid, k) for k in sorted(kernels_at(view, (sid, j), self.precision,
                                                                               self.rules)))
        return tuple(found)


__all__ = ["DecidedKernels", "PlacedKernel", "first_allowed", "full_options"]
