"""``nasc profile``: measure every kernel a search space can produce, into the latency store.

The measured-latency loop starts here: a search space's kernels are enumerated exactly
(:mod:`nasc.latency.space_kernels`), each is built alone as a micro-model
(:mod:`nasc.latency.micro`) by the requested backend at the requested precision and timed
with ``nasc measure``'s protocol (:func:`nasc.backends.measure`, ``--isolate`` for a fresh
process per measurement), and each latency is committed to the store as soon as it exists
-- kind ``kernel``, key the signature key, the signature text with it, source
``measured``.  A killed run loses at most the kernel it was measuring: the next run skips
every kernel this host has already stored for the same target, backend and precision
(this host's: a table imported from another machine says nothing about this CPU).

``archs`` more architectures of the space, drawn at random from a seed, are measured
whole and stored as kind ``arch`` under their :func:`~nasc.latency.arch_kernels.arch_key`
(with their canonical text): what a predictor's fitted terms are compared against.

Where the kernels run: ``cpu`` is this machine; any other buildable target (a Jetson
board, a CUDA GPU) is profiled on a device behind a TVM RPC tracker (``--rpc HOST:PORT
--device-key KEY``): each micro-model is built here with TVM for the target and timed there,
and the records carry source ``rpc`` and host ``rpc:KEY``, so a device's table is fitted on
and skipped by that device only (:func:`nasc.latency.resolve.latency_model_for`).

``tune_trials`` > 0 (``--tune``, TVM on a cpu target) first tunes the TVM tasks of the kernels
to measure into the target's MetaSchedule database, :data:`TUNE_CHUNK` kernels' micro-models per
MetaSchedule run (tasks shared between kernels tuned once), then builds and times each kernel
as above, its tasks found tuned (:mod:`nasc.latency.tuned`):
the records then carry the backend label ``tvm-tuned``, and a rerun skips every kernel
already stored under it -- its tasks are in the database, which every later TVM build of
the target applies.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import NascError, UsageError, did_you_mean
from ..progress import Progress
from .beside import check_beside, timed
from .records import StoredLatency, TimingProtocol
from .store import LatencyStore

ESTIMATE_AFTER = 3
"""Kernels timed, after the first, before the time for the rest is estimated (the first
build also pays for importing the backend, so it is left out of the estimate)."""


TUNE_CHUNK = 8
"""Kernels per MetaSchedule run of ``--tune``: MetaSchedule starts its pools once per run (about
10 s here), so a run per kernel would spend minutes starting pools; a run of the whole space
would lose hours of tuning to one kill, since the ledger is written when a run ends."""


class ProfileError(NascError):
    """A profile that cannot run here (target, backend or precision)."""


@dataclass(frozen=True)
class ProfileSettings:
    """What to measure and how; ``protocol`` is a :class:`nasc.backends.MeasureProtocol`."""

    target: str
    backend: str
    precision: str
    protocol: Any
    archs: int = 0
    seed: int = 0
    arch_rounds: int = 1  # fresh-process measurements of each architecture, in interleaved rounds
    kernel_rounds: int = 1  # measurements of each kernel, in interleaved rounds
    tune_trials: int = 0  # MetaSchedule trials per TVM task (0: build untuned)
    beside_reference: bool = False  # each measurement one process timing it beside nasc's reference workload

    @property
    def beside(self) -> str:
        """``protocol.beside`` of the records: the reference's label, or "" (timed alone)."""
        from ..bench.reference import beside_label

        return beside_label() if self.beside_reference else ""

    def build_options(self, weights: str = "", output_names: Sequence[str] = (), kernel_plan: Any = None) -> Any:
        """The :class:`nasc.backends.BuildOptions` of every build (and tuning run) of the profile.

        An untuned profile builds untuned whatever the database holds: its records are labelled
        ``tvm``; a tuned one tunes through the protocol's tracker when it has one."""
        from nasc.backends import BuildOptions

        tune = bool(self.tune_trials)
        return BuildOptions(precision=self.precision, seed=self.seed, weights=weights,
                            output_names=tuple(output_names), kernel_plan=kernel_plan,
                            tuning_database=tune, tune_trials=self.tune_trials,
                            tune_rpc=self.protocol.rpc if tune else None,
                            tune_device_key=self.protocol.device_key if tune else None)

    @property
    def label(self) -> str:
        """The backend the records are stored under (``tvm-tuned`` when tuning)."""
        from .tuned import store_backend

        return store_backend(self.backend, self.tune_trials)


@dataclass
class ProfileReport:
    """What a run found and did (``nasc profile`` prints it; tests read it)."""

    space: str
    kernels: int
    enumeration_s: float
    already: int
    measured: int = 0
    archs_measured: int = 0
    archs_already: int = 0
    seconds: float = 0.0
    keys: list[str] = field(default_factory=list)
    tuning: Any = None  # a TuningTally when tuning


def check_settings(target: str, backend: str, precision: str, remote: bool = False, tune: bool = False) -> Any:
    """The target, once it is known to be measurable with this backend and precision -- here,
    or on a device behind a TVM RPC tracker when ``remote`` -- and tunable when ``tune``
    (checked before the space is even read: a typo costs nothing)."""
    from ..backends import get_backend
    from ..backends.registry import backend_names
    from ..backends.targets import check_build_request

    if backend == "auto":
        raise UsageError("nasc profile fills the table of one backend; name it with --backend "
                         f"({', '.join(n for n in backend_names() if n != 'auto')})")
    tgt = check_build_request(target, backend, precision)
    if remote and backend != "tvm":
        raise UsageError(f"a device behind a TVM RPC tracker runs TVM builds: profile it with --backend tvm, "
                         f"not {backend}")
    if tune and (backend != "tvm" or tgt.kind != "cpu"):
        raise UsageError(f"--tune tunes TVM's kernels with MetaSchedule for the cpu target (here, or a CPU behind "
                         f"--rpc); not {backend} for {tgt.name}")
    if not remote and tgt.kind != "cpu":
        raise ProfileError(f"target '{tgt.name}' cannot be profiled from this machine: only the cpu target runs "
                           "here; profile the device through a TVM RPC tracker with --rpc HOST:PORT --device-key KEY")
    impl = get_backend(backend)
    ok, why = impl.available(tgt)
    if not ok:
        raise ProfileError(f"backend '{backend}' is not available for target '{tgt.name}': {why}")
    if precision not in impl.precisions:
        raise UsageError(f"backend '{backend}' builds {', '.join(impl.precisions)}, not {precision}"
                         f"{did_you_mean(precision, impl.precisions)}")
    return tgt


def timing_protocol(protocol: Any, batch: int = 1, beside: str = "") -> TimingProtocol:
    return TimingProtocol(warmup=protocol.warmup, repeats=protocol.repeats, batch=batch, threads=protocol.threads,
                          number=protocol.number, beside=beside)


@dataclass
class _Measurer:
    """Builds a torch module with one backend into a scratch folder and times it."""

    settings: ProfileSettings
    target: Any
    host: str
    scratch: Path
    tally: Any = None  # a TuningTally: what each tuned build did

    def build(self, key: str, module: Any, inputs: dict[str, Any], output_names: Sequence[str],
              weights: str, kernel_plan: Any = None) -> Path:
        """``module`` built with the backend into ``scratch/key``: the artifact's folder
        (``kernel_plan``: a whole arch's, so TVM runs the kernels the profile measured)."""
        import nasc.backends as nb

        s = self.settings
        artifact = nb.build(module, inputs, out_dir=self.scratch / key, target=self.target, backend=s.backend,
                            options=s.build_options(weights, output_names, kernel_plan))
        if self.tally is not None:
            self.tally.add(artifact.details.get("tuning"))
        return Path(artifact.dir)

    def time(self, kind: str, key: str, text: str, artifact: Path) -> StoredLatency:
        """One measurement of a built artifact, as the store keeps it (beside the reference
        workload when the settings say so)."""
        s = self.settings
        got = timed(artifact, s.protocol, self.scratch / "reference" if s.beside_reference else None)
        record = got.record
        return StoredLatency(kind=kind, target=s.target, backend=s.label, precision=s.precision,  # type: ignore[arg-type]
                             key=key, median_ms=record.median_ms, p90_ms=max(record.p90_ms, record.median_ms),
                             protocol=timing_protocol(s.protocol, beside=got.beside), versions=record.versions,
                             source="rpc" if s.protocol.rpc else "measured", host=self.host, signature=text,
                             reference_ms=got.paired.get("reference_ms"),
                             over_reference=got.paired.get("over_reference"))


def profile_space(compiled: Any, space_name: str | None, settings: ProfileSettings, store: LatencyStore,
                  progress: Progress, say: Callable[[str], None]) -> ProfileReport:
    """Enumerate, then measure what the store lacks, committing each latency as it comes."""
    from ..backends.procs import owned_tempdir
    from .host import host_fingerprint, rpc_host
    from .space_kernels import space_kernels

    t0 = time.perf_counter()
    remote = bool(settings.protocol.rpc)
    target = check_settings(settings.target, settings.backend, settings.precision, remote, settings.tune_trials > 0)
    if settings.beside_reference:
        check_beside(settings.backend, settings.protocol.threads, remote)
    space = compiled.elaborate(space_name)
    lib = compiled.loader.ops
    t_enum = time.perf_counter()
    found = space_kernels(space, lib, settings.precision, settings.target)
    enum_s = time.perf_counter() - t_enum
    host = rpc_host(settings.protocol.device_key or "") if remote else host_fingerprint()
    stored = store.key_counts("kernel", settings.target, settings.label, settings.precision, host=host,
                              threads=settings.protocol.threads, beside=settings.beside)
    todo = [k for k in found.kernels if stored.get(k.key, 0) < settings.kernel_rounds]
    report = ProfileReport(space.name, len(found.kernels), enum_s, len(found.kernels) - len(todo),
                           keys=[k.key for k in found.kernels])
    where = f"the device {host}" if remote else "this host"
    verb = f"to tune ({settings.tune_trials} trials per TVM task) and measure" if settings.tune_trials \
        else "to measure"
    say(f"{space.name}: {len(found.kernels):,} distinct kernels at {settings.precision} "
        f"(enumerated in {enum_s:.2f} s); {report.already:,} already in {store.path} for {settings.target}/"
        f"{settings.label}/{settings.precision} on {where} at {settings.protocol.threads} thread(s), "
        f"{len(todo):,} {verb}")
    if settings.tune_trials:
        from .tuned import TuningTally

        report.tuning = TuningTally(settings.tune_trials)
    with owned_tempdir("profile") as scratch:
        measure = _Measurer(settings, target, host, scratch, report.tuning)
        if report.tuning is not None:
            _tune_kernels(todo, lib, settings, target, report.tuning, progress)
        _measure_kernels({k: settings.kernel_rounds - stored.get(k.key, 0) for k in todo}, lib, measure, store,
                         progress, settings)
        report.measured = len(todo)
        if settings.archs:
            report.archs_measured, report.archs_already = _measure_archs(compiled, space, measure, store, progress,
                                                                         settings, host)
    report.seconds = time.perf_counter() - t0
    return report


def _tune_kernels(todo: Sequence[Any], lib: Any, settings: ProfileSettings, target: Any, tally: Any,
                  progress: Progress) -> None:
    """Tune the TVM tasks of the kernels to measure, :data:`TUNE_CHUNK` kernels per MetaSchedule
    run, before any is built: each kernel's build then finds its tasks tuned and only applies
    the database.  A killed profile keeps the runs that finished (the database's ledger)."""
    import nasc.backends as nb

    from .micro import micro_model

    chunks = [todo[i:i + TUNE_CHUNK] for i in range(0, len(todo), TUNE_CHUNK)]
    if not chunks:
        return
    progress.start(len(chunks), f"tuning runs ({settings.tune_trials} trials per TVM task, up to {TUNE_CHUNK} "
                                "kernels each)")
    options = settings.build_options()
    tuning: list[float] = []  # seconds of the runs that tuned something
    for i, chunk in enumerate(chunks, 1):
        t0 = time.perf_counter()
        micros = [micro_model(k.signature, lib, seed=settings.seed) for k in chunk]
        run = nb.tune_kernels([(m.module, m.example_inputs) for m in micros], target=target, backend=settings.backend,
                              options=options)
        tally.add_run(run)
        progress.advance(f"{len(chunk)} kernels: {run['tasks']} distinct TVM tasks, {run['tasks_tuned_now']} tuned "
                         f"now, {run['tasks_from_database']} tuned before ({run['tuning_seconds']:.0f} s)")
        if run["tasks_tuned_now"]:
            tuning.append(time.perf_counter() - t0)
            if i < len(chunks):
                progress.note(tuning_eta(tuning, len(chunks) - i))


def tuning_eta(tuned: Sequence[float], left: int) -> str:
    """The time the ``left`` tuning runs still to come may take, from the runs so far that tuned
    something.  A resumed profile skips through the runs a killed one finished in a second or
    two each: counting those would promise minutes for hours of tuning.  A run still to come
    that finds its tasks tuned takes seconds, so the figure errs long when resuming."""
    each = sum(tuned) / len(tuned)
    return (f"about {_duration(each * left)} for the other {left} tuning run(s) ({each:.0f} s per run "
            f"that tuned, over {len(tuned)} so far)")


def _measure_kernels(needed: Mapping[Any, int], lib: Any, measure: _Measurer, store: LatencyStore,
                     progress: Progress, settings: ProfileSettings) -> None:
    """Time each kernel of ``needed`` as often as it says, in interleaved rounds (:mod:`nasc.interleave`:
    a slow stretch of the host hits one round of many kernels, not every round of a few),
    each built once and its artifact dropped after its last measurement (thousands of
    kernels: with one round, one artifact at a time)."""
    from .micro import micro_model
    from ..interleave import interleaved

    order = interleaved(needed)
    if not order:
        return
    rounds = max(needed.values())
    progress.start(len(order), f"kernels {settings.label} {settings.precision}"
                               + (f" ({rounds} rounds)" if rounds > 1 else ""))
    seconds: list[float] = []
    built: dict[str, Path] = {}
    left = dict(needed)
    for i, k in enumerate(order, 1):
        t0 = time.perf_counter()
        if k.key not in built:
            micro = micro_model(k.signature, lib, seed=settings.seed)
            built[k.key] = measure.build(k.key, micro.module, micro.example_inputs, micro.output_names,
                                         f"seeded random (seed {settings.seed}): a micro-model of one kernel")
        rec = measure.time("kernel", k.key, k.signature, built[k.key])
        store.put([rec])
        left[k] -= 1
        if not left[k]:
            shutil.rmtree(built[k.key], ignore_errors=True)
        seconds.append(time.perf_counter() - t0)
        progress.advance(f"{k.key} {k.rule:15s} {rec.median_ms:.4f} ms")
        if i == ESTIMATE_AFTER + 1 and i < len(needed):
            each = sum(seconds[1:]) / ESTIMATE_AFTER
            work = "tune, build and measure" if settings.tune_trials else "build and measure"
            progress.note(f"about {_duration(each * (len(needed) - i))} for the other {len(needed) - i:,} kernels "
                          f"({each:.2f} s each: {work})" + (", then timing them again" if rounds > 1 else ""))


def _measure_archs(compiled: Any, space: Any, measure: _Measurer, store: LatencyStore, progress: Progress,
                   settings: ProfileSettings, host: str) -> tuple[int, int]:
    """Measure ``settings.archs`` architectures drawn with seeds ``seed, seed+1, ...`` (distinct
    ones: a space with fewer architectures gives fewer), each ``settings.arch_rounds`` times in
    interleaved rounds (:mod:`nasc.interleave`; built once, a fresh process per measurement, the model
    takes their median); returns (architectures measured now, already stored in full)."""
    import torch

    from .. import api
    from ..lower.inputs import example_inputs
    from .kernel_plan import arch_plan
    from ..lower.arch import ArchNet
    from .arch_kernels import arch_key, canonical_arch_text
    from .model import network_latency, prior_for
    from .resolve import roofline_fact
    from ..interleave import interleaved

    lib = compiled.loader.ops
    prior = prior_for(settings.target)
    have = store.key_counts("arch", settings.target, settings.label, settings.precision, host=host,
                            threads=settings.protocol.threads, beside=settings.beside)
    drawn: dict[str, tuple[str, Any]] = {}
    for i in range(max(settings.archs * 20, 100)):  # draws repeat in tiny spaces: stop trying eventually
        if len(drawn) == settings.archs:
            break
        pins = api.pins_from_assignment(api.random_assignment(space, settings.seed + i))
        arch = compiled.elaborate(space.name, pins)
        text = canonical_arch_text(arch, lib)
        drawn.setdefault(arch_key(text), (text, arch))
    needed = {key: settings.arch_rounds - have.get(key, 0) for key in drawn if have.get(key, 0) < settings.arch_rounds}
    order = interleaved(needed)
    if order:
        progress.start(len(order), f"archs {settings.label} {settings.precision}"
                                   + (f" ({settings.arch_rounds} rounds)" if settings.arch_rounds > 1 else ""))
    built: dict[str, Path] = {}
    for key in order:
        text, arch = drawn[key]
        if key not in built:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(settings.seed)
                net = ArchNet(arch.graph.prune(), lib).eval()
            built[key] = measure.build(key, net, example_inputs(net, 1, settings.seed), net.output_names,
                                       f"random initialization (seed {settings.seed})",
                                       arch_plan(arch.graph.prune(), lib, net, settings.precision, 1, settings.seed))
            store.describe_arch(key, text, {roofline_fact(prior.name): network_latency(prior, arch)})  # as the loop does
        rec = measure.time("arch", key, text, built[key])
        store.put([rec])
        progress.advance(f"arch {key[:16]} {rec.median_ms:.4f} ms")
    return len(needed), len(drawn) - len(needed)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["ESTIMATE_AFTER", "TUNE_CHUNK", "ProfileError", "ProfileReport", "ProfileSettings", "check_settings",
           "profile_space", "timing_protocol"]
