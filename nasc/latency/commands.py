"""``nasc latency export|import|stats|report``: the latency store from the command line.

Kept out of :mod:`nasc.cli` so the store's commands grow here; the CLI only registers them.
Every failure a user can cause (a file that is not a store, a bad table row, a mistyped
``--latency-db``) is a :class:`~nasc.errors.NascError`, which the CLI prints and exits 2 on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .exchange import FORMATS
from ..errors import NascError
from .store import ENV, FILENAME, LatencyStore, store_path

SWEEP_MANIFEST = "sweep.json"
"""The manifest ``nasc sweep`` writes into its directory (:mod:`nasc.sweep.plan`)."""


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
    rp.add_argument("dir", nargs="?", metavar="SWEEP_DIR",
                    help=f"a directory holding a store ({FILENAME}), such as a nasc sweep's: its store, the target "
                         f"its {SWEEP_MANIFEST} names, and DIR/latency-report as the default --out")
    rp.add_argument("--target", help="whose architectures (cpu: those measured on this host); required without "
                                     "SWEEP_DIR")
    rp.add_argument("--backend", help="only this backend's records (default: each backend stored)")
    rp.add_argument("--out", metavar="DIR", help="where report.json and scatter.png go")
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


def from_directory(args: argparse.Namespace) -> tuple[Path, str, Path]:
    """The store, target and output folder of ``nasc latency report``: from the flags, or from
    a directory holding a store (a sweep's: ``nasc sweep`` writes ``latency.sqlite`` and names
    its target in ``sweep.json``), flags winning over what the directory says."""
    if args.dir is None:
        if args.target is None or args.out is None:
            raise NascError("nasc latency report needs --target T and --out DIR (or a sweep directory)")
        return store_path(args.latency_db), args.target, Path(args.out)
    folder = Path(args.dir)
    if not (folder / FILENAME).is_file():
        raise NascError(f"{folder} holds no latency store ({FILENAME}); give a nasc sweep's directory, or "
                        "--latency-db PATH")
    if args.latency_db:
        raise NascError(f"give the store either as {folder} or as --latency-db, not both")
    target = args.target
    if target is None:
        try:
            target = json.loads((folder / SWEEP_MANIFEST).read_text())["identity"]["target"]
        except (OSError, ValueError, KeyError, TypeError):
            raise NascError(f"{folder / SWEEP_MANIFEST} does not name a target; give --target T") from None
    return folder / FILENAME, str(target), Path(args.out) if args.out else folder / "latency-report"


def cmd_report(args: argparse.Namespace, state: dict) -> int:
    from .report import headline, write_report

    path, target, out = from_directory(args)
    with LatencyStore(path, create=False) as store:
        doc = write_report(store, target, args.backend, out)
    for line in headline(doc):
        print(line)
    print(f"wrote {out / 'report.json'} and {out / 'scatter.png'}")
    return 0
