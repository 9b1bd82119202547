"""Latency on the recorded devices: the table's value, and a predictor fitted on a few of them.

A recorded device (``recorded-raspi4``, ``recorded-titanxp``, ``recorded-xeon-gold-6226``)
has a measured latency for every NAS-Bench-201 architecture and nothing finer: no per-op
timings.  So "measure this architecture" on it is :func:`recorded_latency`, a lookup, and
a latency *model* for it has to be learnt from whole-network numbers.  :func:`fit_recorded`
does that from the architectures it is given (the loop a real device would run: measure a
hundred, fit, predict the rest), and :class:`RecordedModel` predicts any other one.

The model is linear in a handful of features (``nb201_cell.FEATURES``): per op, how many
edges of the cell execute it on this device's runtime, and whether no convolution runs.
``nb201_cell`` says why these and not one coefficient per op per edge; ``robust_fit`` says
how they are fitted; docs/recorded_latency.md has the evidence and the alternatives that
were measured and rejected.  ``benchmarks/recorded_predictor.py`` checks the acceptance
targets.

A model is stored as JSON (:meth:`RecordedModel.to_json`), never pickled: a model file is
data, and reading one runs nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..data import nb201
from ..errors import NascError
from ..targets import TARGETS
from . import nb201_cell
from .robust_fit import LOSSES, cross_validated, fit_linear

FORMAT = "nasc-recorded-latency/1"
MIN_ARCHS = 2 * (len(nb201_cell.FEATURES) + 1)
"""Fewest architectures a fit accepts: two per coefficient, for the cross-validation."""


class RecordedLatencyError(NascError, ValueError):
    """A request a recorded device cannot answer: an unknown device, a string that is not
    an NB201 architecture, a cut-off architecture, too few architectures, a bad model file."""


@dataclass(frozen=True)
class RecordedDevice:
    """A recorded target (``nasc.targets``) as the predictor sees it: its column of the
    table, how it runs a cell (``nb201_cell.RUNTIMES``) and the loss its noise calls for
    (``robust_fit.LOSSES``)."""

    name: str
    column: str
    runtime: str
    loss: str
    about: str


_HOW_THEY_RUN: Mapping[str, tuple[str, str]] = MappingProxyType({
    # (runtime, loss), as the table's numbers show them (docs/recorded_latency.md)
    "recorded-raspi4": ("folding", "mode"),
    "recorded-titanxp": ("eager", "huber"),
    "recorded-xeon-gold-6226": ("eager", "huber"),
})

DEVICES: Mapping[str, RecordedDevice] = MappingProxyType({
    t.name: RecordedDevice(t.name, t.latency_column, *_HOW_THEY_RUN[t.name], t.description)
    for t in TARGETS if t.kind == "recorded" and t.latency_column and t.name in _HOW_THEY_RUN})
"""The recorded targets the predictor knows how to fit (names and columns come from the
target table; tests check that it knows them all)."""


def device(name: str) -> RecordedDevice:
    """The recorded device called ``name``; RecordedLatencyError naming the known ones."""
    if name not in DEVICES:
        raise RecordedLatencyError(f"unknown recorded device {name!r}; known: {', '.join(DEVICES)}")
    return DEVICES[name]


def _edge_ops(arch: object) -> dict[str, str]:
    if not isinstance(arch, str):
        raise RecordedLatencyError(f"expected a NAS-Bench-201 architecture string, got {arch!r}")
    try:
        return nb201.edge_ops(arch)
    except ValueError as err:
        raise RecordedLatencyError(str(err)) from None


def op_indices(arch_strs: Iterable[str]) -> np.ndarray:
    """(n, 6) op indices (into ``nb201.OPS``, edges in ``nb201.EDGES`` order) of benchmark
    strings; RecordedLatencyError on a malformed one."""
    rows = [[nb201.OPS.index(ops[e]) for e in nb201.EDGES] for ops in map(_edge_ops, arch_strs)]
    return np.array(rows, dtype=int).reshape(-1, len(nb201.EDGES))


def _refuse_cut_off(arch_strs: Sequence[str], ops: np.ndarray) -> None:
    cut = np.flatnonzero(~nb201_cell.reaches_output(ops))
    if len(cut):
        raise RecordedLatencyError(
            f"{arch_strs[cut[0]]} has its output cut off from its input (every path passes through "
            f"'none'{f'; {len(cut) - 1} more such' if len(cut) > 1 else ''}): it computes a constant, "
            "and its recorded latency measures what the runtime folds, which is not modelled")


def is_cut_off(arch_str: str) -> bool:
    """Whether every input -> output path of the cell passes through ``none``."""
    return not bool(nb201_cell.reaches_output(op_indices([arch_str]))[0])


@dataclass(frozen=True, eq=False)
class RecordedTable:
    """The shipped latency table, indexed by architecture string (load it once, reuse it:
    reading it decompresses and sha256-checks the file)."""

    arch_strs: tuple[str, ...]
    index: Mapping[str, int]
    latency_ms: Mapping[str, np.ndarray]

    @classmethod
    def load(cls) -> "RecordedTable":
        rows = nb201.latency_rows()
        archs = tuple(r["arch_str"] for r in rows)
        columns = {}
        for d in DEVICES.values():
            values = np.array([float(r[d.column]) for r in rows])
            values.setflags(write=False)
            columns[d.column] = values
        return cls(archs, MappingProxyType({a: i for i, a in enumerate(archs)}), MappingProxyType(columns))

    def row(self, arch: int | str) -> int:
        """Row of an ``arch_index`` or an architecture string (any spelling ``edge_ops`` accepts)."""
        if isinstance(arch, (int, np.integer)) and not isinstance(arch, bool):
            if not 0 <= arch < len(self.arch_strs):
                raise RecordedLatencyError(f"arch_index {arch} is out of range 0..{len(self.arch_strs) - 1}")
            return int(arch)
        if isinstance(arch, str) and arch in self.index:
            return self.index[arch]
        return self.index[nb201.arch_str(_edge_ops(arch))]

    def measured(self, device_name: str, archs: Sequence[int | str]) -> tuple[list[str], np.ndarray]:
        """(architecture strings, recorded ms) of ``archs`` on a device."""
        column = self.latency_ms[device(device_name).column]
        rows = [self.row(a) for a in archs]
        return [self.arch_strs[i] for i in rows], column[rows]


def recorded_latency(device_name: str, arch_str: str, table: RecordedTable | None = None) -> float:
    """The recorded latency (ms, batch 1) of an architecture: "measuring" it on the device."""
    _, ms = (table or RecordedTable.load()).measured(device_name, [arch_str])
    return float(ms[0])


@dataclass(frozen=True)
class RecordedModel:
    """A fitted latency predictor of one recorded device (see the module docstring)."""

    device: str
    runtime: str
    loss: str
    intercept: float
    coefficients: tuple[float, ...]
    trained_on: int
    seed: int
    cv_within_10pct: float
    """Share within +-10% in cross-validation on the training architectures (``seed`` drew
    the folds): what to expect on the others."""

    def predict(self, arch_str: str) -> float:
        """Predicted latency (ms) of an architecture that is not cut off."""
        return float(self.predict_many([arch_str])[0])

    def predict_many(self, arch_strs: Sequence[str]) -> np.ndarray:
        """Predicted latencies (ms) of many architectures at once."""
        ops = op_indices(arch_strs)
        _refuse_cut_off(arch_strs, ops)
        return self.intercept + nb201_cell.features(ops, self.runtime) @ np.asarray(self.coefficients)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "features": list(nb201_cell.FEATURES), **asdict(self),
                "coefficients": list(self.coefficients)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, doc: Any) -> "RecordedModel":
        """The model a :meth:`to_dict` wrote; RecordedLatencyError saying what is wrong otherwise."""
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise RecordedLatencyError(f"not a recorded-latency model (expected \"format\": \"{FORMAT}\")")
        if doc.get("features") != list(nb201_cell.FEATURES):
            raise RecordedLatencyError(f"model features {doc.get('features')!r} are not {list(nb201_cell.FEATURES)!r}")
        dev = device(str(doc.get("device")))
        if doc.get("runtime") != dev.runtime:
            raise RecordedLatencyError(f"model runtime {doc.get('runtime')!r} is not {dev.name}'s ({dev.runtime!r})")
        if doc.get("loss") not in LOSSES:
            raise RecordedLatencyError(f"model loss {doc.get('loss')!r} is not one of {', '.join(LOSSES)}")
        coefficients = doc.get("coefficients")
        if not isinstance(coefficients, list) or len(coefficients) != len(nb201_cell.FEATURES) or not all(
                _finite(v) for v in [doc.get("intercept"), doc.get("cv_within_10pct"), *coefficients]):
            raise RecordedLatencyError(f"model needs a finite intercept, cv_within_10pct and "
                                       f"{len(nb201_cell.FEATURES)} finite coefficients")
        if not all(isinstance(doc.get(k), int) and not isinstance(doc.get(k), bool) for k in ("trained_on", "seed")):
            raise RecordedLatencyError("model needs integer trained_on and seed")
        return cls(dev.name, dev.runtime, doc["loss"], float(doc["intercept"]), tuple(float(v) for v in coefficients),
                   doc["trained_on"], doc["seed"], float(doc["cv_within_10pct"]))

    @classmethod
    def from_json(cls, text: str) -> "RecordedModel":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise RecordedLatencyError(f"recorded-latency model is not valid JSON ({err})") from None
        return cls.from_dict(doc)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fit_recorded(device_name: str, archs: Sequence[int | str], *, seed: int = 0,
                 table: RecordedTable | None = None) -> RecordedModel:
    """Fit a predictor of ``device_name`` on the recorded latencies of ``archs``
    (``arch_index`` values or architecture strings, none of them cut off).  The fit itself
    has no randomness; ``seed`` draws the folds of the cross-validation whose share within
    +-10% the model records."""
    arch_strs, ms = (table or RecordedTable.load()).measured(device(device_name).name, archs)
    return fit_measured(device_name, arch_strs, ms, seed=seed)


def fit_measured(device_name: str, arch_strs: Sequence[str], ms: Sequence[float] | np.ndarray, *,
                 seed: int = 0) -> RecordedModel:
    """Fit a predictor of ``device_name`` on latencies (ms) given with their architectures:
    what :func:`fit_recorded` does once it has looked them up, and what a refit on stored
    measurements does with the stored values."""
    dev = device(device_name)
    if len(arch_strs) < MIN_ARCHS:
        raise RecordedLatencyError(f"fitting needs at least {MIN_ARCHS} architectures, got {len(arch_strs)}")
    ops = op_indices(arch_strs)
    _refuse_cut_off(arch_strs, ops)
    X = nb201_cell.features(ops, dev.runtime)
    y = np.asarray(ms, dtype=float)
    fit = fit_linear(X, y, dev.loss)
    return RecordedModel(dev.name, dev.runtime, dev.loss, fit.intercept, fit.coefficients, len(arch_strs), seed,
                         cross_validated(X, y, LOSSES[dev.loss], seed))
