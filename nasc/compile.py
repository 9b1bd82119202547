"""`nasc compile`: the whole pipeline -- search, retrain, optimize, build, measure -- with stage caching.

Each stage is keyed by the sha256 of everything it depends on (the elaborated
space and experiment for the search; the arch text and training settings for
retraining; arch, weights, pass pipeline, precision and data for the optimization passes
(:func:`nasc.passes.driver.optimize` into ``DIR/opt``); their output, target and backend
for the build; the artifact and the data for its test accuracy).  The artifact is built
from the passes' output, and its accuracy, measured by running it
(:mod:`nasc.compile_accuracy`), must stay within the experiment's ``accuracy_tolerance`` of
the retrained fp32 model's.  A
stage whose key and outputs are already in ``DIR/compile.json`` is skipped, so
re-running after an edit redoes only what changed, and an interrupted search
resumes from its last checkpoint.  The report states where every latency figure
comes from: measured here (backend, protocol) or predicted (which model) when
the target is not this machine.  A hard latency budget on a target nasc can measure (a
recorded device, or ``cpu``) is closed by the measured-latency loop
(:mod:`nasc.search.rounds`), and the report states the latency its architecture measured.
"""

from __future__ import annotations

import hashlib
import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, TextIO

from .api import Compiled, render_arch
from .fsio import write_json
from .weights import contents_sha256, load_weights
from .ir.notation import space_hash
from .stage_display import PlainStages, StageDisplay

if TYPE_CHECKING:
    from .search.rounds import LoopSettings


def _sha(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()


def _file_sha(path: Path) -> str:
    from nasc.backends.manifest import sha256_file  # the artifacts' own (streaming) file hash

    return sha256_file(path)


def _output_hashes(outputs: list[Path]) -> dict[str, str] | None:
    """sha256 of every output file (a directory stands for every file under it); None if one is missing."""
    hashes: dict[str, str] = {}
    for p in outputs:
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file())
            if not files:
                return None
            hashes.update({str(f): _file_sha(f) for f in files})
        elif p.is_file():
            hashes[str(p)] = _file_sha(p)
        else:
            return None
    return hashes


class _Stages:
    """compile.json: per stage, its key, its outputs' sha256 and its result; saved after every stage.

    A stage is cached only when its key matches *and* every output it left is still there with
    the same content: a deleted or edited ``weights.safetensors`` or ``model.so`` makes the
    stage run again (and says why) instead of being trusted and failing later.  Every stage
    says what it does on ``display`` (:mod:`nasc.stage_display`).
    """

    def __init__(self, out: Path, display: StageDisplay) -> None:
        self.path = out / "compile.json"
        self.state: dict[str, Any] = self._read()
        self.display = display

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (ValueError, OSError):
            return {}  # an unreadable record only costs a re-run
        return doc if isinstance(doc, dict) else {}

    def _stale(self, prev: dict[str, Any] | None, key: str, outputs: list[Path]) -> str | None:
        """Why the recorded stage cannot be reused, or None when it can."""
        if not prev or prev.get("key") != key:
            return "" if not prev else "its inputs changed"
        recorded = prev.get("outputs")
        if not isinstance(recorded, dict):
            return "no record of its outputs"
        missing = sorted(k for k in recorded if not Path(k).is_file())
        if missing:
            return f"{Path(missing[0]).name} is missing"
        now = _output_hashes(outputs)
        if now is None:
            return "an output is missing"
        changed = sorted(set(recorded) ^ set(now) | {k for k in now if recorded.get(k) != now[k]})
        return f"{Path(changed[0]).name} changed since it was written" if changed else None

    def run(self, name: str, key: str, outputs: list[Path], fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        prev = self.state.get(name)
        why = self._stale(prev, key, outputs)
        if why is None and prev is not None:
            self.display.stage(name, "cached", key[:12])
            return prev["result"]
        t0 = time.perf_counter()
        with self.step(name, why or ""):
            result = fn()
            hashes = _output_hashes(outputs)
            if hashes is None:
                raise RuntimeError(f"stage {name} finished without writing {', '.join(map(str, outputs))}")
            self.state[name] = {"key": key, "seconds": time.perf_counter() - t0, "outputs": hashes, "result": result}
            write_json(self.path, self.state)
        return result

    @contextmanager
    def step(self, name: str, why: str = "") -> Iterator[None]:
        """Show ``name`` running, then done with its time, or failed: a cached stage that runs,
        or a step that runs every time (measuring the artifact, writing the report)."""
        t0 = time.perf_counter()
        self.display.stage(name, "running", why)
        try:
            yield
        except BaseException:
            self.display.stage(name, "failed")
            raise
        self.display.stage(name, "done", f"{time.perf_counter() - t0:.1f}s")


def compile_space(compiled: Compiled, cfg: dict[str, Any], out: Path, *, space_name: str | None = None,
                  target: str = "cpu", backend: str = "auto", precision: str = "fp32", passes: str | None = None,
                  experiment_ref: str | None = None, log: TextIO | None = None,
                  loop: "LoopSettings | None" = None, display: StageDisplay | None = None,
                  target_note: str | None = None, record_latency: bool = False) -> dict[str, Any]:
    """The pipeline into ``out``; ``passes`` is the optimization pipeline (None: the default for
    ``precision`` and ``target``, :mod:`nasc.compile_passes`); ``loop`` drives the
    measured-latency loop (default: 3 rounds, measured here, the store
    :func:`~nasc.latency.store.store_path` names).  Progress goes to ``display`` (the caller
    owns and closes it: a live view on a terminal), else as plain lines to ``log``;
    ``target_note`` says which board an alias of ``target`` stood for, for the report;
    ``record_latency`` also puts the artifact's measured latency in the latency store (an arch
    record, so ``nasc latency report`` sees every compiled arch of a ``nasc sweep``)."""
    from .compile_passes import check_pipeline
    from .latency.kernel_source import measured_threads
    from .latency.resolve import DEFAULT_BACKEND
    from .latency.store import store_path
    from .report import RunFacts, write_report
    from .search.rounds import LoopSettings, looped_budget, search_with_rounds
    from .search.run import search_settings
    from .train import train

    pipeline = check_pipeline(passes, precision, target)  # before any stage: a typo costs no search
    out.mkdir(parents=True, exist_ok=True)
    stages = _Stages(out, display if display is not None else PlainStages(log))
    space = compiled.elaborate(space_name)
    sdir, tdir, odir, adir = out / "search", out / "train", out / "opt", out / "artifact"

    settings = loop if loop is not None else LoopSettings(3, store_path(None))
    store = settings.store

    def do_search() -> dict[str, Any]:
        if not space.free:  # an arch (or a space with every decision pinned): nothing to search
            return _given_arch(compiled, space, sdir, experiment_ref)
        # resumes what sdir holds of this very search (a checkpoint or rounds of another are not)
        res = search_with_rounds(compiled, cfg, sdir, settings, space_name=space.name,
                                 resume=None, target=target, progress=stages.display.lines,
                                 experiment_ref=experiment_ref)
        return {k: res.summary[k] for k in ("arch_sha256", "params", "macs", "decisions", "constraints",
                                            "measured_latency") if k in res.summary}

    # neither retraining nor the accuracy check changes the search
    search_inputs = search_settings(cfg)
    search_inputs["constraints"] = [c.describe() for c in space.constraints]  # the space hash leaves them out
    if settings.rounds and looped_budget(space, remote=settings.device_key is not None) is not None:
        search_inputs["rounds"] = settings.rounds
        if settings.device_key is not None:  # measured on another device: another search
            search_inputs["device"] = settings.device_key
        elif settings.threads != measured_threads():  # another configuration of this host
            search_inputs["threads"] = settings.threads
    if settings.backend != DEFAULT_BACKEND:  # latencies of another backend's builds, predicted and measured
        search_inputs["latency_backend"] = settings.backend
    searched = stages.run("search", _sha(space_hash(space), search_inputs), [sdir / "arch.nas"], do_search)
    arch_file = sdir / "arch.nas"
    arch = _load_arch(compiled, arch_file)

    def do_train() -> dict[str, Any]:
        return train(arch, cfg, tdir, progress=stages.display.lines).metrics

    trained = stages.run("train", _sha(_file_sha(arch_file), cfg["train"], cfg["dataset"], cfg["split"],
                                       cfg["seed"]), [tdir / "weights.safetensors"], do_train)

    data_key = (cfg["dataset"], cfg["split"], cfg["seed"])

    def do_opt() -> dict[str, Any]:
        import shutil

        from .passes.driver import optimize

        shutil.rmtree(odir, ignore_errors=True)  # no file of an earlier pipeline may stay behind
        doc = optimize(arch_file, tdir / "weights.safetensors", pipeline, odir, config=(cfg, experiment_ref),
                       loader=compiled.loader).doc
        return {k: doc[k] for k in ("pipeline", "precision", "quantization", "accuracy_after_torch") if k in doc}

    # keyed by the weights' contents, not their file bytes (safetensors may order its header
    # differently on every write): a deterministic retraining keeps the later stages
    weights_sha = contents_sha256(load_weights(tdir / "weights.safetensors"))[0]
    opt_key = _sha(_file_sha(arch_file), weights_sha, pipeline, precision, data_key)
    stages.run("opt", opt_key, [odir / "ir.json", odir / "weights.safetensors", odir / "model.onnx"], do_opt)

    def do_build() -> dict[str, Any]:
        from nasc.backends.manifest import bundle_manifest

        from .deploy import build_optimized

        art = build_optimized(odir, adir, target=target, backend=backend, seed=int(cfg["seed"]),
                              tune_device_key=settings.device_key)  # measured on a device: built for it
        bundle = bundle_manifest(adir)  # a GPU target's forms (the backend above is the primary one)
        return {"backend": art.backend, "target": art.target, "precision": precision, "notes": list(art.notes),
                **({"forms": bundle["forms"]} if bundle else {}),
                **({"tuning": art.details["tuning_summary"]} if "tuning_summary" in art.details else {})}

    device = (settings.device_key,) if settings.device_key else ()  # its database, not this host's
    built = stages.run("build", _sha(opt_key, target, backend, precision, *device, *_tuning_state(backend)),
                       [adir], do_build)

    def do_accuracy() -> dict[str, Any]:
        from .compile_accuracy import artifact_accuracy

        return artifact_accuracy(adir, target, cfg, odir)

    measured = stages.run("accuracy", _sha(_output_hashes([adir]), opt_key, target, data_key), [], do_accuracy)
    from .compile_accuracy import accuracy_after_each_pass, accuracy_report

    accuracy = accuracy_report(trained, measured, float(cfg["accuracy_tolerance"]), pipeline, lambda:
                               accuracy_after_each_pass(arch_file, tdir / "weights.safetensors", pipeline,
                                                        (cfg, experiment_ref), compiled.loader))
    with stages.step("latency"):
        latency = _latency(arch, adir, target, store, settings.threads, store if record_latency else None)
    report = {"space": space.name, "target": target, "arch": str(arch_file), "test_accuracy":
              trained["test_accuracy"], "params": trained["params"], "macs": trained["macs"], "artifact": str(adir),
              "backend": built["backend"], "precision": built["precision"], "passes": pipeline,
              "accuracy": accuracy, "latency": latency}
    if "forms" in built:
        report["forms"] = built["forms"]
    if "tuning" in built:  # a TVM cpu build: how much of it the MetaSchedule database covered
        report["tuning"] = built["tuning"]
    if "measured_latency" in searched:  # the budget the loop closed, measured on its own target
        report["latency_budget"] = searched["measured_latency"]
    with stages.step("report"):
        return write_report(out, report, RunFacts(space, arch, cfg, target, store, target_note))


def _tuning_state(backend: str) -> tuple[str, ...]:
    """The state of the TVM tuning databases a TVM build applies (none when no database was
    ever tuned): part of the build stage's key, so tuning the space redoes the build."""
    if backend not in ("tvm", "auto"):
        return ()
    from nasc.backends.common import cache_root
    from nasc.backends.tvm.tuning import databases_state

    state = databases_state(cache_root(None))
    return (state,) if state else ()


def _given_arch(compiled: Compiled, space: Any, sdir: Path, experiment_ref: str | None) -> dict[str, Any]:
    """The search stage of a decided input (``nasc freeze``'s output, or a space with every
    decision pinned): its canonical text becomes ``search/arch.nas`` as it is, so retraining,
    passes, build and measurement run exactly as they do on a searched arch -- the way
    ``nasc sweep``'s baselines compile sampled architectures."""
    from .fsio import atomic_write
    from .ir.cost import arch_cost

    sdir.mkdir(parents=True, exist_ok=True)
    frozen = render_arch(compiled, space, compiled.elaborate(space.name),
                         f"compiled as given from {compiled.module.name} :: {space.name} (nothing to search)",
                         space.name, sdir, experiment_ref=experiment_ref)
    atomic_write(sdir / "arch.nas", frozen.text)
    atomic_write(sdir / "pinned.nas", frozen.pinned)
    cost = arch_cost(frozen.arch.graph, compiled.loader.ops)
    return {"arch_sha256": hashlib.sha256(frozen.text.encode()).hexdigest(), "params": cost.params,
            "macs": cost.macs, "decisions": {}, "constraints": []}


def _load_arch(compiled: Compiled, path: Path) -> Compiled:
    from . import api

    return api.load(path, compiled.loader)


def _latency(arch: Compiled, adir: Path, target: str, store: Path, threads: int,
             record_in: Path | None = None) -> dict[str, Any]:
    """Measured when the artifact runs here, on ``threads`` threads (and, with ``record_in``,
    stored there as an arch record); otherwise the target's prediction, labelled as such."""
    import nasc.backends as nb
    from nasc.backends import MeasureProtocol

    from .latency.model import network_latency, prediction_label
    from .latency.resolve import LatencyModels

    space = arch.elaborate()
    if target == "cpu":
        proto = MeasureProtocol(repeats=30, threads=threads)
        rec = nb.measure(adir, proto)
        doc = {"median_ms": rec.median_ms, "p90_ms": rec.p90_ms, "source": rec.source, "how": rec.how,
               "backend": rec.backend, "repeats": rec.repeats, "threads": threads}
        if record_in is not None:
            _record(arch, space, target, rec, proto, record_in, adir)
            doc["stored_in"] = str(record_in)
        return doc
    model = LatencyModels(space, store, threads=threads)(target)
    total = network_latency(model, space)
    return {"median_ms": total * 1e3, "source": "predicted", "how": f"{prediction_label(model)}, no {target} attached; "
            f"measure on the device with `nasc measure {adir} --rpc HOST:PORT --device-key KEY`"}


def _record(arch: Compiled, space: Any, target: str, rec: Any, proto: Any, store: Path, adir: Path) -> None:
    """Store a measured latency of the artifact as a record of its arch (the key, text and
    facts the measuring loop stores an arch with, :mod:`nasc.latency.sources`)."""
    from nasc.backends.manifest import load_artifact

    from .latency.sources import decided_arch, measured_record, store_arch_record
    from .latency.store import LatencyStore

    decided = decided_arch(arch, space, {})
    batch = int(rec.protocol.get("batch") or 1)
    with LatencyStore(store) as db:
        store_arch_record(db, decided, measured_record(decided.key, target, rec, proto, batch,
                                                       load_artifact(adir).details.get("tuning")))
