"""The order of repeated measurements: interleaved rounds whose order rotates.

Why: on a shared host a latency moves with the load of the minute it was taken, and on two
cores a fresh process of ONNX Runtime sometimes lands on a slower level for its whole life
(the same NAS-Bench-201 architecture timed at 0.62 ms in one process and 0.45 ms in the
next).  Timing each thing ``R`` times back to back puts all of its samples in one minute;
timing everything once per round, in an order that rotates from round to round, spreads
each thing's samples over the run, so the median of its rounds is comparable across things.
``nasc profile --arch-rounds``, ``nasc sweep --remeasure`` and ``nasc bench`` take their order from
here (a module of its own, below both the latency store's measuring and the bench gate).
"""

from __future__ import annotations

from typing import Hashable, Mapping, Sequence, TypeVar

T = TypeVar("T", bound=Hashable)


def rotated(items: Sequence[T], k: int) -> list[T]:
    """``items`` starting at position ``k`` (modulo their number): round ``k``'s order."""
    if not items:
        return []
    k %= len(items)
    return [*items[k:], *items[:k]]


def interleaved(needed: Mapping[T, int]) -> list[T]:
    """Every item repeated as often as ``needed`` says, in rounds: round ``k`` takes, in
    rotated order, the items that still need a ``k``-th measurement (an item measured before,
    in a run cut short, needs fewer and drops out of the later rounds)."""
    items = list(needed)
    order: list[T] = []
    for k in range(max(needed.values(), default=0)):
        order += [item for item in rotated(items, k) if needed[item] > k]
    return order


__all__ = ["interleaved", "rotated"]
