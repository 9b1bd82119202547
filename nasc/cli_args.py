"""Argument types shared by the CLI and the commands registered from other packages.

Kept apart from :mod:`nasc.cli` so that a command module (``nasc.latency.profile_command``)
can use them without importing the CLI that registers it (no import cycle).
"""
from __future__ import annotations

import argparse
import math
from typing import Callable

MAX_COUNT = 100_000
"""Upper bound of repeat/warm-up/trial/batch counts: a typo such as ``--warmup 10000000000``
would otherwise run for days instead of being reported."""


def count(least: int, most: int = MAX_COUNT) -> Callable[[str], int]:
    """An argparse type for an integer in [least, most] (argparse names the flag in its error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        if value > most:
            raise argparse.ArgumentTypeError(f"must be at most {most:,}, got {value:,}")
        return value

    return parse


def percent(least: float, most: float) -> Callable[[str], float]:
    """An argparse type for a finite number in [least, most] (a percentage such as ``15`` or ``7.5``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or not least <= value <= most:
            raise argparse.ArgumentTypeError(f"must be between {least:g} and {most:g}, got {text}")
        return value

    return parse
