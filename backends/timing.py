"""The one timing loop and statistics every local measurement uses.

Why shared: ``--backend auto`` compares backends, which is only fair when each is timed
the same way (same warm-up, same sample definition, same inputs from the same seed).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from .base import Artifact, KernelTime, LatencyRecord, MeasureProtocol
from .manifest import library_versions

SAMPLE = ("sample = mean wall time of `number` back-to-back calls (time.perf_counter_ns); "
          "median/p90 over `repeats` samples")


def host_load() -> float | None:
    """1-minute load average of the measuring host: a loaded machine inflates latencies
    (OpenMP-based torch suffers most), so every record carries it."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def random_inputs(artifact: Artifact, seed: int) -> dict[str, np.ndarray]:
    """Standard-normal inputs with the artifact's shapes/dtypes (integers: 0..9)."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, shape in artifact.input_shapes.items():
        dtype = np.dtype(artifact.input_dtypes.get(name, "float32"))
        if np.issubdtype(dtype, np.integer):
            out[name] = rng.integers(0, 10, size=shape).astype(dtype)
        else:
            out[name] = rng.standard_normal(shape).astype(dtype)
    return out


def time_calls(call: Callable[[], object], protocol: MeasureProtocol) -> list[float]:
    """Run ``warmup`` untimed calls, then return ``repeats`` samples in milliseconds."""
    for _ in range(protocol.warmup):
        call()
    samples: list[float] = []
    for _ in range(protocol.repeats):
        t0 = time.perf_counter_ns()
        for _ in range(protocol.number):
            call()
        samples.append((time.perf_counter_ns() - t0) / protocol.number / 1e6)
    return samples


def time_paired_calls(calls: Sequence[Callable[[], object]], protocols: Sequence[MeasureProtocol],
                      pairs: int) -> list[list[float]]:
    """Samples of several calls taken in turn, ``pairs`` times: each call's ``warmup`` first,
    then one sample of each (``number`` back-to-back calls, in milliseconds) per turn, the
    order rotating every turn.  Why: adjacent samples of different artifacts meet the same
    state of the machine, so their ratio holds when the machine's speed shifts between
    processes and between seconds (measured on shared 2-core hosts: one network's per-call
    time at 26 or 44 us by the process, the ratio of two networks within 8%)."""
    for call, proto in zip(calls, protocols):
        for _ in range(proto.warmup):
            call()
    samples: list[list[float]] = [[] for _ in calls]
    order = list(range(len(calls)))
    for _ in range(pairs):
        for i in order:
            number = protocols[i].number
            t0 = time.perf_counter_ns()
            for _ in range(number):
                calls[i]()
            samples[i].append((time.perf_counter_ns() - t0) / number / 1e6)
        order = order[1:] + order[:1]
    return samples


def stats(samples_ms: Iterable[float]) -> tuple[float, float, float]:
    """(median, p90, min) in ms."""
    arr = np.asarray(list(samples_ms), dtype=np.float64)
    return float(np.median(arr)), float(np.percentile(arr, 90)), float(arr.min())


def make_record(samples_ms: Iterable[float], *, artifact: Artifact, protocol: MeasureProtocol, how: str,
                timer: str = SAMPLE, extra_dists: Iterable[str] = (),
                per_kernel: Iterable[KernelTime] = (), notes: Iterable[str] = ()) -> LatencyRecord:
    """A measured :class:`LatencyRecord` whose protocol dict says exactly what was done."""
    median, p90, low = stats(samples_ms)
    proto: Mapping[str, object] = {**protocol.to_dict(), "timer": timer,
                                   "inputs": f"random normal, seed {protocol.seed}",
                                   "host_load_1min": host_load()}
    return LatencyRecord(
        median_ms=median, p90_ms=p90, min_ms=low, repeats=protocol.repeats, source="measured", how=how,
        protocol=proto, backend=artifact.backend, target=artifact.target, precision=artifact.precision,
        versions=library_versions(["numpy", "nasc", *extra_dists]), per_kernel=tuple(per_kernel),
        notes=tuple(notes))


@dataclass(frozen=True)
class SampleWindow:
    """Samples of about ``sample_ms`` spread over about ``window_ms`` per process, after about
    ``warmup_ms`` of warm-up (at most 10 samples' worth).

    Why: on a shared machine short samples mostly fall between the moments other jobs hold
    the core, so their median is the artifact's own latency, and a longer window keeps one
    burst of load from covering them all.  A call slower than ``sample_ms`` is one sample;
    ``repeats`` bounds the sample count so a process stays short when other jobs slow an
    artifact down a hundredfold.  Comparisons that time several artifacts in fresh processes
    (``benchmarks/backends.py``, ``nasc bench``) size every process this way."""

    sample_ms: float = 1.0
    window_ms: float = 1000.0
    warmup_ms: float = 200.0
    repeats: tuple[int, int] = (20, 100)

    def protocol_for(self, per_call_ms: float) -> dict[str, int]:
        """``warmup``, ``repeat`` and ``number`` (as ``nasc measure`` names them) for an
        artifact whose single call takes ``per_call_ms`` (from a short pilot)."""
        per_call = max(per_call_ms, 1e-6)
        number = max(1, math.ceil(self.sample_ms / per_call))
        repeats = min(max(self.repeats[0], round(self.window_ms / (number * per_call))), self.repeats[1])
        return {"warmup": max(3, min(math.ceil(self.warmup_ms / per_call), 10 * number)), "repeat": repeats,
                "number": number}

    def describe(self) -> str:
        return (f"each sample the mean of `number` back-to-back calls, chosen from a pilot process so a sample "
                f"lasts about {self.sample_ms:g} ms (one call when a call is slower), repeated over about "
                f"{self.window_ms / 1e3:g} s ({self.repeats[0]} to {self.repeats[1]} samples) after about "
                f"{self.warmup_ms:g} ms (at most 10 samples) of warm-up")

    def to_dict(self) -> dict[str, object]:
        return {"sample_ms": self.sample_ms, "window_ms": self.window_ms, "warmup_ms": self.warmup_ms,
                "repeats": list(self.repeats)}
