"""Measuring one architecture on a target, whatever "measuring" means there, into the store.

One interface, :func:`measure_arch`, for the two kinds of target a measuring loop can close:

* a **recorded** device (``recorded-raspi4``, ...): the architecture's latency is read from
  the shipped NAS-Bench-201 table, so it must be an NB201 architecture -- the benchmark's
  cell decisions *and* its network (C = 16, N = 5, 3 x 32 x 32 input, 10 classes), which is
  checked by its exact parameter and MAC counts against the benchmark's; anything else is a
  user error (exit 2).  Stored with source ``recorded``, the device as host and the table
  and column as versions.
* ``cpu``, this machine: the architecture is built with a backend (ONNX Runtime unless told
  otherwise), seeded random weights (latency does not depend on their values), and timed by
  :func:`nasc.backends.measure` in a fresh process (``MeasureProtocol(isolate=True)``).
  Stored with source ``measured``, this host's fingerprint and the libraries' versions.

Either way the record's key is :func:`arch_key`, the sha256 of the architecture's canonical
``.nas`` text, and the store keeps that text with the facts a refit needs (its NB201 string,
its roofline prediction), see :meth:`LatencyStore.describe_arch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import NascError
from ..targets import NB201_LATENCY, TargetSpec, resolve_target
from .arch_kernels import arch_key, canonical_arch_text
from .host import rpc_host
from .model import network_latency, prior_for
from .records import StoredLatency, TimingProtocol
from .resolve import DEFAULT_BACKEND, NB201_FACT, roofline_fact
from .store import LatencyStore

if TYPE_CHECKING:
    from nasc.backends import LatencyRecord, MeasureProtocol

    from ..api import Compiled
    from ..ir.space import SearchSpace

RECORDED_BACKEND = "nb201-table"
"""The ``backend`` of a recorded record: the table answered, nothing was built."""
TABLE_READING = TimingProtocol(warmup=0, repeats=1, batch=1, threads=1, number=1)
"""A recorded latency is one reading of the table (how the table's authors timed it is in
``nasc/data/nb201/README.md``)."""
NB201_NETWORK = "NAS-Bench-201's network (C = 16, N = 5 cells per stage, 3 x 32 x 32 input, 10 classes)"


class NotMeasurable(NascError):
    """An architecture the target cannot measure (a recorded device and a non-NB201 arch)."""


@dataclass(frozen=True)
class DecidedArch:
    """One architecture of a space, as a measuring loop handles it: the assignment that
    picked it, its decided elaboration, its canonical text and the key derived from it."""

    compiled: "Compiled"
    space: "SearchSpace"
    assignment: dict[str, int]
    arch: "SearchSpace"
    text: str
    key: str
    nb201: str | None


def decided_arch(compiled: "Compiled", space: "SearchSpace", assignment: dict[str, int]) -> DecidedArch:
    """The architecture ``assignment`` picks in ``space`` (a space of ``compiled``)."""
    from ..api import pins_from_assignment
    from ..ir.notation import nb201_string

    arch = compiled.elaborate(space.name, pins_from_assignment(assignment))
    arch.graph = arch.graph.prune()
    text = canonical_arch_text(arch, arch.ops)
    return DecidedArch(compiled, space, dict(assignment), arch, text, arch_key(text), nb201_string(space, assignment))


@dataclass(frozen=True)
class ArchMeasurement:
    """What :func:`measure_arch` found: the latency (ms), its source (``recorded`` or
    ``measured``), how (table and column, or backend and protocol) and the stored record."""

    key: str
    median_ms: float
    source: str
    how: str
    record: StoredLatency


def measure_arch(arch: DecidedArch, target: str, store: LatencyStore, *, workdir: Path,
                 backend: str = DEFAULT_BACKEND, protocol: "MeasureProtocol | None" = None,
                 beside_reference: bool = False) -> ArchMeasurement:
    """Measure ``arch`` on ``target`` (recorded or ``cpu``) and store the result (module
    docstring).  ``workdir`` receives the artifact a local measurement builds; with
    ``beside_reference`` it is timed beside nasc's reference workload in one process
    (:func:`.beside.timed`), and the record holds its ratio to it too."""
    spec = resolve_target(target)
    if protocol is not None and protocol.rpc:
        result = _built_and_measured(arch, spec, workdir, "tvm", protocol)
    elif spec.kind == "recorded":
        result = _from_table(arch, spec)
    elif spec.kind == "cpu":
        result = _built_and_measured(arch, spec, workdir, backend, protocol, beside_reference)
    else:
        raise NascError(f"nasc measures an architecture on a recorded device, on cpu (this machine) or through a "
                        f"TVM RPC tracker, and '{spec.name}' is not attached here: give --rpc HOST:PORT and "
                        "--device-key KEY of a tracker that serves it")
    store_arch_record(store, arch, result.record)
    return result


def store_arch_record(store: LatencyStore, arch: DecidedArch, record: StoredLatency) -> None:
    """Put ``record`` (a latency of ``arch``) in ``store`` with the facts a refit needs about
    the arch (its text, roofline prediction, NAS-Bench-201 string): whoever measured it --
    the measuring loop or ``nasc compile --record-latency`` -- stores it the same way."""
    prior = prior_for(record.target)
    facts: dict[str, Any] = {roofline_fact(prior.name): network_latency(prior, arch.arch)}
    if arch.nb201:
        facts[NB201_FACT] = arch.nb201
    store.put([record])
    store.describe_arch(arch.key, arch.text, facts)


def measured_record(key: str, target: str, rec: "LatencyRecord", proto: "MeasureProtocol",
                    batch: int, tuning: Mapping[str, Any] | str | None = None, beside: str = "",
                    paired: Mapping[str, float] | None = None) -> StoredLatency:
    """The store's record of one :func:`nasc.backends.measure` result ``rec`` of an arch with
    key ``key``, timed with ``proto`` (here, or on the device behind its RPC tracker: then
    the source is ``rpc`` and the host the device's key).  ``tuning`` is the artifact's
    tuning report: a build that applied a tuning database is stored as ``tvm-tuned``
    (:func:`.tuned.built_backend`).  ``beside`` and ``paired``: the reference it was timed
    beside, and the record's ``reference_ms`` and ``over_reference``."""
    from .tuned import built_backend

    timing = TimingProtocol(warmup=proto.warmup, repeats=rec.repeats, batch=batch, threads=proto.threads,
                            number=proto.number, beside=beside)
    remote = bool(proto.rpc)
    pair = paired or {}
    return StoredLatency(kind="arch", target=target, backend=built_backend(rec.backend, tuning),
                         precision=rec.precision, key=key,
                         median_ms=rec.median_ms, p90_ms=max(rec.p90_ms, rec.median_ms), protocol=timing,
                         versions=dict(rec.versions), source="rpc" if remote else "measured",
                         **({"host": rpc_host(proto.device_key or "")} if remote else {}),
                         reference_ms=pair.get("reference_ms"), over_reference=pair.get("over_reference"))


def _from_table(arch: DecidedArch, spec: TargetSpec) -> ArchMeasurement:
    from ..data import nb201
    from ..ir.cost import arch_cost
    from .recorded import recorded_latency

    if arch.nb201 is None:
        raise NotMeasurable(f"{spec.name} answers NAS-Bench-201 architectures only (its latencies are read from "
                            f"the table nasc/data/{NB201_LATENCY}); space '{arch.space.name}' has no NB201 cell "
                            "decisions (e01 .. e23 labelled with the benchmark's op names, as in examples/nb201.nas)")
    row = next(r for r in nb201.accuracy_rows() if r["arch_str"] == arch.nb201)
    cost = arch_cost(arch.arch.graph, arch.arch.ops)
    classes = arch.arch.graph.node(arch.arch.graph.outputs[0]).shape[-1]
    why = nb201.cost_mismatch(row, cost.params, cost.macs, classes if isinstance(classes, int) else -1)
    if why is not None:
        raise NotMeasurable(f"{spec.name} answers for {NB201_NETWORK} only, and space '{arch.space.name}' builds "
                            f"another network around the cell {arch.nb201} ({why})")
    ms = recorded_latency(spec.name, arch.nb201)
    column = spec.latency_column or ""
    record = StoredLatency(kind="arch", target=spec.name, backend=RECORDED_BACKEND, precision="fp32", key=arch.key,
                           median_ms=ms, p90_ms=ms, protocol=TABLE_READING,
                           versions={"table": NB201_LATENCY, "column": column,
                                     "table_sha256": _table_sha256()},
                           source="recorded", host=spec.description)
    return ArchMeasurement(arch.key, ms, "recorded", f"{spec.name}: table {NB201_LATENCY}, column {column}", record)


def _table_sha256() -> str:
    from ..data import SHA256

    return SHA256[NB201_LATENCY]


def _built_and_measured(arch: DecidedArch, spec: TargetSpec, workdir: Path, backend: str,
                        protocol: "MeasureProtocol | None", beside_reference: bool = False) -> ArchMeasurement:
    """Build ``arch`` for ``spec`` with ``backend`` and time it: here in a fresh process, or on
    the device behind the protocol's RPC tracker (then the record's source is ``rpc``, its
    host the device's key, and the build applies that device's tuning database, not this
    host's)."""
    from ..api import load_text
    from ..deploy import build_arch

    compiled = load_text(arch.text, f"<arch {arch.key[:12]}>", arch.compiled.loader)  # its ops library
    device = protocol.device_key if protocol is not None and protocol.rpc else None
    built = build_arch(compiled, workdir, target=spec.name, backend=backend, seed=0, tune_device_key=device)
    return _timed(arch, spec.name, built, protocol, beside_reference)


def _timed(arch: DecidedArch, target: str, built: Any, protocol: "MeasureProtocol | None",
           beside_reference: bool = False) -> ArchMeasurement:
    """One measurement of ``built`` (an artifact of ``arch``) as the store keeps it; beside
    the reference workload (materialized next to the artifact's folder) when asked."""
    from nasc.backends import MeasureProtocol

    from .beside import check_beside, timed

    proto = protocol or MeasureProtocol(repeats=30, isolate=True)
    if beside_reference:
        check_beside(built.backend, proto.threads, bool(proto.rpc))
    got = timed(Path(built.dir), proto, Path(built.dir).parent / "bench_reference" if beside_reference else None)
    rec = got.record
    record = measured_record(arch.key, target, rec, proto, built.batch, built.details.get("tuning"), got.beside,
                             got.paired)
    return ArchMeasurement(arch.key, rec.median_ms, record.source,
                           f"{record.backend}, {rec.how}, {rec.repeats} repeats", record)


def measure_again(arch: DecidedArch, target: str, store: LatencyStore, artifact: Path,
                  protocol: "MeasureProtocol | None" = None, beside_reference: bool = False) -> ArchMeasurement:
    """Another round of :func:`measure_arch` on the artifact it built for ``arch`` in ``artifact``
    (no rebuild: a round measures the same build again), stored beside the first; the
    store's median over an architecture's records is its latency (:mod:`nasc.interleave`)."""
    from nasc.backends.manifest import load_artifact

    result = _timed(arch, target, load_artifact(artifact), protocol, beside_reference)
    store_arch_record(store, arch, result.record)
    return result


__all__ = ["ArchMeasurement", "DecidedArch", "NotMeasurable", "RECORDED_BACKEND", "TABLE_READING", "arch_key",
           "decided_arch", "measure_again", "measure_arch", "measured_record", "store_arch_record"]
