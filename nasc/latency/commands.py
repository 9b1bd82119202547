"""``nasc latency export|import|stats|report``: the latency store from the command line.

Kept out of :mod:`nasc.cli` so the store's commands grow here; the CLI only registers them.
Every failure a user can cause (a file that is not a store, a bad table row, a mistyped
``--latency-db``) is a :class:`~nasc.errors.NascError`, which the CLI prints and exits 2 on.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .exchange import FORMATS
from .store import ENV, FILENAME, LatencyStore, store_path


def add_parser(sub: Any) -> None:
    """Register ``latency`` and its subcommands on the CLI's subparsers ``sub``."""
    lat = sub.add_parser("latency", help="the latency store: export, import and count measured latencies")
    verbs = lat.add_subparsers(dest="latency_command", required=True, metavar="{export,import,stats,report}")

    ex = verbs.add_parser("export", help="write the store's records to a CSV or JSONL file")
    ex.add_argument("file")
    ex.add_argument("--format", choices=FORMATS, help="csv or jsonl (default: from FILE's suffix)")
    ex.add_argument("--target", help="only this target's records")
    ex.set_defaults(fn=cmd_export)

    im = verbs.add_parser("import", help="add the records of a CSV or JSONL file (rows already stored are skipped)")
    im.add_argument("file")
    im.add_argument("--format", choices=FORMATS, help="csv or jsonl (default: from FILE's suffix)")
    im.set_defaults(fn=cmd_import)

    st = verbs.add_parser("stats", help="count the records per target, backend, precision and kind")
    st.set_defaults(fn=cmd_stats)

    rp = verbs.add_parser("report", help="predicted vs measured latency of every stored architecture, per model "
                                         "(cross-validated): report.json and scatter.png")
    rp.add_argument("--target", required=True, help="whose architectures (cpu: those measured on this host)")
    rp.add_argument("--backend", help="only this backend's records (default: each backend stored)")
    rp.add_argument("--out", required=True, metavar="DIR", help="where report.json and scatter.png go")
    rp.set_defaults(fn=cmd_report)

    for p in (ex, im, st, rp):
        p.add_argument("--latency-db", metavar="PATH",
                       help=f"the store (default: ${ENV}, else {FILENAME} in nasc's cache directory)")


def cmd_export(args: argparse.Namespace, state: dict) -> int:
    with LatencyStore(store_path(args.latency_db), create=False) as store:
        count = store.export(Path(args.file), args.format, target=args.target)
    print(f"exported {count:,} records from {store.path} to {args.file}")
    return 0


def cmd_import(args: argparse.Namespace, state: dict) -> int:
    with LatencyStore(store_path(args.latency_db)) as store:
        result = store.import_(Path(args.file), args.format)
    print(f"imported {result.added:,} new records from {args.file} into {store.path} "
          f"({result.present:,} already there)")
    return 0


def cmd_stats(args: argparse.Namespace, state: dict) -> int:
    with LatencyStore(store_path(args.latency_db), create=False) as store:
        rows = store.counts()
    header = ("target", "backend", "precision", "kind", "records")
    table = [header] + [(t, b, p, k, f"{n:,}") for t, b, p, k, n in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    print(f"{store.path}: {sum(r[-1] for r in rows):,} records")
    for r in table:
        print("  " + "  ".join(cell.rjust(w) if i == len(header) - 1 else cell.ljust(w)
                               for i, (cell, w) in enumerate(zip(r, widths))).rstrip())
    return 0


def cmd_report(args: argparse.Namespace, state: dict) -> int:
    from .report import headline, write_report

    with LatencyStore(store_path(args.latency_db), create=False) as store:
        doc = write_report(store, args.target, args.backend, Path(args.out))
    for line in headline(doc):
        print(line)
    print(f"wrote {Path(args.out) / 'report.json'} and {Path(args.out) / 'scatter.png'}")
    return 0
