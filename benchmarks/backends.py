"""CPU backends compared honestly: independent builds, each timed in its own process, in rounds.

    .venv/bin/python benchmarks/backends.py [--models digits,mbv2] [--rounds 5] [--trials 0]
                                            [--out benchmarks/results/backends_cpu.json]

Builds.  For each model of ``backend_models.py`` (same arch file, same weights with
randomized BN) every configuration is its own ``nasc build`` process: torch (eager),
onnxruntime fp32 (twice: ``onnxruntime_twin`` is a second, identical build), onnxruntime
int8, tvm untuned, tvm tuned with MetaSchedule (``--trials`` per kernel, 0 skips it; the
tuning database in ``~/.cache/nasc`` makes re-runs cheap) and ``--backend auto``, which
builds and times its candidates itself and keeps the fastest (``--repeat 10`` instead of
the default 30 to bound its build time: fewer repeats can only make its choice noisier).
Nothing is shared between the builds but the inputs.

Timing.  ``--rounds`` rounds; in each, every artifact is timed by ``nasc measure DIR
--json`` in a fresh process (TVM's, torch's and ONNX Runtime's thread pools starve each
other when they share a process on 2 cores), in a fresh seeded random order every round
so drift of the machine's load, and whatever ran just before, hit all artifacts alike.
Each process takes samples of about 1 ms (``--number`` calls each, from a short pilot
process; one call when a call is slower) over about 1 s (20 to 100 samples): short
samples mostly fall between the moments other jobs hold the core, and the window keeps
one burst of load from covering them all.

An artifact's latency is the median of its per-round medians.  Its *spread* is
(max - min) / median of those per-round medians once the round farthest from their
median is set aside: how far its own figure moved between rounds, without letting one
round that met a burst of load set the band alone.  The *identical-build discrepancy*
is |onnxruntime_twin / onnxruntime - 1|: how far apart this run puts two builds of the
same bytes.  The noise band of a ratio of A and B is the larger of spread(A) +
spread(B) -- about how far the ratio of any kept round of A to any kept round of B
strays from the ratio of their medians -- and that discrepancy.

Ratios are named with their direction: ``A_over_B`` is A's latency / B's (above 1: A is
slower), ``A_speedup_vs_B`` is B's latency / A's (above 1: A is faster).

Targets (exit 1 when one is missed), per model:

* every artifact agrees with torch eager on the build's example inputs, computed here
  from the same arch and weights: max|y - y_torch| / max|y_torch| <= 1e-4 (fp32),
  <= 5e-2 (int8);
* ``auto_over_best_single <= 1 + band``: the auto artifact, measured independently, is
  not slower than the fastest independently built single-backend artifact among auto's
  candidates (same build options), beyond the noise band of the two;
* MobileNetV2 only (the product claims): onnxruntime int8 is faster than fp32
  (``onnxruntime_int8_speedup_vs_fp32 >= 1 + band``) and, with ``--trials``, tuned TVM is
  faster than untuned TVM (``tvm_tuned_speedup_vs_untuned >= 1 + band``).

With ``--trials`` the JSON also lists the tuned TVM build's per-kernel times next to ONNX
Runtime's per-node profile, which is how the gap between the two is explained.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RATIO_CONVENTION, ROOT, Target, at_least, at_most, result_path, verdict, write_json  # noqa: E402
import backend_models  # noqa: E402
import ort_profile  # noqa: E402
from nasc_cli import run_nasc  # noqa: E402
from fresh_timing import WINDOW, measure_in_fresh_process, summarize, timed_rounds  # noqa: E402

import nasc.backends as nb  # noqa: E402
from nasc import api  # noqa: E402
from nasc.backends.isolation import THREAD_ENV  # noqa: E402
from nasc.backends.manifest import library_versions  # noqa: E402
from nasc.backends.torch_ref.model import run_torch  # noqa: E402
from nasc.deploy import reference_module  # noqa: E402

TOLERANCE = {"fp32": 1e-4, "int8": 5e-2}
REFERENCE = "onnxruntime"
TWIN = "onnxruntime_twin"
AUTO_REPEAT = 10


@dataclass(frozen=True)
class Config:
    """One independent build: its name in the JSON and its `nasc build` options."""

    name: str
    backend: str
    precision: str = "fp32"
    trials: int = 0
    auto_candidate: bool = False  # built like the candidates --backend auto chooses among

    def build_args(self) -> list[str]:
        extra = ["--repeat", str(AUTO_REPEAT)] if self.backend == "auto" else []
        if self.name == "tvm":  # untuned even where nasc profile --tune has filled a tuning database
            extra.append("--untuned")
        return ["--backend", self.backend, "--precision", self.precision, "--tune-trials", str(self.trials), *extra]


def configs(trials: int) -> list[Config]:
    rows = [Config("torch", "torch", auto_candidate=True), Config(REFERENCE, "onnxruntime", auto_candidate=True),
            Config(TWIN, "onnxruntime"), Config("tvm", "tvm", auto_candidate=True),
            Config("onnxruntime_int8", "onnxruntime", "int8")]
    if trials:
        rows.append(Config("tvm_tuned", "tvm", trials=trials))
    return rows + [Config("auto", "auto")]


def rel(path: Path) -> str:
    return os.path.relpath(path, ROOT)


def build(cfg: Config, arch: Path, weights: Path, out: Path) -> dict[str, Any]:
    args = ["build", rel(arch), "--weights", rel(weights), *cfg.build_args(), "--out", rel(out)]
    t0 = time.perf_counter()
    run_nasc(*args, cwd=ROOT)
    return {"command": "nasc " + " ".join(args), "build_seconds": round(time.perf_counter() - t0, 1)}


def example_inputs(art: Path) -> dict[str, np.ndarray]:
    """The inputs a build saved with torch's outputs (io_check.npz)."""
    io = np.load(art / "io_check.npz")
    return {k[len("input."):]: io[k] for k in io.files if k.startswith("input.")}


def max_rel_err(art: Path, net: Any) -> float:
    """max|y - y_torch| / max|y_torch| on the build's own example inputs."""
    inputs = example_inputs(art)
    ref = run_torch(net, inputs)
    outs = nb.load_and_run(art, inputs)
    return max(float(np.abs(o - r).max() / max(float(np.abs(r).max()), 1e-12)) for o, r in zip(outs, ref))


def identical_build_discrepancy(rows: dict[str, dict[str, Any]]) -> float:
    return abs(rows[TWIN]["median_ms"] / rows[REFERENCE]["median_ms"] - 1)


def ratio(rows: dict[str, dict[str, Any]], a: str, b: str, speedup: bool = False) -> dict[str, float]:
    """``a``/``b`` latency ratio (or ``b``/``a`` when ``speedup``) with its noise band."""
    value = rows[b]["median_ms"] / rows[a]["median_ms"] if speedup else rows[a]["median_ms"] / rows[b]["median_ms"]
    band = max(rows[a]["spread"] + rows[b]["spread"], identical_build_discrepancy(rows))
    return {"value": value, "noise_band": band}


def model_targets(name: str, rows: dict[str, dict[str, Any]], ratios: dict[str, dict[str, float]],
                  best: str) -> dict[str, Target]:
    """Agreement of every artifact, auto within the noise band, and the MobileNetV2 claims."""
    fp32 = {n: r["max_err_rel_to_torch"] for n, r in rows.items() if r["precision"] == "fp32"}
    worst = max(fp32, key=lambda n: fp32[n])
    err = "max|y - y_torch| / max|y_torch|"
    out = {f"{name}: every fp32 artifact agrees with torch eager (worst: {worst})":
           at_most(fp32[worst], TOLERANCE["fp32"], err),
           f"{name}: the int8 artifact agrees with torch eager":
           at_most(rows["onnxruntime_int8"]["max_err_rel_to_torch"], TOLERANCE["int8"], err)}
    auto = ratios["auto_over_best_single"]
    out[f"{name}: auto ({rows['auto']['chosen']}) not slower than the best single backend ({best})"] = at_most(
        auto["value"], 1 + auto["noise_band"], "= 1 + noise band, auto_over_best_single")
    if name == "mbv2":
        for key, what in (("onnxruntime_int8_speedup_vs_fp32", "onnxruntime int8 faster than fp32"),
                          ("tvm_tuned_speedup_vs_untuned", "MetaSchedule-tuned TVM faster than untuned")):
            if key in ratios:
                out[f"mbv2: {what}"] = at_least(ratios[key]["value"], 1 + ratios[key]["noise_band"],
                                                f"= 1 + noise band, {key}")
    return out


def run_model(name: str, args: argparse.Namespace, targets: dict[str, Target]) -> dict[str, Any]:
    work = Path(args.workdir) / name
    arch = backend_models.arch_file(name, Path(args.workdir), args.resolution)
    weights = backend_models.weights_with_random_bn(arch, work.with_suffix(".weights.safetensors"))
    cfgs = configs(args.trials)
    dirs = {c.name: work / c.name for c in cfgs}
    builds = {}
    for c in cfgs:
        builds[c.name] = build(c, arch, weights, dirs[c.name])
        print(f"{name} built {c.name:17s} in {builds[c.name]['build_seconds']:7.1f} s", flush=True)
    records, orders = timed_rounds(dirs, args.threads, args.rounds, name)

    net = reference_module(api.load(arch), weights=weights)
    rows: dict[str, dict[str, Any]] = {}
    manifests = {c.name: json.loads((dirs[c.name] / "manifest.json").read_text()) for c in cfgs}
    for c in cfgs:
        rows[c.name] = {**summarize(records[c.name]), **builds[c.name],
                        "max_err_rel_to_torch": max_rel_err(dirs[c.name], net),
                        "tuning": manifests[c.name].get("details", {}).get("tuning")}
    selection = manifests["auto"]["selection"]
    rows["auto"]["chosen"] = selection["chosen"]
    rows["auto"]["selection_in_build"] = selection

    singles = [c.name for c in cfgs if c.auto_candidate]
    best = min(singles, key=lambda n: rows[n]["median_ms"])
    ratios = {"auto_over_best_single": ratio(rows, "auto", best)}
    ratios.update({f"{c.name}_over_{REFERENCE}": ratio(rows, c.name, REFERENCE) for c in cfgs if c.name != REFERENCE})
    ratios["onnxruntime_int8_speedup_vs_fp32"] = ratio(rows, "onnxruntime_int8", "onnxruntime", speedup=True)
    if args.trials:
        ratios["tvm_tuned_speedup_vs_untuned"] = ratio(rows, "tvm_tuned", "tvm", speedup=True)

    targets.update(model_targets(name, rows, ratios, best))
    doc: dict[str, Any] = {"arch": rel(arch), "weights": "seeded initialization, BN statistics randomized (seed 0)",
                           "input_shapes": manifests["auto"]["input_shapes"],
                           "measure_protocol": {**records[REFERENCE][0]["protocol"],
                                                "warmup, repeats, number": "per artifact, below",
                                                "host_load_1min": "per round, below"},
                           "round_orders": orders, "best_single": best,
                           "identical_build_discrepancy": {
                               "value": identical_build_discrepancy(rows),
                               "same_files": manifests[TWIN]["files"] == manifests[REFERENCE]["files"]},
                           "artifacts": rows, "ratios": ratios}
    if args.trials:
        doc["tvm_tuned_per_kernel_top"] = measure_in_fresh_process(
            dirs["tvm_tuned"], {"warmup": 3, "repeat": WINDOW.repeats[0], "number": 1}, args.threads,
            per_kernel=True)["per_kernel"][:15]
        doc["onnxruntime_profile_top"] = ort_profile.top_nodes(dirs[REFERENCE] / "model.onnx",
                                                               example_inputs(dirs[REFERENCE]), args.threads)
    return doc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=result_path("backends_cpu"))
    ap.add_argument("--models", default=",".join(backend_models.MODELS))
    ap.add_argument("--resolution", type=int, default=224, help="MobileNetV2 input resolution")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=0, help="MetaSchedule trials per kernel (0: no tuned TVM build)")
    ap.add_argument("--threads", type=int, default=2,
                    help="threads of every timed process (--backend auto times its candidates with 2)")
    ap.add_argument("--workdir", default=str(ROOT / "runs" / "bench_backends"))
    args = ap.parse_args()
    if args.rounds < 5:
        ap.error("--rounds must be at least 5 (a spread sets one round aside and needs four left)")
    targets: dict[str, Target] = {}
    models = {m: run_model(m, args, targets) for m in args.models.split(",")}
    doc = {"benchmark": "backends_cpu",
           "what": "batch-1 CPU latency of independently built artifacts, each timed in its own process",
           "protocol": {"builds": "one `nasc build` process per artifact (same arch file and weights)",
                        "auto_build": f"--repeat {AUTO_REPEAT} (its in-build measurement of each candidate)",
                        "timing": f"{args.rounds} rounds; in each, one fresh `nasc measure --json` process per "
                                  "artifact, in a seeded random order per round; an artifact's latency = median "
                                  "of its per-round medians",
                        "samples": WINDOW.describe(),
                        "spread": "(max - min) / median of an artifact's per-round medians, without the round "
                                  "farthest from their median",
                        "identical_build_discrepancy": f"|{TWIN} / {REFERENCE} - 1| (two builds of the same bytes)",
                        "noise_band": "of a ratio of A and B: the larger of spread(A) + spread(B) and the "
                                      "identical-build discrepancy",
                        "threads": args.threads, "thread_env": list(THREAD_ENV),
                        "agreement": "max|y - y_torch| / max|y_torch| on the build's example inputs, torch eager "
                                     "module rebuilt here from the same arch and weights",
                        "tolerance": TOLERANCE},
           "ratio_convention": RATIO_CONVENTION, "tune_trials_per_kernel": args.trials,
           "versions": library_versions(), "models": models}
    write_json(doc, args.out, targets)
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
