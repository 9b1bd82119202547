"""Kernel-sum latency model: a measured host's architectures as the sum of their kernels.

Why: ``nasc profile`` stores the median latency of every kernel a space can produce on
this host, with one backend and precision.  An architecture runs a known list of those
kernels (after fold-bn and fuse; :mod:`.decided_kernels`, :func:`.arch_kernels.arch_kernel_list`),
so its latency is mostly their sum.  What the sum misses is what a whole model does
differently from one kernel timed alone -- one session call instead of one per kernel, the
tensors passed between kernels -- and that is what the *fitted terms* take:

    predicted = a + b * sum(kernel medians) + sum over kernel classes c of d_c * kernels of class c

``a`` per target/backend (a whole model's fixed cost), ``d_c`` per kernel of a class
(``conv_add_act``, ``pool``, ``injective``, ...: negative when a micro-model's own call
overhead, counted once per kernel in the sum, is larger than what such a kernel costs
inside a model -- and that differs by class: an injective op between two convolutions is
often folded into a layout change, a pool is not), ``b`` a common scale held near 1.  On
this host's digits architectures (15-30 µs, most of it dispatch) per-class terms put 68%
of held-out architectures within ±10% where one term for all kernels put 50%.  They are ridge-fitted on
relative errors over this host's stored whole-architecture records (``kind=arch``) whose
canonical text is known, so each one's kernel list can be recomputed.  A kernel nothing
measured is predicted by the roofline prior, and the model says how much of its figure
came from there (``prior share``).

**ONNX Runtime's rewrites.**  On x86, ONNX Runtime moves convolutions and pools into a
blocked layout, merges repeated ops and fuses adds and activations into convolutions;
what that costs depends on how the kernels connect, not on which kernels there are.  An
onnxruntime model of this host therefore also counts :mod:`.ort_layout`'s terms (layout
changes, and the adds and activations left standalone or fused, per activation shape) as
classes with a fitted cost each.  Their penalty is chosen by leave-one-out error among
:data:`LAYOUT_RIDGES` (where the measurements are noisier than the terms are worth, that
holds them at zero); on NAS-Bench-201 with 30 fitting architectures they took the share of
held-out architectures within +-10% from 54% to 84%.

**Per-node values for the search.** A kernel belongs to a unit of fused nodes whose
membership depends on the decisions around it (which consumers are live, which choice
feeds a merge), so a mixed node's options have no kernel latency of their own without
enumerating every context.  The search instead gets the roofline prior with fitted terms
(:class:`~nasc.latency.fitted.AffinePrior`, fitted on the same measured architectures):
its per-node values are exact in expectation under α and on this host's scale, and the
decided architecture -- at discretization, in reports, in the loop -- gets the kernel sum
(:meth:`KernelSumModel.decided_latency`).  With no measured architecture the per-node
values are the prior itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from ..ir.graph import IRGraph, Node
from ..ir.ops import OpLibrary
from .fitted import AffinePrior, fit_affine_prior
from .model import RooflineModel
from .ort_layout import LAYOUT_PREFIX, named_terms
from .robust_fit import leave_one_out_error
from .space_kernels import KernelSig

if TYPE_CHECKING:
    from ..ir.space import SearchSpace
    from .decided_kernels import DecidedKernels

KERNEL_RIDGE = 1e-2
"""Penalty on ``a`` and ``d`` (relative to the mean measurement) and on ``b - 1``: with few
architectures the fit stays close to the plain kernel sum."""
LAYOUT_OFF = 1e6
"""A penalty that holds the layout terms at zero."""
LAYOUT_RIDGES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, LAYOUT_OFF)
"""The penalties on the layout terms (ONNX Runtime's graph rewrites, :mod:`.ort_layout`)
:func:`fit_terms` chooses from by leave-one-out error once there are :data:`CHOOSE_FROM`
architectures.  They add a score of terms, which NAS-Bench-201's 1 ms
networks need nearly unpenalized and the digits networks' 20 µs ones, whose measurements
are noisier than those terms are worth, may need held at zero."""
CHOOSE_FROM = 12


@dataclass(frozen=True)
class KernelSums:
    """One architecture's kernels against the table: the measured medians' sum, the prior's
    figures for the kernels the table lacks, and how many kernels of each class (fusion rule)
    it runs, with repeats."""

    measured_ms: float
    prior_ms: float
    counts: tuple[tuple[str, int], ...]

    @property
    def total_ms(self) -> float:
        return self.measured_ms + self.prior_ms

    @property
    def kernels(self) -> int:
        return sum(n for _, n in self.counts)

    def count(self, rule: str) -> int:
        return dict(self.counts).get(rule, 0)


@dataclass(frozen=True)
class KernelTerms:
    """The fitted terms (module docstring): ``a`` ms, ``b``, and ``d`` ms per kernel of each
    class (a class no fitted architecture ran gets none: its kernels count their medians only)."""

    intercept_ms: float = 0.0
    scale: float = 1.0
    dispatch_ms: tuple[tuple[str, float], ...] = ()
    ridge: float = LAYOUT_OFF  # the layout terms' penalty

    @property
    def uses_layout(self) -> bool:
        return any(r.startswith(LAYOUT_PREFIX) for r, _ in self.dispatch_ms) and self.ridge < LAYOUT_OFF

    def predict_ms(self, sums: KernelSums) -> float:
        d = dict(self.dispatch_ms)
        return self.intercept_ms + self.scale * sums.total_ms + sum(d.get(r, 0.0) * n for r, n in sums.counts)


def terms_beta(X: np.ndarray, y: np.ndarray, layout: Sequence[bool] = (), layout_ridge: float = KERNEL_RIDGE
               ) -> np.ndarray:
    """[a, b, d_1 .. d_k] for features ``X`` = [kernel sum, count of class 1 .. k] per row and
    measurements ``y`` (ms): minimizes sum(((a + b s + sum d_j n_j) / y - 1)^2)
    + KERNEL_RIDGE ((a / ȳ)^2 + (b - 1)^2) + sum r_j (d_j n̄_j / ȳ)^2, with r_j
    ``layout_ridge`` for the columns ``layout`` marks and KERNEL_RIDGE for the rest."""
    y = np.asarray(y, dtype=float).reshape(-1)
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    A = np.column_stack([np.ones_like(y), X]) / y[:, None]
    unit = float(np.mean(y))
    counts = np.maximum(X[:, 1:].mean(axis=0), 1e-9)
    marked = np.zeros(len(counts), dtype=bool)
    marked[:len(layout)] = layout
    ridges = np.where(marked, layout_ridge, KERNEL_RIDGE)
    penalty = np.diag(np.concatenate([KERNEL_RIDGE * np.array([1 / unit ** 2, 1.0]), ridges * (counts / unit) ** 2]))
    prior = np.zeros(A.shape[1])
    prior[1] = 1.0
    return np.linalg.solve(A.T @ A + penalty, A.T @ np.ones_like(y) + KERNEL_RIDGE * prior)


def classes(sums: Sequence[KernelSums]) -> tuple[str, ...]:
    """The kernel classes the architectures run: the dispatch terms a fit on them has."""
    return tuple(sorted({r for s in sums for r, _ in s.counts}))


def features(sums: Sequence[KernelSums], rules: Sequence[str]) -> np.ndarray:
    """Rows [kernel sum, count of each of ``rules``]: what :func:`terms_beta` fits on."""
    return np.array([[s.total_ms, *(s.count(r) for r in rules)] for s in sums], dtype=float).reshape(
        len(sums), 1 + len(rules))


def is_layout(rules: Sequence[str]) -> list[bool]:
    """Which of ``rules`` are layout terms (:data:`~nasc.latency.ort_layout.LAYOUT_PREFIX`)."""
    return [r.startswith(LAYOUT_PREFIX) for r in rules]


def choose_ridge(X: np.ndarray, y: np.ndarray, layout: Sequence[bool]) -> float:
    """The layout terms' penalty of :data:`LAYOUT_RIDGES` with the least leave-one-out error on
    these architectures (:data:`LAYOUT_OFF` when there are no layout terms or fewer than
    :data:`CHOOSE_FROM` architectures: too few to tell)."""
    if not any(layout) or len(y) < CHOOSE_FROM:
        return LAYOUT_OFF
    errors = {r: leave_one_out_error(X, y, partial(terms_beta, layout=layout, layout_ridge=r)) for r in LAYOUT_RIDGES}
    return min(LAYOUT_RIDGES, key=lambda r: (errors[r] if errors[r] is not None else np.inf, -r))


def fit_terms(sums: Sequence[KernelSums], measured_ms: Sequence[float]) -> KernelTerms:
    """The terms fitted on architectures' sums and measurements (none: the plain sum), the
    layout terms' penalty chosen by :func:`choose_ridge` on them."""
    if not sums:
        return KernelTerms()
    rules = classes(sums)
    X, y, layout = features(sums, rules), np.asarray(measured_ms, dtype=float), is_layout(rules)
    ridge = choose_ridge(X, y, layout)
    beta = terms_beta(X, y, layout, ridge)
    return KernelTerms(float(beta[0]), float(beta[1]), tuple((r, float(d)) for r, d in zip(rules, beta[2:])), ridge)


def terms_error(sums: Sequence[KernelSums], measured_ms: Sequence[float]) -> float | None:
    """Median relative error on each architecture when the terms are fitted on the others
    (the penalty chosen again without it, so the choice never sees the architecture it is
    judged on)."""
    rules = classes(sums)
    X, y, layout = features(sums, rules), np.asarray(measured_ms, dtype=float), is_layout(rules)
    return leave_one_out_error(X, y, lambda Xt, yt: terms_beta(Xt, yt, layout, choose_ridge(Xt, yt, layout)))


def kernel_prior_ms(prior: RooflineModel, lib: OpLibrary, signature: str) -> float:
    """The roofline prior's figure (ms) for one kernel, from its signature's ops and shapes."""
    from .micro import parse_signature

    parsed = parse_signature(signature)
    shapes: list[tuple[Any, ...]] = list(parsed.inputs)
    total = 0.0
    for m in parsed.members:
        ins = [shapes[i] if kind == "i" else shapes[len(parsed.inputs) + i] for kind, i in m.reads]
        total += prior.primitive_latency(lib, m.op, ins, dict(m.attrs))
        shapes.append(tuple(lib.shape(m.op, ins, dict(m.attrs))))
    return total * 1e3


@dataclass
class KernelTable:
    """This host's kernel medians (ms) for one target, backend and precision, and the prior
    figures of the kernels it lacks (computed once each)."""

    medians_ms: Mapping[str, float]
    prior: RooflineModel
    lib: OpLibrary
    _prior_ms: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.medians_ms)

    def sums(self, kernels: Sequence[KernelSig], terms: Sequence[tuple[str, int]] = ()) -> KernelSums:
        """The sums of ``kernels``; ``terms`` (name, count) are counted beside the kernel classes
        (ONNX Runtime's graph rewrites, :mod:`.ort_layout`)."""
        measured = prior = 0.0
        counts: dict[str, int] = dict(terms)
        for k in kernels:
            counts[k.rule] = counts.get(k.rule, 0) + 1
            if k.key in self.medians_ms:
                measured += self.medians_ms[k.key]
            else:
                if k.key not in self._prior_ms:
                    self._prior_ms[k.key] = kernel_prior_ms(self.prior, self.lib, k.signature)
                prior += self._prior_ms[k.key]
        return KernelSums(measured, prior, tuple(sorted(counts.items())))


@dataclass(frozen=True)
class MeasuredArch:
    """A stored whole-architecture measurement the terms are fitted on: its key, median (ms),
    kernel sums and the prior's figure for it (s, what the per-node part is fitted on)."""

    key: str
    measured_ms: float
    sums: KernelSums
    prior_s: float


def prior_share(sums: Sequence[KernelSums]) -> float:
    """Share of the summed kernel time that came from the prior (0 when all was measured)."""
    total = sum(s.total_ms for s in sums)
    return sum(s.prior_ms for s in sums) / total if total > 0 else 0.0


class KernelSumModel:
    """A :class:`~nasc.latency.model.LatencyModel` and :class:`~nasc.latency.model.RefinesDecided`
    of a measured host (module docstring).  Kernel lists are kept per architecture, so a
    discretization asking for many assignments computes each once."""

    def __init__(self, what: str, table: KernelTable, terms: KernelTerms, per_node: AffinePrior | RooflineModel,
                 fitted: Sequence[MeasuredArch], error: float | None, precision: str = "fp32",
                 target: str = "cpu", layout: int = 0) -> None:
        self.what = what
        self.table = table
        self.terms = terms
        self.per_node = per_node
        self.fitted = tuple(fitted)
        self.error = error
        self.precision = precision
        self.target = target
        self.layout = layout
        self._spaces: dict[int, tuple["SearchSpace", "DecidedKernels"]] = {}
        self._decided: dict[tuple[int, tuple[tuple[str, int], ...]], KernelSums] = {}

    @property
    def name(self) -> str:
        err = "n/a" if self.error is None else f"{self.error:.1%}"
        # over the fitted archs: with none, nothing says how much of a prediction the prior makes
        share = f"{prior_share([a.sums for a in self.fitted]):.0%}" if self.fitted else "n/a"
        layout = ", ONNX Runtime layout terms" if self.layout and self.terms.uses_layout else ""
        return (f"kernel-sum:{self.what} ({len(self.table):,} kernels{layout}, {len(self.fitted)} archs, err {err}, "
                f"prior share {share})")

    def __repr__(self) -> str:
        return f"KernelSumModel({self.name!r}, {self.terms!r})"

    def node_latency(self, lib: OpLibrary, graph: IRGraph, node: Node) -> Any:
        return self.per_node.node_latency(lib, graph, node)

    def sums_of(self, space: "SearchSpace", assignment: Mapping[str, int]) -> KernelSums:
        """The kernel sums of the architecture ``assignment`` picks in ``space``."""
        from .decided_kernels import DecidedKernels

        if id(space) not in self._spaces:
            self._spaces[id(space)] = (space, DecidedKernels(space, self.precision, self.target))
        key = (id(space), tuple(sorted(assignment.items())))
        if key not in self._decided:
            decided = self._spaces[id(space)][1]
            view = decided.view(assignment)  # one view answers both walks
            kernels = [p.kernel for p in decided.of(assignment, view)]
            self._decided[key] = self.table.sums(
                kernels, named_terms(decided.ops(assignment, view), self.layout) if self.layout else ())
        return self._decided[key]

    def decided_latency(self, space: "SearchSpace", assignment: Mapping[str, int]) -> float | None:
        return self.terms.predict_ms(self.sums_of(space, assignment)) / 1e3

    def predict_ms(self, sums: KernelSums) -> float:
        return self.terms.predict_ms(sums)


def measured_archs(texts: Mapping[str, str], medians_ms: Mapping[str, float], table: KernelTable,
                   kernels_of: Callable[[str], tuple[Sequence[KernelSig], float, Sequence[tuple[str, int]]] | None],
                   layout: int = 0) -> list[MeasuredArch]:
    """The stored architectures with a known text, as :class:`MeasuredArch` (``kernels_of``
    maps a text to its kernel list, the prior's figure, seconds, and its layout terms, counted
    when ``layout`` (the layout block) is not 0; None: a text it cannot read)."""
    out = []
    for key in sorted(medians_ms):
        found = kernels_of(texts[key]) if key in texts else None
        if found is not None:
            out.append(MeasuredArch(key, medians_ms[key], table.sums(found[0], found[2] if layout else ()), found[1]))
    return out


def fit_kernel_sum(what: str, table: KernelTable, archs: Sequence[MeasuredArch], *, precision: str = "fp32",
                   target: str = "cpu", layout: int = 0) -> KernelSumModel:
    """The model fitted on ``archs`` (module docstring); ``what`` names the records
    (``cpu/onnxruntime``); ``layout`` (not 0: the CPU's layout block): the archs' sums count
    ONNX Runtime's layout terms, and so do the model's predictions."""
    sums, ms = [a.sums for a in archs], [a.measured_ms for a in archs]
    per_node: AffinePrior | RooflineModel = table.prior
    if archs:
        per_node = fit_affine_prior(table.prior, [a.prior_s for a in archs], [m / 1e3 for m in ms], what)
    return KernelSumModel(what, table, fit_terms(sums, ms), per_node, archs, terms_error(sums, ms), precision, target,
                          layout)


__all__ = ["CHOOSE_FROM", "KERNEL_RIDGE", "LAYOUT_OFF", "LAYOUT_RIDGES", "choose_ridge", "is_layout", "KernelSumModel", "KernelSums", "KernelTable", "KernelTerms", "MeasuredArch",
           "classes", "features", "fit_kernel_sum", "fit_terms", "kernel_prior_ms", "measured_archs",
           "prior_share", "terms_beta", "terms_error"]
