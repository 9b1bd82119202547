"""A latency model that answers measured architectures with their measurement.

A measuring loop measures its architecture and a few alternatives each round.  The next
round's model is refitted on them, but a fit still errs by several percent on any one
architecture -- and a search under a budget drifts towards the architectures the model
underestimates.  What has been measured needs no prediction: :class:`MeasuredArchs` gives
the discretization the measured figure for those (so an alternative measured inside the
band is found again and kept), and the refitted model's prediction for the rest.  Keys are
the *active* assignments (decision path -> option of the decisions that take effect), so
the same network reached with different inactive decisions is one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..ir.graph import IRGraph, Node
from ..ir.ops import OpLibrary
from ..latency.model import LatencyModel, decided_latency

if TYPE_CHECKING:
    from ..ir.space import SearchSpace

Key = tuple[tuple[str, int], ...]


def arch_key_of(space: "SearchSpace", assignment: Mapping[str, int]) -> Key:
    """The active part of ``assignment``, as a hashable key."""
    from ..api import active_assignment

    return tuple(sorted(active_assignment(space, dict(assignment)).items()))


@dataclass(frozen=True)
class MeasuredArchs:
    """``base``, except for the architectures in ``measured`` (key -> seconds), whose figure is
    their measurement; per-node values (the search's expected cost) are ``base``'s."""

    base: LatencyModel
    measured: Mapping[Key, float]
    source: str

    @property
    def name(self) -> str:
        return f"{self.base.name}; {len(self.measured)} archs by their {self.source} latency"

    def node_latency(self, lib: OpLibrary, graph: IRGraph, node: Node) -> Any:
        return self.base.node_latency(lib, graph, node)

    def decided_latency(self, space: "SearchSpace", assignment: Mapping[str, int]) -> float | None:
        known = self.measured.get(arch_key_of(space, assignment))
        return known if known is not None else decided_latency(self.base, space, assignment)


def with_measured(base: LatencyModel, space: "SearchSpace", readings: Iterable[tuple[Mapping[str, int], float]],
                  source: str) -> LatencyModel:
    """``base`` answering each (assignment, milliseconds) reading exactly (``base`` itself when none)."""
    table = {arch_key_of(space, a): ms / 1e3 for a, ms in readings}
    return MeasuredArchs(base, table, source) if table else base


__all__ = ["MeasuredArchs", "arch_key_of", "with_measured"]
