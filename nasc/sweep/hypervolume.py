"""Pareto dominance and the 2-D hypervolume of (accuracy up, latency down) points.

The hypervolume of a set is the area it dominates between itself and a reference point
(an accuracy below every point's, a latency above): one number that grows when a point
moves up or left, or a new point lands beyond the front, and stays put for a dominated
point.  It depends on the reference, so the reference is always stated beside it, and two
fronts are only compared under one reference (:func:`shared_reference`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

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
        return {"accuracy": self.accuracy, "latency_ms": self.latency_ms, "rule": self.rule}


def dominates(a: Point, b: Point) -> bool:
    """``a`` is at least as good as ``b`` in both and better in one."""
    return (a.accuracy >= b.accuracy and a.latency_ms <= b.latency_ms
            and (a.accuracy > b.accuracy or a.latency_ms < b.latency_ms))


def non_dominated(points: Sequence[Point]) -> list[int]:
    """Indices of the points no other point dominates (equal points all stay), by latency."""
    keep = [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]
    return sorted(keep, key=lambda i: (points[i].latency_ms, -points[i].accuracy))


def hypervolume(points: Iterable[Point], ref: Reference) -> float:
    """Area (accuracy x ms) dominated by ``points`` and bounded by ``ref``; points not better
    than the reference in both coordinates add nothing.

    Sweeping latency upwards over the front: between one front point's latency and the
    next's, the best accuracy reachable is the former's."""
    inside = [p for p in points if p.accuracy > ref.accuracy and p.latency_ms < ref.latency_ms]
    front = [inside[i] for i in non_dominated(inside)]
    area = 0.0
    for i, p in enumerate(front):
        right = front[i + 1].latency_ms if i + 1 < len(front) else ref.latency_ms
        area += (right - p.latency_ms) * (p.accuracy - ref.accuracy)
    return area


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
