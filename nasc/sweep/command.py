"""``nasc sweep``: the command line of a sweep (docs/sweep.md).

Every check a user's input can fail -- the λ list, the seed range, the budget, the space
(loaded and elaborated), the target and backend, the strategy's flags -- runs in the CLI's
precheck, before the run directory is locked and before Ray starts: a typo costs no cluster.
Ray itself is imported by the driver only, never by ``import nasc``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..cli_args import count, percent
from ..errors import UsageError
from .plan import STRATEGIES, SweepPlan, claim, file_sha256, parse_budget, parse_lambdas, parse_seeds

DEFAULT_ARCHS = 200


def add_parser(sub: Any) -> None:
    """Register ``sweep`` on the CLI's subparsers ``sub``."""
    p = sub.add_parser("sweep", help="compile a space for every (latency weight, seed) as Ray tasks and gather the "
                                     "accuracy/latency Pareto front (or a random-search / evolution baseline)")
    p.add_argument("file", help="the space (.nas)")
    p.add_argument("--lambda", dest="lambdas", metavar="L1,L2,...",
                   help="latency weights (experiment key search.latency_weight), e.g. 0.01,0.1,1")
    p.add_argument("--seeds", default="0", metavar="A..B",
                   help="seeds (experiment key seed): A..B inclusive, or a comma list (default 0); a baseline "
                        "takes one, its sampler's and every retraining's")
    p.add_argument("--baseline", choices=STRATEGIES[1:],
                   help="compile sampled architectures instead of searching (no --lambda; needs --max-task-seconds)")
    p.add_argument("--archs", type=count(1, 10_000), default=DEFAULT_ARCHS,
                   help=f"a baseline's most architectures (default {DEFAULT_ARCHS}; its budget usually ends it first)")
    p.add_argument("--budget", action="append", default=[], metavar="latency=VALUE",
                   help="a latency bound such as latency=2ms: runs over it are left off the front, and it is the "
                        "hypervolume's reference latency")
    p.add_argument("--target", default="cpu", help="see `nasc targets` (cpu: measured here)")
    p.add_argument("--backend", default="onnxruntime", help="every run's backend (default onnxruntime)")
    p.add_argument("--experiment", help="NAME (in FILE) or OTHER.nas:NAME")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an experiment key in every run (repeatable)")
    p.add_argument("--ray", metavar="auto|ADDRESS",
                   help="join a Ray cluster (auto: the one this machine belongs to) instead of starting a local one")
    p.add_argument("--max-task-seconds", type=percent(1, 1e9), metavar="S",
                   help="start no task once the finished tasks used S task-seconds")
    p.add_argument("--min-hv-gain", type=percent(0, 1e9), metavar="F",
                   help="start no task once the last --hv-window finished tasks raised the hypervolume by less "
                        "than the fraction F (e.g. 0.01)")
    p.add_argument("--hv-window", type=count(1, 1000), default=3, metavar="K",
                   help="how many finished tasks --min-hv-gain looks at (default 3)")
    p.add_argument("--remeasure", type=count(0, 100), default=3, metavar="R",
                   help="after the tasks, time every run's measured artifact again one at a time, in R interleaved "
                        "rounds of fresh processes, and put that on the front (a task measures next to the others' "
                        "computing); at --threads 1 each round times the artifact beside nasc's reference workload "
                        "in one process (latency_over_reference); 0: the compiles' own figures (default 3)")
    p.add_argument("--threads", type=count(1, 1024), default=2, metavar="N",
                   help="intra-op threads of every latency measurement, the tasks' and the remeasurement's "
                        "(default 2; `nasc compile --threads`)")
    p.add_argument("--no-profile", action="store_true",
                   help="do not measure the space's kernels into the sweep's store before the first task (by "
                        "default a λ sweep on cpu does, so its searches weigh measured kernels, not the roofline "
                        "prior; the profile's seconds count in the sweep's compute)")
    p.add_argument("--out", "-o", required=True, help="the sweep directory")
    p.set_defaults(fn=cmd_sweep, precheck=precheck)


def _experiment(text: str | None) -> str | None:
    """``FILE:NAME`` with FILE made absolute (tasks run elsewhere), or ``NAME`` as given."""
    if not text or ":" not in text:
        return text
    path, _, name = text.rpartition(":")
    return f"{Path(path).resolve()}:{name}"


def precheck(args: argparse.Namespace) -> None:
    """Parse and check everything into ``args.plan`` (exit 2 on bad input, nothing started)."""
    from nasc.backends.targets import check_build_request

    from .. import api
    from ..experiment_choice import experiment_for
    from ..targets import resolve_target

    space = Path(args.file)
    if not space.is_file():
        raise UsageError(f"{args.file}: no such file")
    target = resolve_target(args.target).name
    check_build_request(target, args.backend, "fp32")
    compiled = api.load(space)
    elaborated = compiled.elaborate()
    experiment = _experiment(args.experiment)
    experiment_for(compiled, experiment, args.set)  # unknown keys and bad values fail here
    if not elaborated.free:
        raise UsageError(f"{args.file} has no free decision: there is nothing to sweep")
    plan = SweepPlan(space=str(space.resolve()), space_sha256=file_sha256(space),
                     strategy=args.baseline or "lambda",
                     lambdas=parse_lambdas(args.lambdas) if args.lambdas is not None else (),
                     seeds=parse_seeds(args.seeds), archs=args.archs if args.baseline else 0, target=target,
                     backend=args.backend, experiment=experiment, sets=tuple(args.set),
                     latency_budget_ms=parse_budget(args.budget), max_task_seconds=args.max_task_seconds,
                     min_hv_gain=args.min_hv_gain, hv_window=args.hv_window, remeasure=args.remeasure,
                     threads=args.threads, profile=not args.no_profile)
    plan.check()
    args.plan = plan


def cmd_sweep(args: argparse.Namespace, state: dict) -> int:
    from .driver import Sweep

    out = Path(args.out)
    claim(out, args.plan)
    doc = Sweep(args.plan, out, sys.stderr).run(args.ray)
    sweep = doc["sweep"]
    ref = doc["reference"]
    hv = f"hypervolume {doc['hypervolume']:.6g} (reference accuracy {ref['accuracy']:.4f}, latency " \
         f"{ref['latency_ms']:.4g} ms)" if ref else "no finished run: no front"
    print(f"{sweep['tasks']['finished']} of {sweep['tasks']['planned']} runs finished "
          f"({sweep['tasks']['reused']} reused), {sweep['task_seconds']:.1f} task-seconds; front of "
          f"{len(doc['front'])} ({doc['latency_source']} latency); {hv}; stopped: {sweep['stopped']}")
    print(f"wrote {out / 'front.json'} and {out / 'front.png'}")
    return 0
