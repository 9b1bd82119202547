"""Pareto dominance and the 2-D hypervolume of (accuracy up, latency down) points.

The hypervolume of a set is the area it dominates between itself and a reference point
(an accuracy below every point's, a latency above): one number that grows when a point
moves up or left, or a new point lands beyond the front, and stays put for a dominated
point.  It depends on the reference, so the reference is always stated beside it, and two
fronts are only compared under one reference (:func:`shared_reference`).  Dominance and the
area are BoTorch's (``botorch.utils.multi_objective``), imported when first used so that
planning a sweep stays light.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    import torch

LATENCY_MARGIN = 1.1
"""The reference latency is the slowest point's latency times this: the slowest point still
adds the strip between it and the reference instead of nothing."""


@dataclass(frozen=True)
class Point:
    """One run on the plane: accuracy (a share, higher is better), latency in ms (lower is better)."""

    accuracy: float
    latency_ms: float


@dataclass(frozen=True)
class Reference:
    """The hypervolume's reference point and the rule that chose it."""

    accuracy: float
    latency_ms: float
    rule: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _outcomes(points: Sequence[Point]) -> "torch.Tensor":
    """``points`` as BoTorch's outcomes, every objective maximized: (accuracy, -latency)."""
    import torch

    return torch.tensor([[p.accuracy, -p.latency_ms] for p in points], dtype=torch.double).reshape(-1, 2)


def non_dominated(points: Sequence[Point]) -> list[int]:
    """Indices of the points no other point dominates (equal points all stay), by latency
    (BoTorch's ``is_non_dominated``)."""
    if not points:
        return []
    from botorch.utils.multi_objective.pareto import is_non_dominated

    keep = [i for i, k in enumerate(is_non_dominated(_outcomes(points), deduplicate=False).tolist()) if k]
    return sorted(keep, key=lambda i: (points[i].latency_ms, -points[i].accuracy))


def hypervolume(points: Iterable[Point], ref: Reference) -> float:
    """Area (accuracy x ms) dominated by ``points`` and bounded by ``ref`` (BoTorch's
    ``Hypervolume``); points not better than the reference in both coordinates add nothing."""
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    pts = list(points)
    if not pts:
        return 0.0
    outcomes = _outcomes(pts)
    front = outcomes[non_dominated(pts)]
    reference = torch.tensor([ref.accuracy, -ref.latency_ms], dtype=torch.double)
    return float(Hypervolume(reference).compute(front))


def reference_for(points: Sequence[Point], latency_budget_ms: float | None = None) -> Reference:
    """The lowest accuracy of ``points``, and the highest latency times :data:`LATENCY_MARGIN`
    (or the latency budget, when there is one: beyond it nothing counts)."""
    if not points:
        raise ValueError("a reference point needs at least one point")
    low = min(p.accuracy for p in points)
    if latency_budget_ms is not None:
        return Reference(low, latency_budget_ms, "accuracy: the lowest of the points compared; latency: the "
                                                 "--budget latency bound")
    high = max(p.latency_ms for p in points) * LATENCY_MARGIN
    return Reference(low, high, f"accuracy: the lowest of the points compared; latency: the highest of the points "
                                f"compared x {LATENCY_MARGIN}")


def shared_reference(*point_sets: Sequence[Point], latency_budget_ms: float | None = None) -> Reference:
    """One reference for comparing fronts: :func:`reference_for` of all their points together."""
    return reference_for([p for points in point_sets for p in points], latency_budget_ms)
