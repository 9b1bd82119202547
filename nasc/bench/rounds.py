"""Interleaved rounds: the artifact and the reference, each timed in a fresh process.

Why fresh processes: ONNX Runtime's, TVM's and torch's thread pools starve each other
when they share a process on a 2-core machine, and a process that already ran one model
has warm caches and sized pools the next one would inherit.  Every timing here is an
isolated :func:`nasc.backends.measure` (``MeasureProtocol.isolate``), which also checks
the artifact's files against its manifest, in the parent and again in the child, before
anything in it is loaded.

Why rounds, and their order: the machine's load drifts on the scale of seconds.  Each
round times the artifact and the reference back to back, so both meet about the same
load, and the round's ratio is what is kept; the order alternates (artifact first in
even rounds, reference first in odd ones) so a steady drift does not always favour the
same side.  The figure is the median of the rounds' ratios: one round that met a burst
of load does not move it.

At one thread, when the artifact's backend allows it, a round is instead one fresh process
timing both sides in alternating samples (:mod:`nasc.bench.paired`): on a shared host the
two fresh processes of a round can run at different speeds, which no number of rounds
averages away.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TextIO

from nasc.backends import LatencyRecord, MeasureProtocol
from nasc.backends.api import measure
from nasc.backends.isolation import THREAD_ENV
from nasc.backends.timing import SAMPLE, SampleWindow

from ..interleave import interleaved, rotated
from .paired import time_paired

ARTIFACT, REFERENCE = "artifact", "reference"
PILOT = {"warmup": 2, "repeat": 3, "number": 1}
"""A pilot process's protocol: a per-call time to size the timed processes' samples."""


@dataclass(frozen=True)
class BenchProtocol:
    """How one ``nasc bench`` run times (stated in its output and in a baseline)."""

    rounds: int
    threads: int
    seed: int = 0
    window: SampleWindow = field(default_factory=SampleWindow)
    paired: bool = False
    """One process per round times both sides sample by sample (:mod:`nasc.bench.paired`)."""

    def to_dict(self) -> dict[str, Any]:
        if self.paired:
            order = ("each round is one fresh process timing the artifact and the reference in alternating "
                     "samples (artifact first in even rounds, reference first in odd ones; the order rotates "
                     "every sample)")
            figure = ("artifact_over_reference = median over rounds of the round's median over sample pairs of "
                      "(artifact sample / reference sample)")
        else:
            order = ("each round times the artifact and the reference back to back, each in a fresh process "
                     "(artifact first in even rounds, reference first in odd ones)")
            figure = "artifact_over_reference = median over rounds of (artifact median / reference median)"
        return {"rounds": self.rounds, "threads": self.threads, "thread_env": list(THREAD_ENV),
                "inputs": f"random normal, seed {self.seed}", "timing": "paired" if self.paired else "separate",
                "order": order,
                "pilot": f"one fresh process per runtime first ({PILOT['warmup']} warm-up calls, "
                         f"{PILOT['repeat']} single-call samples) sizes the samples",
                "samples": self.window.describe(), "window": self.window.to_dict(), "timer": SAMPLE,
                "figure": figure}


@dataclass(frozen=True)
class Round:
    """One round: each side's median latency (ms), the order they ran in, and the round's
    ratio (separate processes: the medians' ratio; paired: the median of the pairs' ratios)."""

    order: tuple[str, str]
    artifact_ms: float
    reference_ms: float
    artifact_over_reference: float

    def to_dict(self) -> dict[str, Any]:
        return {"order": list(self.order), "artifact_ms": self.artifact_ms, "reference_ms": self.reference_ms,
                "artifact_over_reference": self.artifact_over_reference}


@dataclass(frozen=True)
class BenchRun:
    """The rounds of one run, the per-process protocols and each side's first record."""

    rounds: tuple[Round, ...]
    per_process: dict[str, dict[str, int]]
    records: dict[str, LatencyRecord]

    @property
    def artifact_over_reference(self) -> float:
        return statistics.median(r.artifact_over_reference for r in self.rounds)

    @property
    def spread(self) -> float:
        """(max - min) / median of the rounds' ratios: how far this run's rounds disagreed."""
        ratios = [r.artifact_over_reference for r in self.rounds]
        return (max(ratios) - min(ratios)) / statistics.median(ratios)

    def median_ms(self, side: str) -> float:
        return statistics.median(r.artifact_ms if side == ARTIFACT else r.reference_ms for r in self.rounds)


def time_fresh(art: Path, sizes: dict[str, int], threads: int, seed: int) -> LatencyRecord:
    """One isolated measurement of ``art`` (``sizes``: warmup, repeat, number)."""
    proto = MeasureProtocol(warmup=sizes["warmup"], repeats=sizes["repeat"], number=sizes["number"],
                            threads=threads, seed=seed, isolate=True)
    return measure(art, proto)


def sized(path: Path, window: SampleWindow, threads: int, seed: int) -> dict[str, int]:
    """The per-process sizes (:meth:`SampleWindow.protocol_for`) of ``path``, from one pilot process."""
    return window.protocol_for(time_fresh(path, PILOT, threads, seed).median_ms)


def run_rounds(paths: dict[str, Path], protocol: BenchProtocol, progress: TextIO | None = None) -> BenchRun:
    """Time ``paths[ARTIFACT]`` and ``paths[REFERENCE]`` in ``protocol.rounds`` interleaved rounds."""
    sizes = {side: sized(path, protocol.window, protocol.threads, protocol.seed) for side, path in paths.items()}
    rounds: list[Round] = []
    first: dict[str, LatencyRecord] = {}
    for r in range(protocol.rounds):
        first_side, second_side = rotated((ARTIFACT, REFERENCE), r)  # who goes first alternates
        order = (first_side, second_side)
        if protocol.paired:
            pair = time_paired(paths, sizes, order, (ARTIFACT, REFERENCE), protocol.threads, protocol.seed)
            recs, ratio = pair.records, pair.ratio
        else:
            recs = {side: time_fresh(paths[side], sizes[side], protocol.threads, protocol.seed) for side in order}
            ratio = recs[ARTIFACT].median_ms / recs[REFERENCE].median_ms
        for side in order:
            first.setdefault(side, recs[side])
        rounds.append(Round(order, recs[ARTIFACT].median_ms, recs[REFERENCE].median_ms, ratio))
        if progress is not None:
            progress.write(f"[bench] round {r + 1}/{protocol.rounds}: artifact {rounds[-1].artifact_ms:.4f} ms, "
                           f"reference {rounds[-1].reference_ms:.4f} ms, artifact_over_reference "
                           f"{rounds[-1].artifact_over_reference:.4f}\n")
            progress.flush()
    return BenchRun(tuple(rounds), sizes, first)


def rounds_beside_reference(paths: Mapping[str, Path], reference: Path, rounds: int, threads: int, seed: int = 0,
                            window: SampleWindow | None = None) -> dict[str, list[Round]]:
    """Each of ``paths`` timed ``rounds`` times beside ``reference``, one paired process per
    round (:mod:`nasc.bench.paired`); the rounds interleave across ``paths`` in rotating
    order and the side that goes first alternates, so a slow stretch of the machine meets one
    round of many artifacts and both orders.  Why: the ratio to the reference taken in one
    process is what stays put when the host changes speed (module docstring); interleaving
    keeps a stretch from landing on every round of one artifact."""
    win = window or SampleWindow()
    sizes = {name: sized(path, win, threads, seed) for name, path in paths.items()}
    ref_sizes = sized(reference, win, threads, seed)
    out: dict[str, list[Round]] = {name: [] for name in paths}
    for name in interleaved({name: rounds for name in paths}):
        order = tuple(rotated((ARTIFACT, REFERENCE), len(out[name])))
        pair = time_paired({ARTIFACT: paths[name], REFERENCE: reference}, {ARTIFACT: sizes[name], REFERENCE: ref_sizes},
                           (order[0], order[1]), (ARTIFACT, REFERENCE), threads, seed)
        out[name].append(Round((order[0], order[1]), pair.records[ARTIFACT].median_ms,
                               pair.records[REFERENCE].median_ms, pair.ratio))
    return out
