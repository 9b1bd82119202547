"""Core types shared by every backend: targets, options, protocols, records, artifacts.

Why these are frozen dataclasses: a build or a measurement is only worth something if it
can be reproduced, so the objects that describe one (where, how, with what) must not
change after creation and must serialise to plain JSON for ``manifest.json`` and for
``nasc measure --json``.  Nothing here imports torch, TVM, ONNX Runtime or TensorRT, so
``import nasc.backends`` stays cheap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Protocol, Sequence, runtime_checkable

from nasc.errors import BackendUnavailable, NascError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import torch

TargetKind = Literal["cpu", "cuda", "jetson"]
DeviceCode = Literal["auto", "binary", "source"]
PRECISIONS = ("fp32", "fp16", "int8")


class MeasurementUnavailable(NascError):
    """The artifact cannot be timed here (no GPU, engine not built, remote-only target)."""


class BuildError(NascError):
    """A backend failed to turn a model into an artifact for a reason the user can act on."""


__all__ = [
    "Artifact",
    "Backend",
    "BackendUnavailable",
    "BuildError",
    "BuildOptions",
    "KernelPlan",
    "KernelStep",
    "KernelTime",
    "LatencyRecord",
    "MeasureProtocol",
    "MeasurementUnavailable",
    "PRECISIONS",
    "Target",
]


@dataclass(frozen=True)
class Target:
    """A deployment target.

    ``tvm_target`` is a TVM tag string (e.g. ``"nvidia/jetson-orin-nano"``) or a JSON dict
    (TVM 0.27 no longer parses ``"llvm -mcpu=..."`` strings).  ``tvm_host`` overrides the
    host part of a tag when the tag is wrong for the board (the orin-nano tag describes a
    Carmel CPU).  For ``cpu`` the ``mcpu`` entry ``"native"`` is replaced by LLVM's name for
    the host CPU at build time, so nothing host-specific is hard-coded here.
    """

    name: str
    kind: TargetKind
    tvm_target: str | Mapping[str, Any]
    backends: tuple[str, ...]
    precisions: tuple[str, ...]
    host_triple: str
    device_arch: str | None = None
    tvm_host: Mapping[str, Any] | None = None
    description: str = ""
    device_software: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tvm_target"] = self.tvm_target if isinstance(self.tvm_target, str) else dict(self.tvm_target)
        d["tvm_host"] = dict(self.tvm_host) if self.tvm_host is not None else None
        d["backends"] = list(self.backends)
        d["precisions"] = list(self.precisions)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Target":
        kw = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        kw["backends"] = tuple(kw.get("backends", ()))
        kw["precisions"] = tuple(kw.get("precisions", ()))
        return cls(**kw)


@dataclass(frozen=True)
class KernelStep:
    """One kernel of a :class:`KernelPlan`: a torch module that computes that kernel alone,
    its example inputs (one per value it reads, in ``reads`` order), the values it reads and
    the value it writes (value ids of the plan).  Steps with the same ``key`` have modules
    that differ in their weights only (a backend may import that structure once)."""

    module: Any
    example_inputs: Mapping[str, Any]
    reads: tuple[int, ...]
    writes: int
    key: str


@dataclass(frozen=True)
class KernelPlan:
    """A model as the kernels nasc's fuse pass cut it into, in an order that runs every
    kernel after the values it reads.

    Why a backend wants it: a compiler that partitions the whole graph itself (TVM's FuseOps)
    cuts an arch differently from nasc where a merge has several fusable producers, so the
    kernels it runs are not the kernels nasc measured, tuned and keys its latency tables by.
    A backend that builds each step alone and calls them in order runs exactly nasc's kernels.
    ``inputs`` are the model's inputs (in example-input order), ``outputs`` its outputs."""

    inputs: tuple[int, ...]
    steps: tuple[KernelStep, ...]
    outputs: tuple[int, ...]
    origin: str = ""


@dataclass(frozen=True)
class BuildOptions:
    """What to build besides model and target; every field lands in ``manifest.json``.

    ``calibration`` (int8 only) is a sequence of input dicts, and ``calibration_origin`` says
    where they came from (``the sklearn:digits training split (seed 0)``; empty: the caller's
    own batches); without them, ``calib_samples`` random-normal batches from ``seed`` are used
    and the manifest says so, because random calibration is only good enough for latency, not
    for accuracy.

    TVM on the cpu target always applies the target's MetaSchedule database when one exists
    (``nasc profile --tune`` fills it); ``tune_trials`` > 0 also tunes what it lacks, timing the
    candidates here or, with ``tune_rpc`` (a tracker's HOST:PORT) and ``tune_device_key``, on
    that device, whose database is its own (``tune_device_key`` alone applies that database).
    ``tuning_database=False`` builds with TVM's default schedules whatever the database holds.

    ``kernel_plan`` (called only by a backend that uses it): the model's :class:`KernelPlan`;
    TVM on the cpu target then builds kernel by kernel, so the tasks it tunes and looks up are
    the space's kernels (``nasc profile --tune`` tuned exactly those).
    """

    precision: str = "fp32"
    seed: int = 0
    weights: str = "unspecified"
    output_names: tuple[str, ...] | None = None
    calib_samples: int = 32
    calibration: Sequence[Mapping[str, Any]] | None = field(default=None, compare=False, repr=False)
    calibration_origin: str = ""
    tune_trials: int = 0
    tuning_database: bool = True
    tune_rpc: str | None = None
    tune_device_key: str | None = None
    cache_dir: str | None = None
    device_code: DeviceCode = "auto"
    extra: Mapping[str, Any] = field(default_factory=dict)
    kernel_plan: Callable[[], KernelPlan] | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, calibration=None, kernel_plan=None))
        d["calibration"] = None if self.calibration is None else f"{len(self.calibration)} user batches"
        d["kernel_plan"] = "given" if self.kernel_plan is not None else None
        d["output_names"] = list(self.output_names) if self.output_names else None
        d["extra"] = dict(self.extra)
        return d


@dataclass(frozen=True)
class MeasureProtocol:
    """How a latency is measured; stated verbatim in every :class:`LatencyRecord`.

    One *sample* is the mean over ``number`` back-to-back calls; ``repeats`` samples are
    taken after ``warmup`` untimed calls; the record gives their median and p90.
    ``batch`` and ``precision`` of ``None`` mean "whatever the artifact was built for";
    a value that disagrees with the artifact is an error rather than a silent mismatch.
    ``rpc`` (``HOST:PORT`` of a TVM RPC tracker) plus ``device_key`` measure remotely.
    ``verify`` checks the artifact's files against its manifest before loading it (also in
    the isolated child); ``False`` is for artifacts edited on purpose and stays in the record.
    """

    warmup: int = 10
    repeats: int = 30
    number: int = 10
    threads: int = 2
    batch: int | None = None
    precision: str | None = None
    isolate: bool = False
    seed: int = 0
    per_kernel: bool = False
    rpc: str | None = None
    device_key: str | None = None
    rpc_timeout_s: int = 120
    verify: bool = True

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.number < 1 or self.warmup < 0 or self.threads < 1:
            raise ValueError("MeasureProtocol needs repeats>=1, number>=1, warmup>=0, threads>=1")
        if (self.rpc is None) != (self.device_key is None):
            raise ValueError("rpc and device_key go together (tracker HOST:PORT and the device's key)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "MeasureProtocol":
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})

    def resolved(self, artifact: "Artifact") -> "MeasureProtocol":
        """Fill batch/precision from the artifact, refusing contradictions."""
        batch = artifact.batch
        if self.batch is not None and self.batch != batch:
            raise NascError(f"protocol asks for batch {self.batch} but the artifact in {artifact.dir} "
                            f"was built for batch {batch}; rebuild it with that input shape")
        if self.precision is not None and self.precision != artifact.precision:
            raise NascError(f"protocol asks for {self.precision} but the artifact is {artifact.precision}")
        return replace(self, batch=batch, precision=artifact.precision)


@dataclass(frozen=True)
class KernelTime:
    """One kernel's share of a run (TVM: a fused PrimFunc such as ``fused_conv2d_add_relu``)."""

    name: str
    median_us: float
    calls_per_run: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LatencyRecord:
    """A latency with its provenance.  ``source`` is ``"measured"`` or ``"predicted"``;
    ``how`` says where (``"measured locally"``, ``"measured via rpc ..."``)."""

    median_ms: float
    p90_ms: float
    min_ms: float
    repeats: int
    source: Literal["measured", "predicted"]
    how: str
    protocol: Mapping[str, Any]
    backend: str
    target: str
    precision: str
    versions: Mapping[str, str]
    per_kernel: tuple[KernelTime, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["per_kernel"] = [k.to_dict() for k in self.per_kernel]
        d["notes"] = list(self.notes)
        d["protocol"] = dict(self.protocol)
        d["versions"] = dict(self.versions)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LatencyRecord":
        kw = dict(d)
        kw["per_kernel"] = tuple(KernelTime(**k) for k in kw.get("per_kernel", ()))
        kw["notes"] = tuple(kw.get("notes", ()))
        return cls(**kw)


@dataclass(frozen=True)
class Artifact:
    """A built model on disk.  ``manifest.json`` in ``dir`` is the source of truth;
    :func:`nasc.backends.manifest.load_artifact` rebuilds this object from it."""

    dir: Path
    target: str
    backend: str
    precision: str
    files: Mapping[str, str]
    entry: str
    input_shapes: Mapping[str, tuple[int, ...]]
    input_dtypes: Mapping[str, str]
    output_names: tuple[str, ...]
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        """Leading dimension of the first input (the NAS convention: NCHW, batch first)."""
        first = next(iter(self.input_shapes.values()), ())
        return int(first[0]) if first else 1

    @property
    def entry_path(self) -> Path:
        return self.dir / self.entry


@runtime_checkable
class Backend(Protocol):
    """What every backend (built-in or from the ``nasc.backends`` entry-point group) offers.

    ``build`` takes a ``torch.nn.Module`` plus named example inputs (dict order = the
    order of ``forward``'s positional arguments) and writes an artifact with a manifest.
    ``measure`` times it under a protocol.  ``load_and_run`` returns the outputs as numpy
    arrays so equivalence against torch can be tested.

    Optional: ``timed_call(artifact, protocol)``, a zero-argument call running the artifact
    once in this process on the protocol's inputs and threads, which lets ``nasc bench``
    time it sample by sample against its reference in one process (``nasc.bench.paired``).
    """

    name: str
    precisions: tuple[str, ...]

    def available(self, target: Target) -> tuple[bool, str]: ...

    def build(self, model: "torch.nn.Module", example_inputs: Mapping[str, "np.ndarray"],
              target: Target, options: BuildOptions, out_dir: Path) -> Artifact: ...

    def measure(self, artifact: Artifact, protocol: MeasureProtocol) -> LatencyRecord: ...

    def load_and_run(self, artifact: Artifact, inputs: Mapping[str, "np.ndarray"]) -> list["np.ndarray"]: ...
