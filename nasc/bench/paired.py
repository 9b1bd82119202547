"""Paired rounds: one fresh process times the artifact and the reference sample by sample.

Why: on a shared host the speed of a tiny network moves between processes and between
seconds, in steps far larger than a regression worth catching.  Measured on the 2-core CI
machine, one thread: the demo artifact ran at 26 us in some fresh processes and at 44 us
in others, the reference at 43 or 68 us, and back-to-back processes drew different levels;
a round of two fresh processes then gave a ratio anywhere from 0.42 to 1.0 while the two
networks had not changed.  Timed in one process, alternating samples of about a
millisecond, the two meet the same state of the machine and their ratio held within 8%
(0.59 to 0.65) over the same kind of runs.

Only at one thread: two runtimes' thread pools in one process starve each other on two
cores (a pool's workers spin while the other runs), so ``nasc bench --threads 2`` keeps a
fresh process per side.  And only when the artifact's backend can be timed in a loop it
shares (``timed_call``, :class:`nasc.backends.base.Backend`); other backends keep a fresh
process per side too.

Child entry: ``python -m nasc.bench.paired SPEC_JSON``; prints one ``NASC_RECORD`` line.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from nasc.backends import LatencyRecord, MeasureProtocol
from nasc.backends.isolation import MARK, run_worker
from nasc.backends.manifest import load_artifact
from nasc.backends.registry import get_backend
from nasc.backends.timing import make_record, time_paired_calls
from nasc.errors import NascError

HOW = "measured locally (one fresh process timing the artifact and the reference in alternating samples)"


def pairable(backend: str, threads: int) -> bool:
    """Whether an artifact of ``backend`` can be paired with the reference at ``threads``."""
    return threads == 1 and hasattr(get_backend(backend), "timed_call")


@dataclass(frozen=True)
class Paired:
    """One paired process: each side's record and the median over sample pairs of
    artifact sample / reference sample."""

    records: dict[str, LatencyRecord]
    ratio: float


def time_paired(paths: Mapping[str, Path], sizes: Mapping[str, Mapping[str, int]], order: tuple[str, str],
                ratio_of: tuple[str, str], threads: int, seed: int) -> Paired:
    """Time ``paths`` (two sides, ``order`` first) in one fresh process; ``sizes`` per side:
    warmup, repeat, number (the pair count is the larger ``repeat``); the ratio is
    ``ratio_of[0]`` over ``ratio_of[1]``."""
    spec = {"paths": {side: str(paths[side]) for side in order}, "sizes": {s: dict(sizes[s]) for s in order},
            "ratio_of": list(ratio_of), "threads": threads, "seed": seed}
    payload = run_worker("nasc.bench.paired", [json.dumps(spec)], threads=threads, timeout=600,
                         what="paired measurement of " + " and ".join(str(paths[s]) for s in order))
    records = {side: LatencyRecord.from_dict(rec) for side, rec in payload["records"].items()}
    return Paired(records, float(payload["ratio"]))


def beside_reference(artifact: Path, protocol: MeasureProtocol, reference: Path) -> Paired:
    """``artifact`` timed beside the reference artifact folder ``reference`` in one fresh
    process, both with ``protocol``'s sizes, alternating sample by sample (artifact first);
    the ratio is the artifact's over the reference's.  What the latency store's records
    timed ``beside`` a reference hold (:class:`nasc.latency.records.StoredLatency`)."""
    sizes = {"warmup": protocol.warmup, "repeat": protocol.repeats, "number": protocol.number}
    return time_paired({"artifact": artifact, "reference": reference}, {"artifact": sizes, "reference": sizes},
                       ("artifact", "reference"), ("artifact", "reference"), protocol.threads, protocol.seed)


def _measure_pair(spec: Mapping[str, Any]) -> dict[str, Any]:
    sides = list(spec["paths"])
    arts = [load_artifact(spec["paths"][s], verify=True) for s in sides]  # checked here, in the child, again
    protos = [MeasureProtocol(warmup=spec["sizes"][s]["warmup"], repeats=spec["sizes"][s]["repeat"],
                              number=spec["sizes"][s]["number"], threads=spec["threads"], seed=spec["seed"],
                              isolate=True).resolved(a) for s, a in zip(sides, arts)]
    for art in arts:
        if not pairable(art.backend, spec["threads"]):
            raise NascError(f"the {art.backend} backend cannot be timed in a shared loop at {spec['threads']} "
                            "thread(s); use separate processes")
    calls = [get_backend(a.backend).timed_call(a, p) for a, p in zip(arts, protos)]
    pairs = max(p.repeats for p in protos)
    samples = time_paired_calls(calls, protos, pairs)
    records = {s: make_record(samp, artifact=a, protocol=replace(p, repeats=pairs), how=HOW,
                              extra_dists=[a.backend])
               for s, a, p, samp in zip(sides, arts, protos, samples)}
    by_side = dict(zip(sides, samples))
    num, den = (by_side[s] for s in spec["ratio_of"])
    ratio = statistics.median(x / y for x, y in zip(num, den))
    return {"records": {s: r.to_dict() for s, r in records.items()}, "ratio": ratio}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m nasc.bench.paired SPEC_JSON", file=sys.stderr)
        return 2
    try:
        payload = _measure_pair(json.loads(argv[0]))
    except NascError as e:
        print(e.render(), file=sys.stderr)
        return 2
    print(MARK + json.dumps(payload), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
