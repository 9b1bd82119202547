"""Timing artifacts in fresh processes, in interleaved rounds: shared by the benchmarks that
compare runtimes (``backends.py``, ``tuned_space.py``).

Why fresh processes: TVM's, torch's and ONNX Runtime's thread pools starve each other when
they share a process on 2 cores.  Why rounds in a fresh random order each: drift of the
machine's load, and whatever ran just before, hit all artifacts alike.  Each process takes
samples of about 1 ms over about 1 s (:class:`~nasc.backends.timing.SampleWindow`).
"""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path
from typing import Any

from nasc_cli import run_nasc

from nasc.backends.isolation import THREAD_ENV
from nasc.backends.timing import SampleWindow

# How long each timed process samples (see SampleWindow for why).
WINDOW = SampleWindow()


def measure_in_fresh_process(art: Path, proto: dict[str, int], threads: int,
                             per_kernel: bool = False) -> dict[str, Any]:
    """One `nasc measure --json` process (``proto``: warmup, repeat, number); its LatencyRecord as a dict."""
    args = ["measure", str(art), "--json", "--threads", str(threads), *(f"--{k}={v}" for k, v in proto.items())]
    out = run_nasc(*args, *(["--per-kernel"] if per_kernel else []),
                   env={k: str(threads) for k in THREAD_ENV}).stdout
    return json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])


def sample_protocol(art: Path, threads: int) -> dict[str, int]:
    """``nasc measure`` options sized by ``WINDOW`` from a short pilot process's per-call time."""
    per_call = measure_in_fresh_process(art, {"warmup": 2, "repeat": 3, "number": 1}, threads)["median_ms"]
    return WINDOW.protocol_for(per_call)


def timed_rounds(artifacts: dict[str, Path], threads: int, rounds: int,
                 label: str) -> tuple[dict[str, list[dict[str, Any]]], list[list[str]]]:
    """Per artifact, one LatencyRecord per round, and each round's order (random, seed r)."""
    protos = {name: sample_protocol(art, threads) for name, art in artifacts.items()}
    records: dict[str, list[dict[str, Any]]] = {n: [] for n in artifacts}
    orders = [random.Random(r).sample(list(artifacts), len(artifacts)) for r in range(rounds)]
    for r, order in enumerate(orders):
        for name in order:
            rec = measure_in_fresh_process(artifacts[name], protos[name], threads)
            records[name].append(rec)
            print(f"{label} round {r + 1}/{rounds} {name:17s} {rec['median_ms']:10.4f} ms "
                  f"(load {rec['protocol'].get('host_load_1min')})", flush=True)
    return records, orders


def spread(values: list[float]) -> float:
    """(max - min) / median of ``values`` without the one farthest from their median."""
    med = statistics.median(values)
    kept = sorted(values, key=lambda v: abs(v - med))[:-1]
    return (max(kept) - min(kept)) / med


def summarize(recs: list[dict[str, Any]]) -> dict[str, Any]:
    medians = [r["median_ms"] for r in recs]
    first = recs[0]
    return {"median_ms": statistics.median(medians), "spread": spread(medians), "round_medians_ms": medians,
            "source": first["source"], "how": f"{first['how']}, `nasc measure --json` in a fresh process per round",
            "backend": first["backend"], "precision": first["precision"],
            "per_process": {k: first["protocol"][k] for k in ("warmup", "repeats", "number", "threads")},
            "host_load_1min_per_round": [r["protocol"].get("host_load_1min") for r in recs]}


def timed_pairs(archs: dict[str, dict[str, Any]], over: str, under: str, threads: int, rounds: int,
                label: str) -> dict[str, float]:
    """Time two builds of each arch (``row[f"{way}_dir"]``) together in :func:`timed_rounds`;
    put each build's :func:`summarize` in its row (in place of its folder) and the ratio
    ``f"{over}_over_{under}"`` of their latencies; returns the ratios by arch."""
    artifacts = {f"{a}/{w}": row[f"{w}_dir"] for a, row in archs.items() for w in (over, under)}
    records, _ = timed_rounds(artifacts, threads, rounds, label)
    ratios: dict[str, float] = {}
    for a, row in archs.items():
        for w in (over, under):
            row[w] = summarize(records[f"{a}/{w}"])
            del row[f"{w}_dir"]
        ratios[a] = row[over]["median_ms"] / row[under]["median_ms"]
        row[f"{over}_over_{under}"] = round(ratios[a], 4)
    return ratios

