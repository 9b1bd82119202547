"""``nasc bench ARTIFACT_DIR``: the latency regression gate, registered on the CLI here.

Exit codes: 0 the figure was measured (and, with ``--baseline``, holds within the
tolerance); 1 a regression beyond the tolerance, with one line saying figure, baseline
and tolerance; 2 a user error, including a baseline that cannot be read or that was
measured on another backend, target, precision, reference or thread count.

A baseline is written only when asked (``--write-baseline FILE``): a gate that created
its own missing baseline would pass the first time whatever the latency, so a missing
``--baseline`` file is an error that says how to write one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nasc.cli_args import count, percent
from nasc.errors import NascError
from nasc.fsio import check_writable_dir, write_json

EXIT_REGRESSION = 1
EXIT_INCONCLUSIVE = 3
"""The run was too noisy for a verdict (:data:`nasc.bench.gate.NOISE_FACTOR`): neither a pass
nor a regression; a CI job decides whether to retry or let it through."""
DEFAULT_TOLERANCE_PCT = 10.0
"""From benchmarks/bench_gate.py on the 2-core CI machine under load (docs/ci.md, *The tolerance*)."""
DEFAULT_ROUNDS = 7
BASELINE_ROUNDS = 21
"""Rounds of a run that only writes a baseline: every later run is judged against its figure,
so it should sit at the centre of what the machine gives, not at whichever end seven rounds
happened to draw (measured: a 7-round baseline at 0.5915 with later runs of the same
artifact at 0.608-0.647, one 9.4% above it)."""
DEFAULT_THREADS = 1
"""One thread, so both sides can share a process and meet the same state of the machine
(:mod:`nasc.bench.paired`): the gate's figure is a ratio for catching regressions, and one
thread makes it repeatable on a shared CI host where two fresh processes are not."""


def add_parser(sub: Any) -> None:
    """Register ``bench`` on the CLI's subparsers ``sub``."""
    p = sub.add_parser("bench", help="latency regression gate: the artifact's latency over a fixed reference "
                                     "workload's, measured in one run, against a baseline")
    p.add_argument("dir", metavar="ARTIFACT_DIR", help="an artifact folder (with its manifest.json)")
    p.add_argument("--baseline", metavar="FILE", help="compare with this baseline; exit 1 on a regression")
    p.add_argument("--write-baseline", metavar="FILE",
                   help="write this run's figure as a baseline to FILE (replacing it); with --baseline the "
                        "comparison is made first")
    p.add_argument("--tolerance", type=percent(0.0, 1000.0), default=DEFAULT_TOLERANCE_PCT, metavar="PCT",
                   help=f"how far (%%) artifact_over_reference may rise above the baseline's before it is a "
                        f"regression (default {DEFAULT_TOLERANCE_PCT:g})")
    p.add_argument("--rounds", type=count(3, 1000), default=None, metavar="N",
                   help=f"interleaved rounds, each in fresh processes (default {DEFAULT_ROUNDS}; "
                        f"{BASELINE_ROUNDS} when only writing a baseline)")
    p.add_argument("--threads", type=count(1, 1024), default=DEFAULT_THREADS, metavar="N",
                   help=f"intra-op threads of every timed process (default {DEFAULT_THREADS}: one fresh process per "
                        "round then times the artifact and the reference in alternating samples, when the "
                        "artifact's backend allows it; more threads time each side in its own process)")
    p.add_argument("--json", action="store_true", help="print the result document (JSON) instead of text")
    p.set_defaults(fn=cmd_bench)


def cmd_bench(args: argparse.Namespace, state: dict) -> int:
    from .baseline import baseline_document, mismatches, read_baseline
    from .gate import artifact_identity, compare, conditions, measure
    from .paired import pairable
    from .rounds import BenchProtocol

    # everything that can be refused is refused before the timing starts
    baseline = read_baseline(Path(args.baseline)) if args.baseline else None
    if args.write_baseline:
        if Path(args.write_baseline).is_dir():
            raise NascError(f"--write-baseline {args.write_baseline} is a folder; give the baseline file's name")
        check_writable_dir(Path(args.write_baseline).parent, flag="--write-baseline")
    art_dir = Path(args.dir)
    identity = artifact_identity(art_dir)
    rounds = args.rounds or (BASELINE_ROUNDS if args.write_baseline and baseline is None else DEFAULT_ROUNDS)
    protocol = BenchProtocol(rounds=rounds, threads=args.threads,
                             paired=pairable(identity["backend"], args.threads))
    if baseline is not None:
        why = mismatches(baseline, conditions(identity, protocol))
        if why:
            raise NascError(f"baseline {baseline.path} was measured under other conditions; not comparable: "
                            + "; ".join(why))
    result = measure(art_dir, identity, protocol, sys.stderr)
    regressed = inconclusive = False
    if baseline is not None:
        result["comparison"] = compare(result, baseline, args.tolerance)
        regressed = result["comparison"]["verdict"] == "regression"
        inconclusive = result["comparison"]["verdict"] == "inconclusive"
    if args.write_baseline:
        write_json(args.write_baseline, baseline_document(result))
    if args.json:
        print(json.dumps(result))
        if regressed or inconclusive:
            sys.stderr.write(f"nasc bench: {result['comparison']['reason']}\n")
    else:
        _print_text(result, args.write_baseline)
    return EXIT_REGRESSION if regressed else EXIT_INCONCLUSIVE if inconclusive else 0


def _print_text(result: dict[str, Any], written: str | None) -> None:
    art, ref, proto = result["artifact"], result["reference"], result["protocol"]
    print(f"artifact_over_reference {result['artifact_over_reference']:.4f} (spread {result['spread']:.1%} over "
          f"{proto['rounds']} rounds)")
    for name, side in (("artifact", art), ("reference", ref)):
        sizes = side["per_process"]
        print(f"  {name:9s} {side['median_ms']:.4f} ms ({side['source']}: {side['backend']} {side['precision']}; "
              f"{sizes['warmup']} warm-up calls, {sizes['repeat']} samples of {sizes['number']} calls, "
              f"{proto['threads']} thread{'s' if proto['threads'] != 1 else ''}, a fresh process per round)")
    for note in result["notes"]:
        print(f"  note: {note}")
    if written:
        print(f"wrote baseline {written}")
    comparison = result.get("comparison")
    if comparison:
        if not comparison["same_artifact"]:
            print("  note: the artifact's files are not the baseline's; the figures still compare like with "
                  "like (same backend, target, precision, reference and threads)")
        if not comparison["same_cpu"]:
            print(f"  note: the baseline was measured on {comparison['baseline_cpu'] or 'an unnamed CPU'}, this run "
                  f"on {result['host']['cpu']}; a ratio does not carry over between CPUs (docs/ci.md)")
        print(comparison["reason"])
