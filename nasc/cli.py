"""`nasc` command line: thin subcommands over :mod:`nasc.api`.

Exit codes: 0 success; 2 a user error (bad input, bad usage), printed as
``file:line:col: error: message`` with the source line and a caret; 3 ``fmt
--check`` found a file that is not formatted; 1 an internal error (a bug in nasc,
printed with its traceback so it can be reported).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NoReturn

from .cli_args import count as _count
from .errors import NascError, SourceCache, UsageError

if TYPE_CHECKING:
    from .search.rounds import LoopSettings

EXIT_USER = 2
EXIT_UNFORMATTED = 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 as well; keep its usage line
        self.print_usage(sys.stderr)
        sys.stderr.write(f"nasc: error: {message}\n")
        raise SystemExit(EXIT_USER)


def _sources(state: dict) -> SourceCache | None:
    return state.get("sources")


def _load(path: str, state: dict):
    from . import api
    from .frontend.resolve import Loader

    loader = Loader.from_env()
    state["sources"] = loader.sources  # filled as files load, so a parse error can quote its line
    return api.load(path, loader)


def _print_warnings(space, sources: SourceCache | None) -> None:
    for w in space.warnings:
        sys.stderr.write(w.render(sources).replace(": error: ", ": warning: ", 1) + "\n")


def cmd_check(args: argparse.Namespace, state: dict) -> int:
    from . import api

    compiled = _load(args.file, state)
    from .experiment import resolve

    experiments = {name or "": resolve(exp) for name, exp in compiled.module.experiments.items()}
    if not compiled.space_names():
        raise UsageError(f"{args.file} defines no space or arch: nothing to check (a file of blocks is checked "
                         "through a space that imports it)")
    records = []
    for name in compiled.space_names():
        space = compiled.elaborate(name)
        _print_warnings(space, compiled.loader.sources)
        records.append(api.summarize(space))
    if args.json:
        print(json.dumps({"spaces": records, "experiments": sorted(experiments)}, indent=None))
        return 0
    for r in records:
        print(f"{r['kind']} {r['name']}: {r['decisions']} decisions, {r['size']:,} architectures "
              f"(10^{r['size_log10']:.2f})")
        print(f"  params {r['params'][0]:,} .. {r['params'][1]:,}   macs {r['macs'][0]:,} .. {r['macs'][1]:,}")
        for c in r["constraints"]:
            print(f"  constraint {c}")
    return 0


def cmd_fmt(args: argparse.Namespace, state: dict) -> int:
    from .frontend.parse import Parser
    from .frontend.printer import format_module
    from .frontend.resolve import _decode

    path = Path(args.file)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise NascError(f"cannot read {path}: {err.strerror}") from None
    text = _decode(raw, args.file)
    sources = SourceCache()
    sources.add(args.file, text)
    state["sources"] = sources
    out = format_module(Parser().parse(text, args.file))
    if args.check:
        if out != text:
            sys.stderr.write(f"{args.file}: would reformat\n")
            return EXIT_UNFORMATTED
        return 0
    if args.write:
        if out != text:
            path.write_text(out)
        return 0
    sys.stdout.write(out)
    return 0


def cmd_freeze(args: argparse.Namespace, state: dict) -> int:
    from . import api

    compiled = _load(args.file, state)
    out_path = Path(args.out) if args.out else None
    frozen = api.freeze(compiled, args.space, args.fix or [], args.random, args.name,
                       out_dir=out_path.parent if out_path else None)
    text = frozen.pinned if args.pinned else frozen.text
    if out_path:
        out_path.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_ir(args: argparse.Namespace, state: dict) -> int:
    from . import api

    compiled = _load(args.file, state)
    pins = api.parse_fixes(args.fix or [])
    space = compiled.elaborate(args.space, pins)
    graph = space.graph.prune() if space.graph.is_decided() else space.graph
    if args.json:
        doc = {"space": space.name, "kind": space.kind,
               "decisions": [{"id": d.id, "path": d.path, "kind": d.kind, "labels": list(d.labels), "k": d.k,
                              "group": d.group, "fixed": d.fixed, "excluded": sorted(d.excluded),
                              "active_if": _dnf_json(d.active_if, space)} for d in space.decisions],
               "graph": graph.to_json(),
               "constraints": [c.describe() for c in space.constraints]}
        print(json.dumps(doc))
    elif args.dot:
        sys.stdout.write(graph.to_dot())
    else:
        for d in space.decisions:
            state_txt = f"= {d.option_label(d.fixed)}" if d.fixed is not None else f"{d.n} options"
            print(f"# d{d.id} {d.path}: {d.kind} {state_txt} [{', '.join(d.labels)}]")
        sys.stdout.write(graph.dump())
    return 0


def cmd_search(args: argparse.Namespace, state: dict) -> int:
    from .experiment_choice import experiment_for
    from .latency.store import store_path
    from .search.rounds import search_with_rounds

    out = Path(args.resume or args.out or "")
    if not args.resume and not args.out:
        raise UsageError("nasc search needs --out DIR (or --resume DIR)")
    compiled = _load(args.file, state)
    chosen = experiment_for(compiled, args.experiment, args.set or [])
    if args.target:
        named = {c.target for c in compiled.elaborate(args.space).constraints if c.target}
        if named and args.target not in named:
            sys.stderr.write(f"warning: --target {args.target} differs from the constraints' target(s) "
                             f"{', '.join(sorted(named))}; each latency budget is predicted for its own target\n")
    res = search_with_rounds(compiled, chosen.config, out, _loop_settings(args, store_path(args.latency_db)),
                             space_name=args.space, resume=bool(args.resume), target=args.target,
                             experiment_ref=chosen.reference(relative_to=out), progress=sys.stderr)
    print(f"wrote {out / 'arch.nas'} ({res.summary['params']:,} params, {res.summary['macs']:,} MACs) "
          f"in {res.summary['seconds']:.1f}s")
    if "measured_latency" in res.summary:
        print(_budget_line(res.summary["measured_latency"]))
    return 0


def _budget_line(lat: dict) -> str:
    """What the measured-latency loop ended with, for `nasc search` and `nasc compile`."""
    verdict = "holds" if lat["holds"] else "does not hold"
    return (f"{lat['target']} latency {lat['median_ms']:.4f} ms ({lat['source']}: {lat['how']}); "
            f"'{lat['constraint']}' {verdict} (round {lat['round']} of {lat['rounds']}, predicted "
            f"{lat['predicted_ms']:.4f} ms by {lat['model']})")


def cmd_train(args: argparse.Namespace, state: dict) -> int:
    from .experiment_choice import experiment_for
    from .train import train

    compiled = _load(args.file, state)
    cfg = experiment_for(compiled, args.experiment, args.set or []).config
    res = train(compiled, cfg, Path(args.out), args.space, progress=sys.stderr if args.verbose else None)
    m = res.metrics
    print(f"test accuracy {m['test_accuracy']:.4f} ({m['test_samples']} held-out samples), {m['params']:,} params, "
          f"{m['epochs']} epochs in {m['seconds']:.1f}s; wrote {Path(args.out) / 'weights.safetensors'}")
    return 0


def _resolve_target(args: argparse.Namespace) -> None:
    """``--target`` names a known target; an alias (``jetson``) is replaced by the board it
    means, and the command says which, so every later stage and record sees one canonical name."""
    from .targets import alias_note, resolve_target

    if args.target is None:
        return
    note = alias_note(args.target)
    args.target = resolve_target(args.target).name
    args.target_note = note  # for a report that names the target
    if note:
        sys.stderr.write(f"nasc: note: {note}\n")


def _check_build_args(args: argparse.Namespace) -> None:
    """Before anything runs or is written: target, backend and precision exist and agree."""
    from nasc.backends.targets import check_build_request

    _resolve_target(args)
    check_build_request(args.target, args.backend, args.precision)


def _check_compile_args(args: argparse.Namespace) -> None:
    """The build arguments, then the pass pipeline (``args.passes`` becomes its canonical text)."""
    from .compile_passes import check_pipeline

    _check_build_args(args)
    args.passes = check_pipeline(args.passes, args.precision, args.target)


def cmd_compile(args: argparse.Namespace, state: dict) -> int:
    from contextlib import closing

    from .compile import compile_space
    from .experiment_choice import experiment_for
    from .latency.store import store_path
    from .stage_display import stage_display

    out = Path(args.out)
    compiled = _load(args.file, state)
    chosen = experiment_for(compiled, args.experiment, args.set or [])
    with closing(stage_display(sys.stderr)) as display:
        r = compile_space(compiled, chosen.config, out, space_name=args.space, target=args.target,
                          backend=args.backend, precision=args.precision, passes=args.passes,
                          experiment_ref=chosen.reference(relative_to=out / "search"), display=display,
                          loop=_loop_settings(args, store_path(args.latency_db)),
                          target_note=getattr(args, "target_note", None), record_latency=args.record_latency)
    lat, acc = r["latency"], r["accuracy"]
    forms = " + ".join(f"{n} {f['precision']}" for n, f in r.get("forms", {}).items() if f.get("built")) \
        or f"{r['backend']} {r['precision']}"
    print(f"{r['space']} -> {r['arch']}: test accuracy {r['test_accuracy']:.4f}, {r['params']:,} params, "
          f"{r['macs']:,} MACs; {forms} artifact for {r['target']} in {r['artifact']}; "
          f"latency {lat['median_ms']:.4f} ms ({lat['source']}: {lat['how']})")
    print(f"passes {r['passes']}: test accuracy {acc['fp32']:.4f} fp32 -> {acc['after_passes']:.4f} {r['precision']} "
          f"({acc['test_samples']} samples; {acc['after_passes_source']}; tolerance {acc['tolerance_points']:g} points)")
    if "tuning" in r:
        print(f"tvm {r['tuning']}")
    if "latency_budget" in r:
        print(_budget_line(r["latency_budget"]))
    return 0


def cmd_build(args: argparse.Namespace, state: dict) -> int:
    from nasc.backends.common import check_out_dir

    from .deploy import build_arch, build_optimized

    check_out_dir(args.out)
    if args.untuned and args.tune_trials:
        raise UsageError("--untuned builds with TVM's default schedules; --tune-trials tunes: give one of them")
    if args.tuning_device and (args.untuned or args.tune_trials):
        raise UsageError("--tuning-device KEY applies the database `nasc profile --tune --rpc` filled for that device; "
                         "it goes with neither --untuned nor --tune-trials")
    if args.from_dir:
        if args.file or args.weights:
            raise UsageError("--from DIR builds the optimized IR in DIR; give no ARCH.nas or --weights with it")
        art = build_optimized(Path(args.from_dir), Path(args.out), target=args.target, backend=args.backend,
                              seed=args.seed, tune_trials=args.tune_trials, batch=args.batch, repeats=args.repeat,
                              tuning_database=not args.untuned, tune_device_key=args.tuning_device)
    else:
        if not args.file:
            raise UsageError("nasc build needs ARCH.nas (or --from DIR, the output of nasc opt)")
        compiled = _load(args.file, state)
        art = build_arch(compiled, Path(args.out), target=args.target, backend=args.backend,
                         weights=Path(args.weights) if args.weights else None, precision=args.precision,
                         seed=args.seed, tune_trials=args.tune_trials, batch=args.batch, repeats=args.repeat,
                         name=args.space, tuning_database=not args.untuned, tune_device_key=args.tuning_device)
    notes = "; ".join(art.notes)
    print(f"built {art.backend} artifact for {art.target} ({art.precision}) in {art.dir}"
          + (f" -- {notes}" if notes else ""))
    manifest = json.loads((Path(args.out) / "manifest.json").read_text())
    for name, row in (manifest.get("selection") or {}).get("candidates", {}).items():
        figure = f"median {row['median_ms']:.4f} ms ({row.get('how', 'measured')})" if row.get("median_ms") \
            else row.get("status", "")
        print(f"  {name:12s} {figure}{'  <- chosen' if name == art.backend else ''}")
    return 0


def cmd_measure(args: argparse.Namespace, state: dict) -> int:
    import nasc.backends as nb
    from nasc.backends import MeasureProtocol

    if (args.rpc is None) != (args.device_key is None):
        raise UsageError("--rpc HOST:PORT and --device-key KEY go together")
    if args.no_verify:
        sys.stderr.write("nasc: warning: --no-verify: the artifact's files are not checked against the sha256s in "
                         "its manifest (paths still are); an altered artifact runs whatever it now contains\n")
    proto = MeasureProtocol(repeats=args.repeat, number=args.number, warmup=args.warmup, threads=args.threads,
                            isolate=args.isolate, per_kernel=args.per_kernel, rpc=args.rpc,
                            device_key=args.device_key, verify=not args.no_verify)
    rec = nb.measure(args.dir, proto)
    if args.json:
        print(json.dumps(rec.to_dict()))
    else:
        print(f"median {rec.median_ms:.4f} ms, p90 {rec.p90_ms:.4f} ms ({rec.source}, {rec.how}; {rec.backend} "
              f"{rec.precision} on {rec.target}, {rec.repeats} repeats)")
        for k in rec.per_kernel:
            print(f"  {k.median_us:10.1f} us  x{k.calls_per_run}  {k.name}")
    return 0


def cmd_targets(args: argparse.Namespace, state: dict) -> int:
    import nasc.backends as nb

    rows = nb.describe_targets()
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        if not r["backends"]:
            print(f"{r['name']:20s} {r['kind']:8s}  {r['description']}; nothing to build")
            continue
        backends = ", ".join(f"{n}{'' if b['available'] else ' (unavailable here)'}" for n, b in r["backends"].items())
        arch = f" {r['device_arch']}" if r.get("device_arch") else ""
        print(f"{r['name']:20s} {r['kind']:8s}{arch}  precisions {'/'.join(r['precisions'])}  backends: {backends}")
    for r in rows:
        for alias in r["aliases"]:
            print(f"{alias:20s} alias of {r['name']}")
    return 0


def _dnf_json(dnf, space) -> object:
    if dnf == frozenset({frozenset()}):
        return True
    if not dnf:
        return False
    return [{space.decisions[d].path: sorted(s) for d, s in term} for term in dnf]


def _space_command(sub, name: str, help: str, fn: Callable[[argparse.Namespace, dict], int]
                   ) -> argparse.ArgumentParser:
    """A subcommand that works on one space or arch of a file (FILE [--space NAME])."""
    p = sub.add_parser(name, help=help)
    p.add_argument("file")
    p.add_argument("--space", help="which space or arch of the file (default: the first)")
    p.set_defaults(fn=fn)
    return p


def _loop_arguments(p: argparse.ArgumentParser) -> None:
    """The measured-latency loop's flags (search and compile)."""
    from .latency.store import ENV, FILENAME

    p.add_argument("--rounds", type=_count(0, 100), default=3, metavar="R",
                   help="with a hard latency budget on a recorded device or cpu: at most R rounds of search, "
                        "measure, refit (0: predict only, measure nothing)")
    p.add_argument("--latency-db", metavar="PATH",
                   help=f"the latency store models are fitted on and measurements go to (default: ${ENV}, else "
                        f"{FILENAME} in nasc's cache directory)")
    p.add_argument("--rpc", metavar="HOST:PORT",
                   help="measure the loop's architectures on the device behind this TVM RPC tracker (TVM builds)")
    p.add_argument("--device-key", metavar="KEY", help="the device's key at the tracker (with --rpc)")
    p.add_argument("--threads", type=_count(1, 1024), default=None, metavar="N",
                   help="intra-op threads of every measurement (the loop's and the artifact's; default 2): one "
                        "thread count is one configuration, and the models are fitted on records of it only")


def _loop_settings(args: argparse.Namespace, store: Path) -> "LoopSettings":
    """The loop's settings from its flags: measured here, or through an RPC tracker with TVM.

    Measured here, the loop builds with the backend the compile builds its artifact with
    (``--backend``), so the latency it holds to the budget is that of the kind of build the
    user gets; ``auto`` (and ``nasc search``, which builds nothing) measures with ONNX Runtime,
    and auto's artifact is the fastest candidate, never slower than that."""
    from .latency.resolve import DEFAULT_BACKEND
    from .search.rounds import LoopSettings

    if (args.rpc is None) != (args.device_key is None):
        raise UsageError("--rpc HOST:PORT and --device-key KEY go together")
    from nasc.backends import MeasureProtocol

    threads = {} if args.threads is None else {"threads": args.threads}
    if args.rpc is None:
        chosen = getattr(args, "backend", "auto")
        return LoopSettings(args.rounds, store, backend=DEFAULT_BACKEND if chosen == "auto" else chosen,
                            protocol=MeasureProtocol(repeats=30, isolate=True, **threads) if threads else None)
    return LoopSettings(args.rounds, store, backend="tvm", protocol=MeasureProtocol(rpc=args.rpc,
                                                                                   device_key=args.device_key,
                                                                                   **threads))


WRITES_DIRECTORY = ("search", "train", "compile", "build", "opt", "sweep")
"""Commands whose --out (or search's --resume) is a run directory: one run holds it at a time."""


def _output_dir(args: argparse.Namespace) -> Path | None:
    """The run directory a command writes, checked for contradictions; None for read-only commands."""
    if args.command not in WRITES_DIRECTORY:
        return None
    out, resume = getattr(args, "out", None), getattr(args, "resume", None)
    if out and resume and Path(out).resolve() != Path(resume).resolve():
        raise UsageError(f"--out {out} and --resume {resume} name different directories; a resumed search "
                         "continues in its own directory (give only --resume)")
    chosen = resume or out
    return Path(chosen) if chosen else None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nasc", description="A compiler for hardware-aware neural architecture search.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("check", help="parse, elaborate and summarize every space in a file")
    c.add_argument("file")
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")
    c.set_defaults(fn=cmd_check)

    f = sub.add_parser("fmt", help="print the canonical formatting of a file")
    f.add_argument("file")
    g = f.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="exit 3 if the file is not formatted")
    g.add_argument("--write", "-w", action="store_true", help="rewrite the file in place")
    f.set_defaults(fn=cmd_fmt)

    z = _space_command(sub, "freeze", "pin every decision and print the architecture", cmd_freeze)
    z.add_argument("--fix", action="append", metavar="PATH=VALUE", help="pin one decision (repeatable)")
    z.add_argument("--random", type=_count(0, 2**32 - 1), metavar="SEED", help="draw the decisions not pinned by --fix")
    z.add_argument("--name", help="name of the printed arch")
    z.add_argument("--pinned", action="store_true", help="print the pinned form (extends + fix)")
    z.add_argument("--out", "-o", help="write to this file instead of stdout")

    i = _space_command(sub, "ir", "print the IR of a space (or of an architecture with --fix)", cmd_ir)
    i.add_argument("--fix", action="append", metavar="PATH=VALUE")
    g2 = i.add_mutually_exclusive_group()
    g2.add_argument("--json", action="store_true")
    g2.add_argument("--dot", action="store_true")

    s = _space_command(sub, "search", "differentiable architecture search on the space's experiment", cmd_search)
    s.add_argument("--experiment", help="NAME (in FILE) or OTHER.nas:NAME")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override an experiment key (repeatable)")
    s.add_argument("--out", "-o", help="output directory")
    s.add_argument("--resume", metavar="DIR", help="continue an interrupted search in DIR")
    s.add_argument("--target", help="hardware target of latency terms (default: the constraints' or cpu)")
    _loop_arguments(s)
    s.set_defaults(precheck=_resolve_target)

    t = _space_command(sub, "train", "retrain an arch from scratch; report test accuracy", cmd_train)
    t.add_argument("--experiment", help="FILE:NAME (default: the one the arch records, or its own)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE")
    t.add_argument("--out", "-o", required=True)
    t.add_argument("--verbose", "-v", action="store_true", help="print a line per epoch")

    cp = _space_command(sub, "compile", "the whole pipeline: search, retrain, build and measure (stages cached)",
                        cmd_compile)
    cp.add_argument("--target", default="cpu", help="see `nasc targets`")
    cp.add_argument("--backend", default="auto")
    cp.add_argument("--precision", default="fp32", metavar="fp32|fp16|int8",
                    help="what the artifact computes in (the target's precisions: `nasc targets`); it picks the "
                         "default --passes: fp16 adds mixed-precision{dtype=fp16}, int8 adds quantize (calibrated "
                         "on the experiment's training split)")
    cp.add_argument("--passes", metavar="PIPELINE",
                    help="optimization passes run on the retrained arch before the build (see `nasc opt --help`); "
                         "default fold-bn,fuse, plus mixed-precision{dtype=fp16} for fp16 or quantize for int8 "
                         "(quantize{act=s8,reduce_range=false} and fuse{target=T} on GPU targets). The artifact's "
                         "test accuracy must stay within the experiment's accuracy_tolerance (default 1 point) of "
                         "the fp32 model's, or the compile fails naming the pass that lost it")
    cp.add_argument("--experiment", help="NAME (in FILE) or OTHER.nas:NAME")
    cp.add_argument("--set", action="append", metavar="KEY=VALUE")
    cp.add_argument("--out", "-o", required=True)
    cp.add_argument("--record-latency", action="store_true",
                    help="also store the artifact's measured latency in the latency store as a record of its arch "
                         "(cpu; what nasc sweep's tasks do, so nasc latency report sees every compiled arch)")
    _loop_arguments(cp)
    cp.set_defaults(precheck=_check_compile_args)

    b = sub.add_parser("build", help="build an arch (or, with --from, the output of nasc opt) into an artifact")
    b.add_argument("file", nargs="?")
    b.add_argument("--space")
    b.add_argument("--from", dest="from_dir", metavar="DIR", help="the output folder of `nasc opt`")
    b.set_defaults(fn=cmd_build, precheck=_check_build_args)
    b.add_argument("--weights", help="weights.safetensors from nasc train (default: seeded initialization)")
    b.add_argument("--target", default="cpu", help="see `nasc targets`")
    b.add_argument("--backend", default="auto", help="auto (measure every available one, keep the fastest), "
                   "onnxruntime, tvm, tensorrt or torch")
    b.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16", "int8"])
    b.add_argument("--seed", type=_count(0, 2**32 - 1), default=0, help="seed of the example inputs and any random initialization")
    b.add_argument("--tune-trials", type=_count(0), default=0,
                   help="MetaSchedule trials per kernel the tuning database lacks, tuned at build time (TVM, cpu)")
    b.add_argument("--untuned", action="store_true",
                   help="TVM: TVM's default schedules, not the target's tuning database (nasc profile --tune fills it)")
    b.add_argument("--tuning-device", metavar="KEY",
                   help="TVM: apply the tuning database of the device KEY (filled by nasc profile --tune --rpc ... "
                        "--device-key KEY), not this host's: schedules timed on one CPU do not transfer to another")
    b.add_argument("--batch", type=_count(1, 65_536), default=1)
    b.add_argument("--repeat", type=_count(1), default=30, help="measurement repeats used by --backend auto")
    b.add_argument("--out", "-o", required=True)

    m = sub.add_parser("measure", help="measure an artifact's latency (stated protocol)")
    m.add_argument("dir")
    m.add_argument("--repeat", type=_count(1), default=30, help="timed samples")
    m.add_argument("--number", type=_count(1), default=10,
                   help="back-to-back calls per sample (a sample is their mean)")
    m.add_argument("--warmup", type=_count(0), default=10)
    m.add_argument("--threads", type=_count(1, 1024), default=2)
    m.add_argument("--isolate", action="store_true", help="measure in a fresh process")
    m.add_argument("--per-kernel", action="store_true", help="per-kernel times where the backend offers them")
    m.add_argument("--rpc", metavar="HOST:PORT", help="a TVM RPC tracker")
    m.add_argument("--device-key", metavar="KEY", help="the device's key at the tracker")
    m.add_argument("--json", action="store_true")
    m.add_argument("--no-verify", action="store_true",
                   help="skip the sha256 check of the artifact's files (for artifacts edited on purpose)")
    m.set_defaults(fn=cmd_measure)

    tg = sub.add_parser("targets", help="list targets with their backends and precisions")
    tg.add_argument("--json", action="store_true")
    tg.set_defaults(fn=cmd_targets)
    from .passes.opt_command import add_parser as _opt_parser
    _opt_parser(sub)
    from .latency.commands import add_parser as _latency_parser
    _latency_parser(sub)
    from .latency.profile_command import add_parser as _profile_parser
    _profile_parser(sub)
    from .bench.commands import add_parser as _bench_parser
    _bench_parser(sub)
    from .sweep.command import add_parser as _sweep_parser
    _sweep_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    state: dict = {}
    fn: Callable[[argparse.Namespace, dict], int] = args.fn
    try:
        precheck: Callable[[argparse.Namespace], None] | None = getattr(args, "precheck", None)
        if precheck is not None:
            precheck(args)
        out = _output_dir(args)
        if out is None:
            return fn(args, state)
        from .runlock import command_line, locked_output

        with locked_output(out, command_line(argv), flag="--resume" if getattr(args, "resume", None) else "--out",
                           log=sys.stderr):
            return fn(args, state)
    except NascError as err:
        sys.stderr.write(err.render(_sources(state)) + "\n")
        return EXIT_USER
    except BrokenPipeError:
        return 0
    except OSError as err:
        # a full disk, a read-only filesystem or missing permissions are the user's to fix;
        # any other OSError falls through to the internal-error report below
        from .fsio import user_os_error

        user = user_os_error(err, verb="use")
        if user is None:
            return _internal_error()
        sys.stderr.write(user.render(_sources(state)) + "\n")
        return EXIT_USER
    except KeyboardInterrupt:
        sys.stderr.write("nasc: interrupted\n")
        return 130
    except Exception:  # a bug in nasc: say so, with the traceback
        return _internal_error()


def _internal_error() -> int:
    """Report the exception being handled as a bug in nasc (exit 1, with its traceback)."""
    sys.stderr.write("nasc: internal error (please report this with the input that caused it)\n")
    traceback.print_exc()
    return 1


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
