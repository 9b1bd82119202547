"""Latency models: the interface the search optimizes against, and an analytic prior.

A :class:`LatencyModel` gives each IR node a latency in seconds (a Sym when it
depends on decisions), so the search can take its expectation under α exactly.
Until measurements exist for a target, :class:`RooflineModel` predicts from
MACs, bytes moved and a per-kernel overhead, with each target's figures taken from the
target registry (:mod:`nasc.targets`); :mod:`nasc.latency.resolve` decides which model a
target gets from the records in the latency store.  Every number it produces is a
*prediction* and is labelled with the model's name wherever it is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Protocol, runtime_checkable

from ..ir.graph import IRGraph, Node
from ..ir.ops import OpLibrary
from ..ir.sym import lift
from ..targets import TARGETS, resolve_target

if TYPE_CHECKING:
    from ..ir.space import SearchSpace

BYTES = 4


class LatencyModel(Protocol):
    @property
    def name(self) -> str:
        """Which model predicted: every reported latency carries it."""

    def node_latency(self, lib: OpLibrary, graph: IRGraph, node: Node) -> Any:
        """Seconds for one node at batch 1 (a Sym if it depends on decisions)."""


@runtime_checkable
class RefinesDecided(Protocol):
    """A model whose figure for a fully decided architecture is better than the sum of its
    per-node values (the recorded predictor: its folding rule is not a per-node sum)."""

    def decided_latency(self, space: "SearchSpace", assignment: Mapping[str, int]) -> float | None:
        """Seconds for the architecture ``assignment`` (decision path -> option) picks, or
        None where the per-node sum is all the model knows."""


def decided_latency(model: LatencyModel, space: "SearchSpace", assignment: Mapping[str, int]) -> float | None:
    """``model``'s own figure for a decided architecture, when it has one (:class:`RefinesDecided`)."""
    return model.decided_latency(space, assignment) if isinstance(model, RefinesDecided) else None


@dataclass(frozen=True)
class RooflineModel:
    """max(compute, memory) per primitive plus a fixed launch/dispatch overhead."""

    name: str
    macs_per_s: float
    bytes_per_s: float
    overhead_s: float

    def primitive_latency(self, lib: OpLibrary, op: str, in_shapes: list, attrs: dict) -> float:
        """Seconds for one primitive op at these input shapes (a kernel's members, one by one)."""
        return self._prim(lib, op, in_shapes, attrs)

    def _prim(self, lib: OpLibrary, op: str, in_shapes: list, attrs: dict) -> float:
        out = lib.shape(op, in_shapes, attrs)
        cost = lib.cost(op, in_shapes, attrs)
        numel = lambda s: float(__import__("math").prod(d if isinstance(d, int) else 1 for d in s))  # noqa: E731
        moved = (sum(numel(s) for s in in_shapes) + numel(out) + cost.params) * BYTES
        return max(cost.macs / self.macs_per_s, moved / self.bytes_per_s) + self.overhead_s

    def node_latency(self, lib: OpLibrary, graph: IRGraph, node: Node) -> Any:
        if node.kind not in ("op", "param_choice") or node.op is None:
            return 0.0
        shapes = [graph.node(i).shape for i in node.inputs]

        def one(sh: list, at: dict) -> float:
            opdef = lib.get(node.op or "")
            if not opdef.composite:
                return self._prim(lib, node.op or "", sh, at)
            exp = lib.expand(node.op or "", sh, at)
            total = 0.0
            for n in exp.nodes:
                ins = [exp.nodes[i].shape if i >= 0 else sh[-1 - i] for i in n.inputs]
                total += self._prim(lib, n.op, ins, dict(n.attrs))
            return total

        return lift(one, shapes, dict(node.attrs))


def network_latency(model: LatencyModel, arch: "SearchSpace") -> float:
    """Seconds of a decided architecture (an elaboration without free decisions): the sum of
    the model's per-node values over its pruned graph."""
    graph = arch.graph.prune()
    return float(sum(float(model.node_latency(arch.ops, graph, n)) for n in graph))


def priors() -> dict[str, RooflineModel]:
    """The roofline prior of every target the registry gives figures for, by name."""
    return {t.name: RooflineModel(f"roofline-prior:{t.name}", t.prior.macs_per_s, t.prior.bytes_per_s,
                                  t.prior.overhead_s)
            for t in TARGETS if t.prior is not None}


def prediction_label(model: LatencyModel) -> str:
    """How a predicted latency is labelled wherever it is reported: ``predicted (MODEL)``.
    A fitted model's name carries its current error on measured archs; the bare prior has
    none to carry -- nothing of its target was measured -- and the label says so."""
    unknown = "; nothing measured on this target: its error is unknown" if isinstance(model, RooflineModel) else ""
    return f"predicted ({model.name}{unknown})"


def prior_for(target: str | None) -> RooflineModel:
    """The prior of ``target`` (a name or alias; None: ``cpu``).  A target without figures of its
    own -- a recorded device -- is predicted with the ``cpu`` prior, whose name says so in every
    report (``nasc.latency.resolve`` replaces it by a fitted model once the store has records)."""
    table = priors()
    return table.get(resolve_target(target or "cpu").name, table["cpu"])
