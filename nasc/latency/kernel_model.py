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
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from ..ir.graph import IRGraph, Node
from ..ir.ops import OpLibrary
from .fitted import AffinePrior, fit_affine_prior
from .model import RooflineModel
from .robust_fit import leave_one_out_error
from .space_kernels import KernelSig

if TYPE_CHECKING:
    from ..ir.space import SearchSpace
    from .decided_kernels import DecidedKernels

KERNEL_RIDGE = 1e-2
"""Penalty on ``a`` and ``d`` (relative to the mean measurement) and on ``b - 1``: with few
architectures the fit stays close to the plain kernel sum."""


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

    def predict_ms(self, sums: KernelSums) -> float:
        d = dict(self.dispatch_ms)
        return self.intercept_ms + self.scale * sums.total_ms + sum(d.get(r, 0.0) * n for r, n in sums.counts)


def terms_beta(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[a, b, d_1 .. d_k] for features ``X`` = [kernel sum, count of class 1 .. k] per row and
    measurements ``y`` (ms): minimizes sum(((a + b s + sum d_j n_j) / y - 1)^2)
    + KERNEL_RIDGE ((a / ȳ)^2 + (b - 1)^2 + sum (d_j n̄_j / ȳ)^2)."""
    y = np.asarray(y, dtype=float).reshape(-1)
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    A = np.column_stack([np.ones_like(y), X]) / y[:, None]
    unit = float(np.mean(y))
    counts = np.maximum(X[:, 1:].mean(axis=0), 1e-9)
    penalty = KERNEL_RIDGE * np.diag(np.concatenate([[1 / unit ** 2, 1.0], (counts / unit) ** 2]))
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


def fit_terms(sums: Sequence[KernelSums], measured_ms: Sequence[float]) -> KernelTerms:
    """The terms fitted on architectures' sums and measurements (none: the plain sum)."""
    if not sums:
        return KernelTerms()
    rules = classes(sums)
    beta = terms_beta(features(sums, rules), np.asarray(measured_ms, dtype=float))
    return KernelTerms(float(beta[0]), float(beta[1]), tuple((r, float(d)) for r, d in zip(rules, beta[2:])))


def terms_error(sums: Sequence[KernelSums], measured_ms: Sequence[float]) -> float | None:
    """Median relative error on each architecture when the terms are fitted on the others."""
    return leave_one_out_error(features(sums, classes(sums)), np.asarray(measured_ms, dtype=float), terms_beta)


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

    def sums(self, kernels: Sequence[KernelSig]) -> KernelSums:
        measured = prior = 0.0
        counts: dict[str, int] = {}
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
                 target: str = "cpu") -> None:
        self.what = what
        self.table = table
        self.terms = terms
        self.per_node = per_node
        self.fitted = tuple(fitted)
        self.error = error
        self.precision = precision
        self.target = target
        self._spaces: dict[int, tuple["SearchSpace", "DecidedKernels"]] = {}
        self._decided: dict[tuple[int, tuple[tuple[str, int], ...]], KernelSums] = {}

    @property
    def name(self) -> str:
        err = "n/a" if self.error is None else f"{self.error:.1%}"
        share = prior_share([a.sums for a in self.fitted])
        return (f"kernel-sum:{self.what} ({len(self.table):,} kernels, {len(self.fitted)} archs, err {err}, "
                f"prior share {share:.0%})")

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
            kernels = [p.kernel for p in self._spaces[id(space)][1].of(assignment)]
            self._decided[key] = self.table.sums(kernels)
        return self._decided[key]

    def decided_latency(self, space: "SearchSpace", assignment: Mapping[str, int]) -> float | None:
        return self.terms.predict_ms(self.sums_of(space, assignment)) / 1e3

    def predict_ms(self, sums: KernelSums) -> float:
        return self.terms.predict_ms(sums)


def measured_archs(texts: Mapping[str, str], medians_ms: Mapping[str, float], table: KernelTable,
                   kernels_of: Callable[[str], tuple[Sequence[KernelSig], float] | None]) -> list[MeasuredArch]:
    """The stored architectures with a known text, as :class:`MeasuredArch` (``kernels_of``
    maps a text to its kernel list and the prior's figure, seconds; None: a text it cannot read)."""
    out = []
    for key in sorted(medians_ms):
        found = kernels_of(texts[key]) if key in texts else None
        if found is not None:
            out.append(MeasuredArch(key, medians_ms[key], table.sums(found[0]), found[1]))
    return out


def fit_kernel_sum(what: str, table: KernelTable, archs: Sequence[MeasuredArch], *, precision: str = "fp32",
                   target: str = "cpu") -> KernelSumModel:
    """The model fitted on ``archs`` (module docstring); ``what`` names the records
    (``cpu/onnxruntime``)."""
    sums, ms = [a.sums for a in archs], [a.measured_ms for a in archs]
    per_node: AffinePrior | RooflineModel = table.prior
    if archs:
        per_node = fit_affine_prior(table.prior, [a.prior_s for a in archs], [m / 1e3 for m in ms], what)
    return KernelSumModel(what, table, fit_terms(sums, ms), per_node, archs, terms_error(sums, ms), precision, target)


__all__ = ["KERNEL_RIDGE", "KernelSumModel", "KernelSums", "KernelTable", "KernelTerms", "MeasuredArch",
           "classes", "features", "fit_kernel_sum", "fit_terms", "kernel_prior_ms", "measured_archs",
           "prior_share", "terms_beta", "terms_error"]
