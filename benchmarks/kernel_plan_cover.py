"""Do a space's kernels cover its archs under TVM?  Tasks of kernel-plan and whole-graph builds.

    .venv/bin/python benchmarks/kernel_plan_cover.py [--space nb201] [--archs 10]
                                                     [--out benchmarks/results/kernel_plan_cover_SPACE.json]

``nasc profile --tune`` tunes the TVM tasks of a space's kernels, each kernel built alone as a
micro-model; a tuned space builds every arch tuned only if each arch's tasks are among them.
Per space (``examples/SPACE.nas``): the MetaSchedule tasks (structural hashes) of every kernel
micro-model of the space (``nasc.latency.space_kernels``, fp32), then, for ``--archs`` random
archs (``random_assignment(seed=i)``, i = 0..ARCHS-1), the tasks TVM extracts when the arch is
built by nasc's kernel plan (what TVM builds do) and when TVM partitions the whole graph
(FuseOps over the whole arch), and how many of each are not among the space's.  Nothing is
tuned or timed, so this runs in minutes, any time.

Target (exit 1 when missed): no arch built by the kernel plan has a task outside the space's.
The whole-graph counts are reported beside it, not judged.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from report import ROOT, Target, at_most, result_path, verdict, write_json  # noqa: E402

from nasc.backends.manifest import library_versions  # noqa: E402


def task_hashes(mod: Any, tgt: Any) -> dict[str, str]:
    """A Relax module's MetaSchedule tasks: structural hash -> task name."""
    from nasc.backends.tvm.tuning import _fused_tasks, _shash

    return {_shash(t): t.task_name for t in _fused_tasks(mod, tgt)[1]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--archs", type=int, default=10)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import torch

    from nasc import api
    from nasc.backends.targets import get_target
    from nasc.backends.torch_ref.model import inference_copy
    from nasc.backends.tvm import _save_plan, _save_program
    from nasc.backends.tvm.compile_worker import _imported, _plan_modules
    from nasc.backends.tvm.tuning import stub_tensor_intrin
    from nasc.backends.tvm.tvm_target import to_tvm
    from nasc.latency.kernel_plan import arch_plan
    from nasc.latency.micro import micro_model
    from nasc.latency.space_kernels import space_kernels
    from nasc.lower.arch import ArchNet
    from nasc.lower.inputs import example_inputs

    stub_tensor_intrin()
    tgt = to_tvm(get_target("cpu"))
    compiled = api.load(ROOT / "examples" / f"{args.space}.nas")
    space, lib = compiled.elaborate(), compiled.loader.ops
    t0 = time.perf_counter()
    kernels = space_kernels(space, lib, "fp32", "cpu").kernels
    known: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="nasc-bench-cover-") as tmp:
        for k in kernels:
            m = micro_model(k.signature, lib)
            _save_program(inference_copy(m.module), m.example_inputs, Path(tmp) / "m.pt2")
            known.update(task_hashes(_imported(str(Path(tmp) / "m.pt2"), "fp32"), tgt))
        print(f"{args.space}: {len(kernels)} kernels, {len(known)} distinct tasks "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        archs = []
        for seed in range(args.archs):
            arch = compiled.elaborate(None, api.pins_from_assignment(api.random_assignment(space, seed)))
            graph = arch.graph.prune()
            torch.manual_seed(0)
            net = ArchNet(graph, lib).eval()
            work = Path(tmp) / f"arch{seed}"
            work.mkdir()
            plan = arch_plan(graph, lib, net, "fp32", 1, 0)()
            planned: dict[str, str] = {}
            for mod in _plan_modules(_save_plan(plan, [[1]], work, Path(tmp) / "cache"), "fp32"):
                planned.update(task_hashes(mod, tgt))
            _save_program(inference_copy(net), example_inputs(net), work / "whole.pt2")
            whole = task_hashes(_imported(str(work / "whole.pt2"), "fp32"), tgt)
            row = {"seed": seed, "kernels": len(plan.steps),
                   "plan_tasks": len(planned), "plan_tasks_not_in_space": sorted(n for h, n in planned.items()
                                                                                if h not in known),
                   "whole_tasks": len(whole), "whole_tasks_not_in_space": sorted(n for h, n in whole.items()
                                                                                if h not in known)}
            archs.append(row)
            print(f"{args.space} seed {seed}: {row['kernels']} kernels; kernel plan {row['plan_tasks']} tasks, "
                  f"{len(row['plan_tasks_not_in_space'])} not in the space's; whole graph {row['whole_tasks']} "
                  f"tasks, {len(row['whole_tasks_not_in_space'])} not in the space's", flush=True)
    targets: dict[str, Target] = {
        f"{args.space} archs whose kernel-plan build has a task outside the space's kernel tasks": at_most(
            sum(bool(r["plan_tasks_not_in_space"]) for r in archs), 0),
    }
    doc = {"benchmark": "kernel_plan_cover", "space": args.space, "precision": "fp32", "target": "cpu",
           "space_kernels": len(kernels), "space_kernel_tasks": len(known),
           "protocol": "MetaSchedule tasks (structural hashes) extracted by TVM from Relax's zero pipeline: per "
                       "kernel micro-model of the space; per arch built by nasc's kernel plan (each kernel alone) "
                       "and whole (TVM's FuseOps over the arch)",
           "whole_graph_tasks_not_in_space": sum(len(r["whole_tasks_not_in_space"]) for r in archs),
           "versions": library_versions(["apache-tvm", "torch"]), "archs": archs}
    write_json(doc, args.out or result_path(f"kernel_plan_cover_{args.space}"), targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
