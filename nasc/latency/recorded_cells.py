"""The recorded-device predictor laid out over a space's IR nodes, so a search can optimize it.

A search takes expected latencies under α exactly by summing per-node values
(:mod:`nasc.search.objectives`); the recorded predictor (:mod:`.recorded`) predicts a whole
NAS-Bench-201 network from its cell.  What connects them:

* **The search uses the model's linear part.**  The model's features count, per op, the
  edges that execute it, and each op's coefficient is its cost on one edge: so each edge's
  mixed node carries the coefficient of its choice (a Sym over its decision).  A shared
  cell repeats its decisions in every cell of the network (15 in NB201), so each repetition
  carries its share, 1/15 of the coefficient; the intercept (stem, reductions, classifier,
  the ``none`` edges' runtime) sits on the first output node.  What is left out is what is
  not linear in the per-edge choices: the Raspberry Pi's folding rule (whether an edge
  runs depends on other edges, ``nb201_cell.executed_edges``), so the linear part counts
  every edge as executed and overestimates cells the Pi folds, and the no-convolution term.
* **A decided architecture gets the full model** (:meth:`RecordedCellModel.decided_latency`):
  folding rule and no-convolution term included.  That is what a hard budget is checked
  with at discretization and what a measuring loop compares with the table.  A cell whose
  output is cut off from its input (the full model does not predict those) keeps the
  linear figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..data import nb201
from ..ir.graph import IRGraph, Node
from ..ir.notation import nb201_string
from ..ir.ops import OpLibrary
from ..ir.sym import Sym, reduce
from . import nb201_cell
from .fitted import carries_intercept
from .recorded import DEVICES, MIN_ARCHS, RecordedModel, fit_measured, is_cut_off, op_indices
from .robust_fit import LOSSES, leave_one_out_error

if TYPE_CHECKING:
    from ..ir.space import SearchSpace

_EDGE_PATH = re.compile(r"(?:.*\.)?(e[0-3][0-3])")
LINEAR_OPS = nb201_cell.FEATURES[:4]
"""The features that are per-edge op counts, in the model's order (``none`` costs nothing
beyond the intercept)."""


def nb201_edges(space: "SearchSpace") -> dict[int, tuple[str, tuple[str, ...]]] | None:
    """``{decision id: (edge, option labels)}`` of a space whose six cell edges are decisions
    labelled with the benchmark's op names (``examples/nb201.nas``); None for any other space."""
    found: dict[int, tuple[str, tuple[str, ...]]] = {}
    for d in space.decisions:
        m = _EDGE_PATH.fullmatch(d.path)
        if m and m.group(1) in nb201.EDGES and d.kind == "oneof" and set(d.labels) <= set(nb201.OPS):
            found[d.id] = (m.group(1), tuple(d.labels))
    return found if sorted(e for e, _ in found.values()) == sorted(nb201.EDGES) else None


def _repetitions(graph: IRGraph, decisions: Mapping[int, Any]) -> dict[int, int]:
    counts = {d: 0 for d in decisions}
    for n in graph:
        if n.kind == "mixed" and n.decision in counts:
            counts[n.decision] += 1
    return counts


@dataclass(frozen=True)
class RecordedCellModel:
    """The recorded predictor of one device over one NB201-like space (module docstring).

    ``per_node`` holds, per edge decision, the seconds each option adds on one of the
    decision's mixed nodes (its cost divided by the cell's repetitions).  Its values are
    for the graph of the space it was made for: another graph has no such decisions."""

    name: str
    full: RecordedModel
    per_node: tuple[tuple[int, tuple[float, ...]], ...]

    def node_latency(self, lib: OpLibrary, graph: IRGraph, node: Node) -> Any:
        if carries_intercept(graph, node):
            return self.full.intercept / 1e3
        if node.kind == "mixed" and node.decision is not None:
            table = dict(self.per_node).get(node.decision)
            if table is not None:
                return reduce(Sym((node.decision,), (len(table),), table))
        return 0.0

    def decided_latency(self, space: "SearchSpace", assignment: Mapping[str, int]) -> float | None:
        arch = nb201_string(space, dict(assignment))
        if arch is None or is_cut_off(arch):
            return None
        return self.full.predict(arch) / 1e3


def fit_cells(space: "SearchSpace", device_name: str, arch_strs: Sequence[str], ms: Sequence[float], *,
              seed: int = 0) -> RecordedCellModel | None:
    """The device's predictor refitted on measured ``(arch_strs, ms)`` and laid over
    ``space``; None when the space is not NB201-like or fewer than ``MIN_ARCHS``
    architectures (cut-off ones left out) are given."""
    edges = nb201_edges(space)
    keep = [i for i, a in enumerate(arch_strs) if not is_cut_off(a)]
    if edges is None or len(keep) < MIN_ARCHS:
        return None
    archs, y = [arch_strs[i] for i in keep], np.asarray([ms[i] for i in keep], dtype=float)
    dev = DEVICES[device_name]
    full = fit_measured(device_name, archs, y, seed=seed)
    err = leave_one_out_error(nb201_cell.features(op_indices(archs), dev.runtime), y, LOSSES[dev.loss])
    reps = _repetitions(space.graph, edges)
    cost = dict(zip(LINEAR_OPS, full.coefficients))
    per_node = tuple((d, tuple(cost.get(label, 0.0) / reps[d] / 1e3 for label in labels))
                     for d, (_, labels) in sorted(edges.items()) if reps[d])
    return RecordedCellModel(f"recorded-fit:{device_name} (n={len(archs)} archs, err {err:.1%})", full, per_node)


__all__ = ["LINEAR_OPS", "RecordedCellModel", "fit_cells", "nb201_edges"]
