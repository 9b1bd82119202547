"""TVM built by nasc's kernel plan against TVM partitioning the whole graph: latency and build time.

    .venv/bin/python benchmarks/kernel_plan.py [--space nb201] [--archs 5] [--rounds 5] [--threads 2]
                                               [--cache DIR] [--out benchmarks/results/kernel_plan_SPACE.json]

A TVM build for the cpu target follows nasc's kernel plan (each fused kernel lowered alone and
the kernels stitched; docs/backends.md, "Built kernel by kernel"), so that the tasks it runs
are the space's kernels, which ``nasc profile --tune`` tuned.  What that may cost: TVM's own
FuseOps over the whole graph can fuse differently, and the stitched module calls one Relax
function per kernel.  Per space (``examples/SPACE.nas``), ``--archs`` random archs
(``nasc.api.freeze(seed=i)``, i = 0..ARCHS-1), each built both ways with TVM against the same
cache folder (``--cache``: a folder whose tuning database both builds apply; default a fresh
one, so both are untuned), each build's wall time recorded; every artifact then timed in its
own fresh ``nasc measure`` process, ``--rounds`` rounds in a fresh random order each
(:mod:`fresh_timing`); ``plan_over_whole`` is the kernel-plan build's latency / the
whole-graph build's for the same arch (above 1: the plan is slower).

Targets (exit 1 when one is missed): the median ``plan_over_whole`` <= 1.1, and every
kernel-plan build <= 60 s (#13's budget for building an arch of a tuned space).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from report import (RATIO_CONVENTION, ROOT, Target, at_most, project_relative, result_path, verdict,  # noqa: E402
                    write_json)
from fresh_timing import WINDOW, timed_pairs  # noqa: E402

from nasc.backends.manifest import library_versions  # noqa: E402

MEDIAN_RATIO_MAX = 1.1
BUILD_SECONDS_MAX = 60.0


def build_both(space: Path, n: int, work: Path) -> dict[str, dict[str, Any]]:
    """``n`` random archs of ``space``, each built with TVM by the kernel plan and whole."""
    import nasc.backends as nb
    from nasc import api
    from nasc.backends import BuildOptions
    from nasc.deploy import decided, example_inputs, reference_module
    from nasc.latency.kernel_plan import arch_plan

    compiled = api.load(space)
    archs: dict[str, dict[str, Any]] = {}
    for i in range(n):
        name = f"arch{i}"
        text = api.freeze(compiled, seed=i).text
        (work / f"{name}.nas").write_text(text)
        arch = api.load(work / f"{name}.nas")
        net = reference_module(arch)
        plan = arch_plan(decided(arch, None, "build").graph.prune(), arch.loader.ops, net, "fp32", 1, 0)
        row: dict[str, Any] = {"seed": i, "arch": project_relative(text)}
        for way, kernel_plan in (("plan", plan), ("whole", None)):
            out = work / f"{name}-{way}"
            t0 = time.perf_counter()
            nb.build(net, example_inputs(net), out_dir=out, target="cpu", backend="tvm",
                     options=BuildOptions(output_names=tuple(net.output_names), kernel_plan=kernel_plan))
            row[f"{way}_build_seconds"] = round(time.perf_counter() - t0, 1)
            row[f"{way}_dir"] = out
            details = json.loads((out / "manifest.json").read_text())["details"]
            row[f"{way}_partition"], row[f"{way}_tuning"] = details["partition"], details["tuning_summary"]
        archs[name] = row
        print(f"{space.stem} {name}: builds {row['plan_build_seconds']} s (plan), {row['whole_build_seconds']} s "
              f"(whole); {row['plan_partition']}", flush=True)
    return archs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--archs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=None,
                    help="nasc cache folder whose tuning database both builds apply (default: a fresh one: untuned)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.rounds < 5:
        ap.error("--rounds must be at least 5 (a spread sets one round aside and needs four left)")
    out = args.out or result_path(f"kernel_plan_{args.space}")
    with tempfile.TemporaryDirectory(prefix="nasc-bench-plan-") as tmp:
        cache = (args.cache or Path(tmp) / "cache").resolve()
        os.environ["NASC_CACHE_DIR"] = str(cache)
        archs = build_both(ROOT / "examples" / f"{args.space}.nas", args.archs, Path(tmp))
        ratios = timed_pairs(archs, "plan", "whole", args.threads, args.rounds, args.space)
    targets: dict[str, Target] = {
        f"{args.space} median plan_over_whole": at_most(round(statistics.median(ratios.values()), 4),
                                                        MEDIAN_RATIO_MAX),
        f"{args.space} slowest kernel-plan build, seconds": at_most(
            max(row["plan_build_seconds"] for row in archs.values()), BUILD_SECONDS_MAX),
    }
    doc = {"benchmark": "kernel_plan", "ratio_convention": RATIO_CONVENTION,
           "protocol": {"builds": "nasc.backends.build(backend='tvm', target='cpu') of each arch's ArchNet (seeded "
                                  "weights), with its kernel plan and without (TVM's FuseOps over the whole graph), "
                                  "against " + ("the given cache's tuning database" if args.cache
                                                else "a fresh cache (both untuned)"),
                        "archs": f"nasc.api.freeze(seed=i) for i in 0..{args.archs - 1}",
                        "timing": f"each artifact in a fresh `nasc measure --json` process, {args.rounds} rounds in "
                                  f"a fresh random order each; {WINDOW.describe()}; latency = median of the "
                                  "per-round medians",
                        "threads": args.threads, "batch": 1},
           "versions": library_versions(["apache-tvm", "torch"]), "space": args.space,
           "median_plan_over_whole": statistics.median(ratios.values()), "archs": archs}
    write_json(doc, out, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
