"""Interleaved rounds: every item measured as often as it needs, each round before the next."""

from __future__ import annotations

from collections import Counter

from nasc.interleave import interleaved, rotated


def test_rotation_starts_each_round_one_further() -> None:
    assert rotated(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert rotated(["a", "b", "c"], 1) == ["b", "c", "a"]
    assert rotated(["a", "b", "c"], 4) == ["b", "c", "a"]
    assert rotated([], 3) == []


def test_every_item_gets_its_count_and_no_item_runs_ahead_of_a_round() -> None:
    needed = {"a": 3, "b": 1, "c": 2, "d": 0}
    order = interleaved(needed)
    assert Counter(order) == Counter({"a": 3, "b": 1, "c": 2})
    # round k: the items needing a k-th measurement, rotated by k
    assert order == ["a", "b", "c", "c", "a", "a"]
    seen: Counter[str] = Counter()
    for item in order:  # an item's (k+1)-th measurement comes after every item's k-th it needs
        seen[item] += 1
        assert all(seen[other] >= min(seen[item] - 1, needed[other]) for other in needed)


def test_nothing_needed_is_no_measurement() -> None:
    assert interleaved({}) == [] and interleaved({"a": 0}) == []
