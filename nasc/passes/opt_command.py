"""``nasc opt``: the thin command-line shell over :func:`nasc.passes.driver.optimize`.

Registered by ``nasc/cli.py``'s ``build_parser`` through :func:`add_parser`; importing
this module must stay cheap (no torch), because every ``nasc`` invocation builds the parser.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EPILOG = """passes (options in braces, e.g. -p "fold-bn,fuse,mixed-precision{dtype=fp16}"):
  fold-bn                    fold eval-mode BatchNorm into the preceding conv/linear
  fuse{target=cpu}           group primitives into kernel units with stable signatures
  mixed-precision{dtype=fp16|bf16,keep_first=true,keep_last=true,keep_reductions=true}
  quantize{scheme=int8,calib=256,per_channel=true,observer=minmax|percentile|entropy,
           percentile=99.99,act=u8|s8,reduce_range=auto|true|false,batch=64}
writes DIR/ir.json, DIR/weights.safetensors, DIR/model.onnx and DIR/opt.json"""


def add_parser(sub: Any) -> None:
    o = sub.add_parser("opt", help="optimization passes on a trained arch: fold-bn, fuse, mixed precision, int8",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    o.add_argument("file", help="a decided arch (.nas from nasc search or nasc freeze)")
    o.add_argument("--weights", "-w", required=True, help="weights.safetensors from nasc train")
    o.add_argument("--passes", "-p", required=True, dest="pipeline", metavar="PIPELINE",
                   help='comma-separated passes, e.g. "fold-bn,fuse,quantize{calib=256}" ("" for none)')
    o.add_argument("--out", "-o", required=True, help="output directory")
    o.add_argument("--space", help="which arch of the file (default: the first)")
    o.add_argument("--experiment", help="FILE:NAME for calibration/accuracy data (default: the one the arch "
                                        "records, or its own)")
    o.add_argument("--set", action="append", metavar="KEY=VALUE", help="override an experiment key")
    o.add_argument("--print-after-each", action="store_true", help="print the IR after every pass (stderr)")
    o.add_argument("--no-verify-each", dest="verify_each", action="store_false",
                   help="skip verifying the IR before the pipeline and after each pass (verification is on by "
                        "default: it names the pass that broke the IR, at a small cost)")
    o.add_argument("--verify-each", dest="verify_each", action="store_true",
                   help="the default; accepted so that scripts written when it was opt-in keep working")
    o.add_argument("--time-passes", action="store_true", help="print wall-clock time per pass (stderr)")
    o.set_defaults(fn=cmd_opt, verify_each=True)


def cmd_opt(args: argparse.Namespace, state: dict) -> int:
    from ..frontend.resolve import Loader
    from .base import PrintAfterEach, TimePasses, VerifyEach
    from .driver import optimize
    from .registry import default_registry

    loader = Loader.from_env()
    state["sources"] = loader.sources  # diagnostics quote .nas lines (pipeline errors carry their own text)
    instruments: list[Any] = []
    if args.verify_each:
        instruments.append(VerifyEach(loader.ops))
    if args.print_after_each:
        instruments.append(PrintAfterEach(sys.stderr))
    timer = TimePasses() if args.time_passes else None
    if timer is not None:
        instruments.append(timer)
    res = optimize(args.file, args.weights, args.pipeline, args.out, registry=default_registry(),
                   experiment=args.experiment, overrides=args.set or [], space=args.space,
                   instruments=instruments, loader=loader)
    if timer is not None:
        sys.stderr.write(timer.report())
    doc = res.doc
    n = len(doc["passes"])
    parts = [f"{n} pass{'' if n == 1 else 'es'}"]
    if doc.get("kernels") is not None:
        parts.append(f"{doc['kernels']} kernels")
    parts.append("precision " + ", ".join(f"{v} {k}" for k, v in doc["precision"].items()))
    if "accuracy_before" in doc:
        parts.append(f"test accuracy {doc['accuracy_before']:.4f} -> {doc['accuracy_after']:.4f} "
                     f"({doc['test_samples']} samples; after: {doc['accuracy_after_source']})")
    print(f"wrote {res.out}/ir.json, weights.safetensors, model.onnx, opt.json: " + "; ".join(parts))
    return 0
