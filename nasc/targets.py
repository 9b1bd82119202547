"""The one table of hardware targets: names, aliases, what builds for each, latency priors.

Why one table: the frontend (``constraint ... on TARGET``), the latency model (roofline
priors) and the backends (TVM target, backends, precisions) all need the list of targets, and
three lists that restate the names drift apart.  This module is pure data -- it imports no
backend, so ``import nasc`` never loads TVM, TensorRT or ONNX Runtime -- and everything that
depends on the build host (its triple, the local GPU's arch, LLVM's ``mcpu: native``) is added
by ``nasc.backends.targets`` when a :class:`~nasc.backends.base.Target` is made.

Kinds: ``cpu`` is this machine, ``cuda`` a local NVIDIA GPU, ``jetson`` a board that is
cross-compiled for, and ``recorded`` a device nasc never runs on: its latency is answered from
the measured NAS-Bench-201 tables shipped in ``nasc/data/nb201/`` (``nb201_latency.csv``), so
it can be named in a latency constraint but nothing can be built for it.  Latency terms on a
recorded target use the table predictor refitted on the device's stored records when there are
enough, else the ``cpu`` prior (``nasc.latency.resolve``), and every report names the model
that predicted them.

Names are canonical everywhere inside nasc; an alias (``jetson``) is resolved once, where a
user typed it, and the command says which board it means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import NascNameError, UsageError, did_you_mean

TargetKind = Literal["cpu", "cuda", "jetson", "recorded"]
TvmSettings = tuple[tuple[str, str | int], ...]
"""A TVM target dict as immutable ``(key, value)`` pairs (``dict(settings)`` gives the dict)."""

AARCH64 = "aarch64-linux-gnu"
GPU_PRECISIONS = ("fp32", "fp16", "int8")
NB201_LATENCY = "nb201/nb201_latency.csv"
"""The shipped table recorded targets answer from (see ``nasc/data/nb201/README.md``)."""


@dataclass(frozen=True)
class RooflinePrior:
    """Order-of-magnitude device figures (not measurements) for the roofline latency model."""

    macs_per_s: float
    bytes_per_s: float
    overhead_s: float


@dataclass(frozen=True)
class TvmSpec:
    """How TVM names the device.

    ``target`` is a TVM tag (``"nvidia/jetson-orin-nano"``: the vendor-checked CUDA limits
    TVM's schedules rely on) or target-dict entries; for ``cpu`` and ``cuda`` the backends add
    this host's triple, core count and GPU arch.  ``host`` overrides the tag's host CPU where the
    tag is wrong for the board (``None``: the tag's own, or this machine for local targets).
    """

    target: str | TvmSettings
    host: TvmSettings | None = None


@dataclass(frozen=True)
class TargetSpec:
    """One target as every consumer sees it.

    ``device_arch`` is the GPU's compute capability when it is fixed by the board (``None``
    for ``cpu``, and for ``cuda``, whose arch is detected on the build host).  ``host_triple``
    is set for cross targets only (``None``: the build host).  ``latency_column`` is, for a
    recorded target, the column of :data:`NB201_LATENCY` its latency is read from.
    """

    name: str
    kind: TargetKind
    description: str
    backends: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()
    prior: RooflinePrior | None = None
    tvm: TvmSpec | None = None
    device_arch: str | None = None
    host_triple: str | None = None
    device_software: str = ""
    latency_column: str | None = None

    @property
    def buildable(self) -> bool:
        """Whether an artifact can be built for it (a recorded device is latency only)."""
        return self.kind != "recorded"


_NATIVE: TvmSettings = (("kind", "llvm"), ("mcpu", "native"))
_ORIN_SOFTWARE = "JetPack 6 (CUDA 12.x) or JetPack 7 (CUDA 13)"
_XAVIER_SOFTWARE = "JetPack 5 (CUDA 11.4)"


def _jetson(name: str, tag: str, arch: str, software: str, host: TvmSettings | None, description: str,
            prior: RooflinePrior) -> TargetSpec:
    """Every Jetson builds with TVM and TensorRT in every GPU precision; only these facts differ."""
    return TargetSpec(name, "jetson", description, backends=("tvm", "tensorrt"), precisions=GPU_PRECISIONS,
                      prior=prior, tvm=TvmSpec(tag, host), device_arch=arch, host_triple=AARCH64,
                      device_software=software)


def _aarch64(mcpu: str, cores: int) -> TvmSettings:
    return (("kind", "llvm"), ("mtriple", AARCH64), ("mcpu", mcpu), ("num-cores", cores))


def _recorded(name: str, column: str, description: str) -> TargetSpec:
    return TargetSpec(name, "recorded", f"{description}: latency from the shipped NAS-Bench-201 table",
                      latency_column=column)


TARGETS: tuple[TargetSpec, ...] = (
    TargetSpec("cpu", "cpu", "this machine's CPU (LLVM -mcpu detected at build time)",
               backends=("onnxruntime", "tvm", "torch"), precisions=("fp32", "fp16", "int8"),
               prior=RooflinePrior(30e9, 15e9, 5e-6), tvm=TvmSpec(_NATIVE)),
    TargetSpec("cuda", "cuda", "a local NVIDIA GPU", backends=("tensorrt", "tvm", "torch"),
               precisions=GPU_PRECISIONS, prior=RooflinePrior(5e12, 300e9, 5e-6),
               tvm=TvmSpec((("kind", "cuda"),), _NATIVE)),
    _jetson("jetson-orin-nano", "nvidia/jetson-orin-nano", "sm_87", _ORIN_SOFTWARE, _aarch64("cortex-a78", 6),
            "Jetson Orin Nano: Ampere sm_87, 6x Cortex-A78AE (the TVM tag's Carmel host is overridden)",
            RooflinePrior(600e9, 50e9, 8e-6)),
    _jetson("jetson-agx-orin", "nvidia/jetson-agx-orin-64gb", "sm_87", _ORIN_SOFTWARE, None,
            "Jetson AGX Orin: Ampere sm_87, 12x Cortex-A78AE", RooflinePrior(2e12, 150e9, 6e-6)),
    _jetson("jetson-xavier-nx", "nvidia/jetson-agx-xavier", "sm_72", _XAVIER_SOFTWARE, _aarch64("carmel", 6),
            "Jetson Xavier NX: Volta sm_72, 6x Carmel", RooflinePrior(400e9, 40e9, 10e-6)),
    _jetson("jetson-agx-xavier", "nvidia/jetson-agx-xavier", "sm_72", _XAVIER_SOFTWARE, None,
            "Jetson AGX Xavier: Volta sm_72, 8x Carmel", RooflinePrior(1e12, 100e9, 8e-6)),
    _jetson("jetson-nano", "nvidia/jetson-nano", "sm_53", "JetPack 4.6 (CUDA 10.2, Python 3.6)",
            _aarch64("cortex-a57", 4),
            "Jetson Nano: Maxwell sm_53, 4x Cortex-A57 (the TVM tag has no host; added here)",
            RooflinePrior(120e9, 20e9, 15e-6)),
    _recorded("recorded-raspi4", "raspi4_latency_ms", "Raspberry Pi 4 (HW-NAS-Bench, TFLite-style runtime)"),
    _recorded("recorded-titanxp", "help_gpu_titanxp_bs1_latency_ms", "NVIDIA Titan Xp, batch 1 (HELP)"),
    _recorded("recorded-xeon-gold-6226", "help_cpu_gold_6226_latency_ms", "Intel Xeon Gold 6226 CPU (HELP)"),
)
"""Every target, in display order."""

DEFAULT_JETSON = "jetson-orin-nano"
"""The board ``jetson`` means: the one the product is built around."""

ALIASES: tuple[tuple[str, str], ...] = (
    ("jetson", DEFAULT_JETSON),
    ("orin-nano", "jetson-orin-nano"), ("agx-orin", "jetson-agx-orin"),
    ("xavier-nx", "jetson-xavier-nx"), ("agx-xavier", "jetson-agx-xavier"),
)
"""``(alias, canonical name)``: the family name ``jetson`` and the boards' names as NVIDIA
writes them, without the family.  Only unambiguous names: ``orin`` or ``xavier`` would each
mean two boards, so they are :data:`AMBIGUOUS` instead."""

AMBIGUOUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("orin", ("jetson-orin-nano", "jetson-agx-orin")),
    ("xavier", ("jetson-xavier-nx", "jetson-agx-xavier")),
    ("nano", ("jetson-orin-nano", "jetson-nano")),
)
"""Names users type that mean more than one board: refused with the boards they could mean."""

TARGET_NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)
"""The canonical names, in display order."""


def aliases_of(name: str) -> tuple[str, ...]:
    """The aliases that mean the target ``name``."""
    return tuple(alias for alias, canonical in ALIASES if canonical == name)


def accepted_names() -> tuple[str, ...]:
    """Every name a user may type: the canonical names, then the aliases."""
    return TARGET_NAMES + tuple(alias for alias, _ in ALIASES)


def canonical_name(name: str) -> str | None:
    """The canonical name for a name or alias; ``None`` when it is neither."""
    if name in TARGET_NAMES:
        return name
    return dict(ALIASES).get(name)


def resolve_target(name: str) -> TargetSpec:
    """The record of a target named by its name or an alias; an unknown name lists the known ones."""
    canonical = canonical_name(name)
    boards = dict(AMBIGUOUS).get(name)
    if canonical is None and boards is not None:
        raise NascNameError(f"target '{name}' could mean {' or '.join(boards)}; name the board")
    if canonical is None:
        aliases = ", ".join(f"{alias} = {target}" for alias, target in ALIASES)
        raise NascNameError(f"unknown target '{name}'{did_you_mean(name, accepted_names()) or '.'} "
                            f"Known targets: {', '.join(TARGET_NAMES)} (aliases: {aliases})")
    return next(t for t in TARGETS if t.name == canonical)


def alias_note(name: str) -> str | None:
    """``target 'jetson' is jetson-orin-nano`` when ``name`` is an alias (None otherwise), so a
    command says which board an alias stood for."""
    canonical = canonical_name(name)
    if canonical is None or canonical == name:
        return None
    return f"target '{name}' is {canonical}"


def buildable_target(name: str) -> TargetSpec:
    """The record of a target an artifact can be built for; a recorded device is refused, saying why."""
    spec = resolve_target(name)
    if not spec.buildable:
        others = ", ".join(t.name for t in TARGETS if t.buildable)
        raise UsageError(f"target '{spec.name}' is a recorded device: its latency is read from the "
                         f"NAS-Bench-201 table shipped in nasc/data/{NB201_LATENCY} (column "
                         f"{spec.latency_column}), and nothing can be built for it; build for one of: {others}")
    return spec
