"""`nasc compile`: the whole pipeline -- search, retrain, build, measure -- with stage caching.

Each stage is keyed by the sha256 of everything it depends on (the elaborated
space and experiment for the search; the arch text and training settings for
retraining; arch, weights, target, backend and precision for the build).  A
stage whose key and outputs are already in ``DIR/compile.json`` is skipped, so
re-running after an edit redoes only what changed, and an interrupted search
resumes from its last checkpoint.  The report states where every latency figure
comes from: measured here (backend, protocol) or predicted (which model) when
the target is not this machine.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable, TextIO

from .api import Compiled
from .ir.archtext import space_hash


def _sha(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Stages:
    """compile.json: per stage, its key and outputs; saved after every stage."""

    def __init__(self, out: Path, log: TextIO | None) -> None:
        self.path = out / "compile.json"
        self.state: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.log = log

    def run(self, name: str, key: str, outputs: list[Path], fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        prev = self.state.get(name)
        if prev and prev.get("key") == key and all(p.exists() for p in outputs):
            if self.log:
                self.log.write(f"[{name}] cached ({key[:12]})\n")
            return prev["result"]
        if self.log:
            self.log.write(f"[{name}] running\n")
        t0 = time.perf_counter()
        result = fn()
        self.state[name] = {"key": key, "seconds": time.perf_counter() - t0, "result": result}
        self.path.write_text(json.dumps(self.state, indent=2, default=str) + "\n")
        return result


def compile_space(compiled: Compiled, cfg: dict[str, Any], out: Path, *, space_name: str | None = None,
                  target: str = "cpu", backend: str = "auto", precision: str = "fp32",
                  experiment_ref: str | None = None, log: TextIO | None = None) -> dict[str, Any]:
    from .search.run import search
    from .train import train

    out.mkdir(parents=True, exist_ok=True)
    stages = _Stages(out, log)
    space = compiled.elaborate(space_name)
    sdir, tdir, adir = out / "search", out / "train", out / "artifact"

    def do_search() -> dict[str, Any]:
        resume = (sdir / "checkpoint.pt").exists() and not (sdir / "arch.nas").exists()
        res = search(compiled, cfg, sdir, space.name, resume=resume, target=target, progress=log,
                     experiment_ref=experiment_ref)
        return {k: res.summary[k] for k in ("arch_sha256", "params", "macs", "decisions", "constraints")}

    search_inputs = {k: v for k, v in cfg.items() if k != "train"}  # retraining settings do not change the search
    stages.run("search", _sha(space_hash(space), search_inputs), [sdir / "arch.nas"], do_search)
    arch_file = sdir / "arch.nas"
    arch = _load_arch(compiled, arch_file)

    def do_train() -> dict[str, Any]:
        return train(arch, cfg, tdir).metrics

    trained = stages.run("train", _sha(_file_sha(arch_file), cfg["train"], cfg["dataset"], cfg["split"],
                                       cfg["seed"]), [tdir / "weights.safetensors"], do_train)

    def do_build() -> dict[str, Any]:
        from .deploy import build_arch

        art = build_arch(arch, arch_file, adir, target=target, backend=backend, weights=tdir / "weights.safetensors",
                         precision=precision, seed=int(cfg["seed"]))
        return {"backend": art.backend, "target": art.target, "precision": art.precision, "notes": list(art.notes)}

    built = stages.run("build", _sha(_file_sha(arch_file), _file_sha(tdir / "weights.safetensors"), target,
                                     backend, precision), [adir / "manifest.json"], do_build)
    latency = _latency(arch, adir, target)
    report = {"space": space.name, "target": target, "arch": str(arch_file), "test_accuracy":
              trained["test_accuracy"], "params": trained["params"], "macs": trained["macs"], "artifact": str(adir),
              "backend": built["backend"], "precision": built["precision"], "latency": latency}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _load_arch(compiled: Compiled, path: Path) -> Compiled:
    from . import api

    return api.load(path, compiled.loader)


def _latency(arch: Compiled, adir: Path, target: str) -> dict[str, Any]:
    """Measured when the artifact runs here; otherwise the target's prediction, labelled as such."""
    import nasc.backends as nb
    from nasc.backends import MeasureProtocol

    from .latency.model import prior_for

    if target == "cpu":
        rec = nb.measure(adir, MeasureProtocol(repeats=30))
        return {"median_ms": rec.median_ms, "p90_ms": rec.p90_ms, "source": rec.source, "how": rec.how,
                "backend": rec.backend, "repeats": rec.repeats}
    space = arch.elaborate()
    model = prior_for(target)
    graph = space.graph.prune()
    total = sum(float(model.node_latency(space.ops, graph, n)) for n in graph)
    return {"median_ms": total * 1e3, "source": "predicted", "how": f"{model.name} (no {target} attached; "
            f"measure on the device with `nasc measure {adir} --rpc HOST:PORT --device-key KEY`)"}
