"""``nasc profile``: the command line of :func:`nasc.latency.profile.profile_space`.

Registered by ``nasc/cli.py``'s ``build_parser``; importing this module stays cheap (no
torch, no backend), because every ``nasc`` invocation builds the parser.  The timing
flags are ``nasc measure``'s, with its defaults: a kernel is timed the way an artifact is.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .store import ENV, FILENAME, LatencyStore, store_path

DEFAULT_TRIALS = 64
"""MetaSchedule trials per task of ``--tune``: enough for a clear gain on a small CPU kernel
(TVM's own examples use 64 to thousands); the database keeps them, so this is paid once."""


def add_parser(sub: Any) -> None:
    from ..cli_args import count  # the one bounded-integer type (a typo must not run for days)

    p = sub.add_parser("profile", help="measure every kernel a space can produce (and some whole archs) into "
                                       "the latency store; a rerun measures only what is missing")
    p.add_argument("file", help="a .nas file with the space")
    p.add_argument("--space", help="which space of the file (default: the first)")
    p.add_argument("--target", required=True, help="what to measure for: cpu (this machine), or with --rpc any "
                                                   "target a TVM tracker's device runs")
    p.add_argument("--backend", help="the backend whose table to fill (default: tvm with --rpc, else the target's "
                                     "first: onnxruntime for cpu)")
    p.add_argument("--precision", default="fp32", help="fp32, fp16 or int8 (what the backend builds)")
    p.add_argument("--archs", type=count(0), default=0, metavar="N",
                   help="also measure N random whole architectures of the space (seeded)")
    p.add_argument("--arch-rounds", type=count(1, 100), default=1, metavar="R",
                   help="time each of the --archs architectures R times, in interleaved rounds (built once, a fresh "
                        "process each time with --isolate); the fitted terms take the median (default: 1)")
    p.add_argument("--kernel-rounds", type=count(1, 100), default=1, metavar="R",
                   help="time each kernel R times, in interleaved rounds (built once; every round stored) "
                        "(default: 1)")
    p.add_argument("--seed", type=count(0, 2**32 - 1), default=0,
                   help="seed of the random architectures, weights and inputs")
    p.add_argument("--repeat", "--repeats", type=count(1), default=30, help="timed samples per measurement")
    p.add_argument("--number", type=count(1), default=10, help="back-to-back calls per sample (a sample is their mean)")
    p.add_argument("--warmup", type=count(0), default=10)
    p.add_argument("--threads", type=count(1, 1024), default=2)
    p.add_argument("--isolate", action="store_true", help="time each measurement in a fresh process")
    p.add_argument("--beside-reference", action="store_true",
                   help="time each measurement in one fresh process beside nasc's reference workload, in alternating "
                        "samples, and store its ratio to it too (--threads 1; onnxruntime or tvm): the figures a "
                        "model in the reference's units fits on, steady when the host's speed moves")
    p.add_argument("--rpc", metavar="HOST:PORT", help="a TVM RPC tracker: time the kernels on its device")
    p.add_argument("--device-key", metavar="KEY", help="the device's key at the tracker (with --rpc)")
    p.add_argument("--tune", action="store_true",
                   help="TVM on cpu: tune every kernel with MetaSchedule into the target's database (which every "
                        "later TVM build applies), then measure it; records are stored as backend tvm-tuned")
    p.add_argument("--trials", type=count(1, 100_000), metavar="N",
                   help=f"MetaSchedule trials per TVM task with --tune (default: {DEFAULT_TRIALS})")
    p.add_argument("--latency-db", metavar="PATH",
                   help=f"the store (default: ${ENV}, else {FILENAME} in nasc's cache directory)")
    p.set_defaults(fn=cmd_profile, precheck=_precheck)


def _backend(args: argparse.Namespace) -> str:
    if args.backend:
        return str(args.backend)
    if args.rpc is not None or args.tune:
        return "tvm"
    from ..backends.targets import get_target

    return get_target(args.target).backends[0]


def _precheck(args: argparse.Namespace) -> None:
    """Target, backend and precision exist, agree and can be measured here -- before the space is read."""
    from ..errors import UsageError
    from .profile import check_settings

    if (args.rpc is None) != (args.device_key is None):
        raise UsageError("--rpc HOST:PORT and --device-key KEY go together")
    if args.trials is not None and not args.tune:
        raise UsageError("--trials N is the MetaSchedule trials per task of --tune; give --tune with it")
    check_settings(args.target, _backend(args), args.precision, remote=args.rpc is not None, tune=args.tune)


def cmd_profile(args: argparse.Namespace, state: dict) -> int:
    from .. import api
    from ..backends import MeasureProtocol
    from ..frontend.resolve import Loader
    from .profile import ProfileSettings, profile_space
    from ..progress import progress_for

    loader = Loader.from_env()
    state["sources"] = loader.sources
    compiled = api.load(args.file, loader)
    protocol = MeasureProtocol(repeats=args.repeat, number=args.number, warmup=args.warmup, threads=args.threads,
                               isolate=args.isolate, seed=args.seed, rpc=args.rpc, device_key=args.device_key)
    settings = ProfileSettings(args.target, _backend(args), args.precision, protocol, args.archs, args.seed,
                               args.arch_rounds, args.kernel_rounds,
                               tune_trials=(args.trials or DEFAULT_TRIALS) if args.tune else 0,
                               beside_reference=args.beside_reference)
    if args.beside_reference:  # before the store is opened: a refused run leaves nothing behind
        from .beside import check_beside

        check_beside(settings.backend, args.threads, bool(args.rpc))
    progress = progress_for(sys.stdout)
    try:
        with LatencyStore(store_path(args.latency_db)) as store:
            report = profile_space(compiled, args.space, settings, store, progress, progress.note)
    finally:
        progress.close()
    archs = (f" and {report.archs_measured:,} architectures ({report.archs_already:,} already stored)"
             if args.archs else "")
    print(f"measured {report.measured:,} kernels ({report.already:,} already stored){archs} in "
          f"{report.seconds:.1f} s into {store.path}" + (f" as {settings.label}" if args.tune else ""))
    if report.tuning is not None:
        print(report.tuning.summary())
    return 0
