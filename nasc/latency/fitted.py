"""Latency models refitted on stored measurements: the roofline prior with fitted terms, and
a correction by the error last observed on a measured architecture.

Why a fitted prior: the roofline prior's figures are orders of magnitude, not
measurements.  On a target whose records are too few for a model of its own (or whose
per-kernel tables do not exist yet), ``measured ~ a + b * prior`` fitted on the stored
whole-network measurements keeps the prior's ranking of architectures and puts it on the
target's scale.  Both terms are per IR node -- ``b`` scales every node's prior value, ``a``
sits on the first output node, which every architecture runs -- so expected costs under α
stay exact (:mod:`nasc.search.objectives`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..ir.graph import IRGraph, Node
from ..ir.ops import OpLibrary
from ..ir.sym import lift
from .model import LatencyModel, RooflineModel, decided_latency
from .robust_fit import leave_one_out_error

if TYPE_CHECKING:
    from ..ir.space import SearchSpace

AFFINE_RIDGE = 1e-2
"""Penalty on ``a`` (relative to the mean measurement): with one record the fit is the pure
scale through it, with more ``a`` takes what a common offset explains."""


def scaled(value: Any, factor: float) -> Any:
    """A per-node latency (a number or a Sym) times ``factor``."""
    return lift(lambda v: v * factor, value)


def plus(value: Any, offset: float) -> Any:
    """A per-node latency (a number or a Sym) plus ``offset`` seconds."""
    return lift(lambda v: v + offset, value)


def carries_intercept(graph: IRGraph, node: Node) -> bool:
    """Whether ``node`` is where a model puts its per-network constant: the first output,
    live in every architecture of a space and present in every decided graph."""
    return bool(graph.outputs) and node.id == graph.outputs[0]


@dataclass(frozen=True)
class AffinePrior:
    """``intercept_s + scale * prior`` per network; see the module docstring."""

    name: str
    prior: RooflineModel
    intercept_s: float
    scale: float

    def node_latency(self, lib: OpLibrary, graph: IRGraph, node: Node) -> Any:
        value = scaled(self.prior.node_latency(lib, graph, node), self.scale)
        return plus(value, self.intercept_s) if carries_intercept(graph, node) else value


def affine_beta(prior_s: np.ndarray, measured_s: np.ndarray) -> np.ndarray:
    """[a, b] minimizing sum(((a + b p) / m - 1)^2) + AFFINE_RIDGE (a / mean(m))^2: relative
    errors, so a light and a heavy architecture count alike.  A fit with ``b <= 0`` (a
    prior that ranks the measurements backwards) falls back to the median ratio."""
    p = np.asarray(prior_s, dtype=float).reshape(-1)
    m = np.asarray(measured_s, dtype=float).reshape(-1)
    A = np.stack([1.0 / m, p / m], axis=1)
    unit = float(np.mean(m))
    normal = A.T @ A + np.diag([AFFINE_RIDGE / unit ** 2, 0.0])
    beta = np.linalg.lstsq(normal, A.T @ np.ones_like(m), rcond=None)[0]
    if beta[1] <= 0:
        return np.array([0.0, float(np.median(m / p))])
    return beta


def fit_affine_prior(prior: RooflineModel, prior_s: Sequence[float], measured_s: Sequence[float],
                     what: str, note: str = "") -> AffinePrior:
    """The prior refitted on whole-network pairs (its prediction, the measurement), seconds.
    ``what`` names the records (``recorded-raspi4``, ``cpu/onnxruntime``) in the model's name,
    ``note`` adds why this model and not a better one."""
    p, m = np.asarray(prior_s, dtype=float), np.asarray(measured_s, dtype=float)
    if len(m) == 0:
        return AffinePrior(prior.name, prior, 0.0, 1.0)
    a, b = affine_beta(p, m)
    err = leave_one_out_error(p[:, None], m, lambda X, y: affine_beta(X[:, 0], y))
    shown = "n/a" if err is None else f"{err:.1%}"
    return AffinePrior(f"{prior.name} fitted on {what} (n={len(m)} archs, err {shown}{'; ' + note if note else ''})",
                       prior, float(a), float(b))


@dataclass(frozen=True)
class Corrected:
    """A model times ``factor``: the ratio measured / predicted on the last architecture a
    measuring loop measured, so the next round aims where that error says the budget is.

    Equivalent to scaling the bound by the inverse, but kept in the model, so that nothing
    that checks a budget has to know about it; its name says by how much and why."""

    base: LatencyModel
    factor: float
    why: str

    @property
    def name(self) -> str:
        return f"{self.base.name} x{self.factor:.3f} ({self.why})"

    def node_latency(self, lib: OpLibrary, graph: IRGraph, node: Node) -> Any:
        return scaled(self.base.node_latency(lib, graph, node), self.factor)

    def decided_latency(self, space: "SearchSpace", assignment: Mapping[str, int]) -> float | None:
        value = decided_latency(self.base, space, assignment)
        return None if value is None else value * self.factor


__all__ = ["AFFINE_RIDGE", "AffinePrior", "Corrected", "affine_beta", "carries_intercept", "fit_affine_prior",
           "plus", "scaled"]
