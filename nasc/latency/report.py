"""``nasc latency report``: how well each latency model predicts the stored measurements.

Why cross-validated: every model here has terms fitted on the very arch records it would be
judged on, and an in-sample error of a fit says little about the next architecture a
search finds.  So the stored architectures are split into :data:`FOLDS` folds (seeded), and
each one is predicted by models fitted on the other folds only -- an architecture's
prediction never comes from a fit that saw it.  The bare roofline prior has nothing
fitted and predicts every architecture as is.

Models, where they apply: ``kernel-sum`` (``cpu`` with this host's kernel records for the
backend), ``roofline-prior`` (bare), ``roofline-prior-affine`` (``a + b * prior``), and
``recorded-fit`` (a recorded device, architectures with their NAS-Bench-201 string).  Per
model: ``n``, the share within +-10%, the median absolute relative error, Kendall's tau
and where the measurements came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import NascError
from ..targets import resolve_target
from .fitted import affine_beta
from .host import host_fingerprint
from .kernel_model import fit_terms
from .kernel_source import ArchKernels, KernelSumSource, has_kernels
from .robust_fit import TOLERANCE, within
from .store import LatencyStore

FOLDS = 5
SEED = 0


class NothingToReport(NascError):
    """No stored architecture of the target (and backend) has a text to predict from."""


def folds(n: int, k: int = FOLDS, seed: int = SEED) -> list[np.ndarray]:
    """Indices 0..n-1 shuffled (seeded) and split into ``min(k, n)`` folds."""
    order = np.random.default_rng(seed).permutation(n)
    return [f for f in np.array_split(order, min(k, n)) if len(f)]


def cross_validated(n: int, fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Each index predicted by ``fit_predict(train, held)`` fitted without its fold (NaN where a
    fold's training part is too small for the model)."""
    predicted = np.full(n, np.nan)
    for held in folds(n):
        train = np.setdiff1d(np.arange(n), held)
        if len(train):
            predicted[held] = fit_predict(train, held)
    return predicted


def summary(predicted: Sequence[float] | np.ndarray, measured: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """n, share within +-10%, median absolute relative error, Kendall's tau (finite predictions only)."""
    from scipy.stats import kendalltau

    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    ok = np.isfinite(p)
    p, m = p[ok], m[ok]
    if len(m) == 0:
        return {"n": 0}
    err = np.abs(p / m - 1)
    tau = float(kendalltau(p, m)[0]) if len(m) > 1 else None
    return {"n": int(len(m)), "within_10pct": round(within(p, m), 4),
            "median_abs_rel_error": round(float(np.median(err)), 4),
            "kendall_tau": None if tau is None or not np.isfinite(tau) else round(tau, 4)}


@dataclass
class Group:
    """The stored architectures of one target and backend, predicted by each model."""

    target: str
    backend: str
    source: str
    keys: list[str]
    measured_ms: np.ndarray
    predicted_ms: dict[str, np.ndarray] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "backend": self.backend, "source": self.source, "archs": len(self.keys),
                "models": {name: {**summary(p, self.measured_ms), **({"model": self.notes[name]}
                                                                    if name in self.notes else {})}
                           for name, p in self.predicted_ms.items()}}


def _source(store: LatencyStore, target: str, backend: str, host: str | None) -> str:
    rec = next(store.query(kind="arch", target=target, backend=backend, host=host), None)
    if rec is None:
        return ""
    if rec.source == "recorded":
        return f"recorded table {rec.versions.get('table', '?')}, column {rec.versions.get('column', '?')}"
    proto = rec.protocol
    return (f"measured with {backend} on {rec.host}: {proto.repeats} repeats x {proto.number} calls after "
            f"{proto.warmup} warm-up calls, {proto.threads} threads")


def _affine(prior_s: np.ndarray, measured_ms: np.ndarray) -> np.ndarray:
    def fit_predict(train: np.ndarray, held: np.ndarray) -> np.ndarray:
        a, b = affine_beta(prior_s[train], measured_ms[train] / 1e3)
        return (a + b * prior_s[held]) * 1e3

    return cross_validated(len(measured_ms), fit_predict)


def _recorded_fit(device: str, nb201: list[str | None], measured_ms: np.ndarray) -> np.ndarray:
    from .recorded import MIN_ARCHS, fit_measured, is_cut_off

    usable = np.array([s is not None and not is_cut_off(s) for s in nb201])

    def fit_predict(train: np.ndarray, held: np.ndarray) -> np.ndarray:
        train = train[usable[train]]
        out = np.full(len(held), np.nan)
        if len(train) < MIN_ARCHS:
            return out
        model = fit_measured(device, [str(nb201[i]) for i in train], measured_ms[train])
        for j, i in enumerate(held):
            if usable[i]:
                out[j] = model.predict(str(nb201[i]))
        return out

    return cross_validated(len(measured_ms), fit_predict)


def _kernel_sum(source: KernelSumSource, keys: list[str]) -> np.ndarray:
    by_key = {a.key: a for a in source.archs}

    def fit_predict(train: np.ndarray, held: np.ndarray) -> np.ndarray:
        # the fitted terms alone: what a prediction uses (the whole model would also refit its
        # per-node part and its leave-one-out error, for nothing here)
        terms = fit_terms([by_key[keys[i]].sums for i in train], [by_key[keys[i]].measured_ms for i in train])
        return np.array([terms.predict_ms(by_key[keys[i]].sums) for i in held])

    return cross_validated(len(keys), fit_predict)


def report_group(store: LatencyStore, target: str, backend: str, kernels_of: ArchKernels) -> Group | None:
    """One target and backend's architectures with a text, each model's cross-validated predictions."""
    from .resolve import NB201_FACT, fitted_on

    spec = resolve_target(target)
    host = host_fingerprint() if spec.kind == "cpu" else None
    medians = fitted_on(store, spec.name, backend=backend)  # the archs the models are fitted on, by the same rule
    texts = store.arch_texts(medians)
    read = {k: found for k in sorted(medians) if k in texts and (found := kernels_of(texts[k])) is not None}
    keys = list(read)
    if not keys:
        return None
    measured = np.array([medians[k] for k in keys])
    prior_s = np.array([read[k][1] for k in keys])
    group = Group(spec.name, backend, _source(store, spec.name, backend, host), keys, measured)
    if spec.kind == "cpu" and has_kernels(store, spec.name, backend):
        assert kernels_of.lib is not None
        ks = KernelSumSource(store, spec.name, backend, kernels_of.lib, kernels_of=kernels_of)
        group.predicted_ms["kernel-sum"] = _kernel_sum(ks, keys)
        group.notes["kernel-sum"] = ks.model().name
    group.predicted_ms["roofline-prior"] = prior_s * 1e3
    group.predicted_ms["roofline-prior-affine"] = _affine(prior_s, measured)
    if spec.kind == "recorded":
        facts = store.arch_facts(keys)
        group.predicted_ms["recorded-fit"] = _recorded_fit(spec.name, [facts.get(k, {}).get(NB201_FACT)
                                                                       for k in keys], measured)
    return group


def backends_of(store: LatencyStore, target: str) -> list[str]:
    """The backends of ``target``'s arch records (a recorded device: its table)."""
    return sorted({rec.backend for rec in store.query(kind="arch", target=resolve_target(target).name)})


def build_report(store: LatencyStore, target: str, backend: str | None) -> tuple[dict[str, Any], list[Group]]:
    """The report's JSON document and its groups; :class:`NothingToReport` when no group has an arch."""
    spec = resolve_target(target)
    kernels_of = ArchKernels("cpu")  # a recorded device's archs are NB201 networks; their prior is cpu's
    groups = [g for b in ([backend] if backend else backends_of(store, spec.name))
              if (g := report_group(store, spec.name, b, kernels_of)) is not None]
    if not groups:
        which = f" with backend {backend}" if backend else ""
        mine = " measured on this host" if spec.kind == "cpu" else ""
        raise NothingToReport(f"nothing to report: {store.path} has no architecture of target '{spec.name}'{which}"
                              f"{mine} with its text stored (measure some with `nasc profile FILE --target "
                              f"{spec.name} --archs N` or a measuring search)")
    doc = {"target": spec.name, "store": str(store.path), "folds": FOLDS, "seed": SEED,
           "rule": f"|predicted - measured| <= {TOLERANCE:.0%} of measured; each arch predicted by models fitted "
                   f"on the other folds only",
           "groups": [g.to_dict() for g in groups]}
    return doc, groups


def write_report(store: LatencyStore, target: str, backend: str | None, out: Path) -> dict[str, Any]:
    """``report.json`` and ``scatter.png`` in ``out``; the document."""
    from ..fsio import atomic_write
    from .report_plot import scatter

    doc, groups = build_report(store, target, backend)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "report.json", json.dumps(doc, indent=2) + "\n")
    scatter(groups, out / "scatter.png")
    return doc


def headline(doc: dict[str, Any]) -> list[str]:
    """One line per group and model: what the CLI prints."""
    lines = []
    for g in doc["groups"]:
        for name, s in g["models"].items():
            if s["n"]:
                tau = "n/a" if s["kendall_tau"] is None else f"{s['kendall_tau']:.3f}"
                lines.append(f"{g['target']}/{g['backend']} {name}: n={s['n']}, within +-10% {s['within_10pct']:.1%}, "
                             f"median error {s['median_abs_rel_error']:.1%}, tau {tau}")
    return lines


__all__ = ["FOLDS", "NothingToReport", "build_report", "cross_validated", "folds", "headline", "report_group",
           "summary", "write_report"]
