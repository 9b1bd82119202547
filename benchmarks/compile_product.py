"""The product commands of `nasc compile` with passes, exactly as a user types them.

    nasc compile examples/digits.nas --target cpu --precision int8 --out OUT/cpu
    nasc compile examples/digits.nas --target jetson --precision int8 --out OUT/jetson
    nasc compile examples/digits.nas --passes fold-bn,fusee --out OUT/typo

Targets: both compiles exit 0 with the int8 artifact's test accuracy within 1 point of the
retrained fp32 model's; the cpu figure is the artifact's own (an ONNX Runtime session opened
here on its entry file, one test sample per call, classifies the test split to exactly the
reported accuracy); the Jetson artifact holds the aarch64 TVM library with sm_87 device code
(or CUDA source), `model.onnx` with QuantizeLinear/DequantizeLinear nodes and TensorRT's
`build_engine.sh`, its accuracy says it was measured on ONNX Runtime standing in, and its
latency says it was predicted and by which model; the mistyped pass exits 2 with a
did-you-mean in under 2 s of wall time, before any stage ran.  Writes
benchmarks/results/compile_product.json (stage seconds from each run's compile.json); exit 1
when a target is missed.  The unit tests check the same mechanics with shortened epochs.

    python benchmarks/compile_product.py [--out runs/compile_product]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import ROOT, Target, at_most, clocks, elapsed, result_path, verdict, write_json  # noqa: E402
from nasc_cli import run_nasc  # noqa: E402

DIGITS = str(ROOT / "examples" / "digits.nas")


def compile_run(out: Path, target: str) -> dict[str, Any]:
    """One product compile from an empty folder: its report, stage seconds and clocks."""
    shutil.rmtree(out, ignore_errors=True)
    t0 = clocks()
    run_nasc("compile", DIGITS, "--target", target, "--precision", "int8", "--out", str(out))
    wall, cpu = elapsed(t0, clocks())
    stages = json.loads((out / "compile.json").read_text())
    return {"command": f"nasc compile examples/digits.nas --target {target} --precision int8 --out OUT",
            "wall_s": wall, "cpu_s": cpu, "stage_seconds": {k: round(v["seconds"], 2) for k, v in stages.items()},
            "report": json.loads((out / "report.json").read_text())}


def recount_cpu(art: Path) -> float:
    """The test accuracy of the cpu artifact, counted here without compile's code."""
    import numpy as np
    import onnxruntime as ort

    from nasc import api
    from nasc.experiment import resolve, select
    from nasc.search.data import load_dataset

    cfg = resolve(select(api.load(DIGITS).module, None)[0])
    data = load_dataset(cfg["dataset"], cfg["split"], int(cfg["seed"]))
    manifest = json.loads((art / "manifest.json").read_text())
    sess = ort.InferenceSession(str(art / manifest["entry"]), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x, y = data.test.x.numpy(), data.test.y.numpy()
    return sum(int(np.argmax(sess.run(None, {name: x[i:i + 1]})[0])) == int(y[i]) for i in range(len(y))) / len(y)


def jetson_forms(art: Path) -> dict[str, Any]:
    """What the Jetson bundle holds, read from its files."""
    import onnx

    from nasc.backends.tvm.device_code import EM_AARCH64, inspect_file

    tvm = json.loads((art / "tvm" / "manifest.json").read_text())
    lib = inspect_file(art / "tvm" / tvm["entry"])
    ops = {n.op_type for n in onnx.load(str(art / "tensorrt" / "model.onnx")).graph.node}
    return {"tvm_entry": tvm["entry"], "tvm_precision": tvm["precision"],
            "aarch64": lib["host_elf_machines"] == [EM_AARCH64],
            "device_code": lib["fatbin"] or ("cuda source" if lib["cuda_source_embedded"] else None),
            "qdq": sorted(ops & {"QuantizeLinear", "DequantizeLinear"}),
            "build_engine_sh": (art / "tensorrt" / "build_engine.sh").is_file(),
            "top_manifest_files": len(json.loads((art / "manifest.json").read_text())["files"])}


def typo_run(out: Path) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nasc", "compile", DIGITS, "--passes", "fold-bn,fusee", "--out",
                           str(out)], capture_output=True, text=True)
    return {"exit": proc.returncode, "wall_s": time.perf_counter() - t0, "stderr": proc.stderr.strip(),
            "out_created": out.exists()}


def within(acc: dict[str, Any]) -> Target:
    return at_most(round((acc["fp32"] - acc["after_passes"]) * 100, 6), 1.0, "points below fp32")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "runs" / "compile_product"))
    ap.add_argument("--json", default=result_path("compile_product"))
    args = ap.parse_args()
    out = Path(args.out)
    typo = typo_run(out / "typo")
    cpu = compile_run(out / "cpu", "cpu")
    recount = recount_cpu(out / "cpu" / "artifact")
    jetson = compile_run(out / "jetson", "jetson")
    forms = jetson_forms(out / "jetson" / "artifact")
    doc = {"benchmark": "compile_product", "out": "OUT (--out)", "cpu": cpu, "cpu_recount": recount,
           "jetson": jetson, "jetson_forms": forms, "typo": typo}
    # the runs' own paths are this machine's; the JSON (targets included) names them by role
    doc = json.loads(json.dumps(doc).replace(str(out.resolve()), "OUT").replace(str(out), "OUT")
                     .replace(str(ROOT), "."))
    cpu, jetson, typo = doc["cpu"], doc["jetson"], doc["typo"]
    cacc, jacc, jlat = cpu["report"]["accuracy"], jetson["report"]["accuracy"], jetson["report"]["latency"]
    targets = {
        "cpu int8 accuracy within 1 point of fp32": within(cacc),
        "cpu int8 accuracy recounted on the artifact == report": Target(recount == cacc["after_passes"], recount,
                                                                         f"== {cacc['after_passes']}"),
        "jetson int8 accuracy within 1 point of fp32": within(jacc),
        "jetson accuracy measured on ONNX Runtime standing in": Target(
            "ONNX Runtime" in jacc["after_passes_source"] and "standing in for jetson-orin-nano"
            in jacc["after_passes_source"], jacc["after_passes_source"], "names ONNX Runtime standing in"),
        "jetson latency predicted with its model": Target(jlat["source"] == "predicted" and "roofline" in jlat["how"],
                                                           jlat["how"], "predicted, model named"),
        "jetson TVM library aarch64 with device code": Target(forms["aarch64"] and bool(forms["device_code"]),
                                                              forms["device_code"], "aarch64 ELF + device code"),
        "jetson model.onnx has Q/DQ, build_engine.sh present": Target(
            len(forms["qdq"]) == 2 and forms["build_engine_sh"], forms["qdq"], "both Q/DQ ops + script"),
        "mistyped pass: exit 2 with did-you-mean, nothing written": Target(
            typo["exit"] == 2 and "did you mean 'fuse'" in typo["stderr"] and not typo["out_created"],
            typo["exit"], "exit 2, did-you-mean"),
        "mistyped pass: wall time (s)": at_most(typo["wall_s"], 2.0, "s"),
    }
    write_json(doc, args.json, targets)
    print(f"cpu int8: fp32 {cacc['fp32']:.4f} -> int8 {cacc['after_passes']:.4f} (recount {recount:.4f}), "
          f"{cpu['wall_s']:.0f} s; jetson int8: fp32 {jacc['fp32']:.4f} -> {jacc['after_passes']:.4f}, "
          f"{jetson['wall_s']:.0f} s; typo exit {typo['exit']} in {typo['wall_s']:.2f} s")
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
