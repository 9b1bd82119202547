"""Shared ending of the benchmarks: targets with their values, the JSON, the exit code.

Why one module: every benchmark must say the same things the same way -- where its JSON
goes (``benchmarks/results/``), what the host was doing while it ran (the machine is
shared, and load inflates latencies), each target with the value it was judged on, and
exit 1 when a target is missed so ``make bench`` fails loudly.

Benchmarks import this module first thing, so the load and clock read at import time are
those of the start of the run.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from nasc.backends.hostinfo import cpu_model_name

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
RATIO_CONVENTION = ("A_over_B = A / B (for latencies: above 1 means A is slower); "
                    "A_speedup_vs_B = B's latency / A's latency (above 1 means A is faster)")


def _load_1min() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


_LOAD_AT_START = _load_1min()
_T0 = time.perf_counter()


def clocks() -> tuple[float, float]:
    """(wall, CPU) seconds now.  CPU is user + system time of this process (all threads)
    plus its finished children: unlike wall time it does not grow while other jobs on
    the machine hold the cores, so absolute-time targets are judged on it."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), time.process_time() + children.ru_utime + children.ru_stime


def elapsed(start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    """(wall, CPU) seconds between two :func:`clocks` readings."""
    return end[0] - start[0], end[1] - start[1]


def project_relative(text: str) -> str:
    """``text`` with this checkout's folder left out of every path in it (a frozen arch's header
    names the file it was frozen from): a result file names no path of the machine it ran on."""
    return text.replace(f"{ROOT}/", "")


def result_path(name: str) -> str:
    """Default JSON path of a benchmark: ``benchmarks/results/NAME.json``."""
    return str(RESULTS / f"{name}.json")


@dataclass(frozen=True)
class Target:
    """One claim a benchmark checks: whether it held, the value judged, and the bound.

    ``value`` is the measured quantity (a ratio, an error, a count) and ``bound`` says in
    words what it was compared with, so the JSON shows how close each target came."""

    met: bool
    value: Any
    bound: str

    def to_dict(self) -> dict[str, Any]:
        return {"met": bool(self.met), "value": self.value, "bound": self.bound}


def at_most(value: float, bound: float, what: str = "") -> Target:
    return Target(value <= bound, value, f"<= {bound:.4g}{' ' + what if what else ''}")


def at_least(value: float, bound: float, what: str = "") -> Target:
    return Target(value >= bound, value, f">= {bound:.4g}{' ' + what if what else ''}")


def host_record() -> dict[str, Any]:
    """Where and under what load the benchmark ran (1-minute load at start and end)."""
    return {"cpu": cpu_model_name(), "cores": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(),
            "load_1min": {"start": _LOAD_AT_START, "end": _load_1min()},
            "wall_s": round(time.perf_counter() - _T0, 1)}


def write_json(doc: dict[str, Any], path: str | Path, targets: Mapping[str, Target] | None = None) -> None:
    """Write ``doc`` plus ``targets`` (each with value and bound) and the host record."""
    out = dict(doc)
    if targets is not None:
        out["targets"] = {name: t.to_dict() for name, t in targets.items()}
    out["host"] = host_record()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {p}")


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def verdict(targets: Mapping[str, Target]) -> int:
    """Print each target with its value; 0 when all are met, 1 otherwise."""
    for name, t in targets.items():
        print(f"{'met   ' if t.met else 'MISSED'} {name}: {_fmt(t.value)} ({t.bound})")
    sys.stdout.flush()
    return 0 if all(t.met for t in targets.values()) else 1
