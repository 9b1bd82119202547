"""The kernel-sum model of a measured host target, from what the latency store holds.

Kept apart from :mod:`.kernel_model` (the arithmetic) because this side reads the store
and parses stored architecture texts: which records count (this host's, one backend and
precision), where an architecture's text is (an arch record's signature, or the ``archs``
table), and the kernel list of each text -- computed once per arch key and kept by the
:class:`ArchKernels` object, since a report refits on many subsets of the same archs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Collection, Sequence

from .kernel_model import KernelSumModel, KernelTable, MeasuredArch, fit_kernel_sum, measured_archs
from .model import network_latency, prior_for
from .ort_layout import named_terms, nchwc_block
from .space_kernels import KernelSig
from .store import LatencyStore

if TYPE_CHECKING:
    from ..ir.ops import OpLibrary


ArchFacts = tuple[tuple[KernelSig, ...], float, tuple[tuple[str, int], ...]]
"""An architecture's kernel list, the prior's figure for it (s) and its :func:`named_terms`."""


class ArchKernels:
    """Kernel list and prior figure (s) of stored architecture texts, each computed once.

    A text that no longer elaborates (stored by an older nasc, say ``nasc profile --archs``
    before its texts were named ``network``; or a custom op this loader cannot find) gives
    None: that arch is left out, as one without a text is."""

    def __init__(self, target: str = "cpu", precision: str = "fp32") -> None:
        self.target = target
        self.precision = precision
        self.lib: "OpLibrary | None" = None
        self.block = nchwc_block()  # this host's: stored texts are this host's measurements
        self._known: dict[str, ArchFacts | None] = {}

    def __call__(self, text: str) -> "ArchFacts | None":
        if text not in self._known:
            from ..api import load_text
            from ..errors import NascError
            from ..frontend.resolve import Loader
            from .decided_kernels import DecidedKernels

            try:
                arch = load_text(text, "<stored arch>", Loader.from_env()).elaborate()
            except NascError:
                self._known[text] = None
                return None
            self.lib = self.lib or arch.ops
            decided = DecidedKernels(arch, self.precision, self.target)
            view = decided.view({})  # one view answers both walks
            kernels = tuple(p.kernel for p in decided.of({}, view))
            self._known[text] = (kernels, network_latency(prior_for(self.target), arch),
                                 named_terms(decided.ops({}, view), self.block))
        return self._known[text]


def measured_threads() -> int:
    """The thread count a measurement uses unless told otherwise (:class:`nasc.backends.MeasureProtocol`'s):
    the configuration the search's models describe."""
    from nasc.backends import MeasureProtocol

    return int(MeasureProtocol.threads)


def kernel_medians(store: LatencyStore, target: str, backend: str, precision: str, host: str,
                   source: str = "measured", threads: int | None = None, fastest: bool = False,
                   beside: str = "") -> dict[str, float]:
    """The latest stored median (ms) of each kernel measured on ``host`` (``source``: ``measured``
    here, ``rpc`` on a device behind a tracker) on ``threads`` threads (None: any); with
    ``fastest``, the smallest of its stored medians (rounds of ``nasc profile --kernel-rounds``).
    With ``beside`` (a reference's label), the records timed beside it, and their ratios to it
    instead of milliseconds -- the median of a kernel's ratios unless ``fastest``.

    Why the latest by default: a kernel profiled again after an upgrade is best described by
    its newest record; the fastest suits rounds taken together on a shared host, where load
    only ever adds time.  A ratio to a reference timed in the same moments does not carry the
    host's slow stretches, so its rounds are repeats of one figure, and their median is the
    least noisy (measured on digits: 92% of predictions within +-10% with kernels and archs at
    their median ratio, 86% at the kernels' latest, 80% at both fastest)."""
    import statistics

    values: dict[str, list[tuple[str, float]]] = {}
    for rec in store.query(kind="kernel", target=target, backend=backend, precision=precision, host=host,
                           source=source, threads=threads, beside=beside):
        values.setdefault(rec.key, []).append((rec.created, float(rec.over_reference or 0.0) if beside
                                               else rec.median_ms))
    if fastest:
        return {key: min(v for _, v in rows) for key, rows in values.items()}
    if beside:
        return {key: statistics.median(v for _, v in rows) for key, rows in values.items()}
    return {key: max(rows)[1] for key, rows in values.items()}


def reference_median(store: LatencyStore, beside: str, **filters: str | int | None) -> float | None:
    """The median of ``reference_ms`` over the records timed beside ``beside`` that match
    ``filters``: the milliseconds one reference unit stands for on that host (None: none)."""
    import statistics

    values = [rec.reference_ms for rec in store.query(beside=beside, **filters) if rec.reference_ms]
    return statistics.median(values) if values else None


class KernelSumSource:
    """One measured target's kernel table and measured architectures, read from a store once;
    :meth:`model` fits on all of them or on a subset (a cross-validation fold).

    The target is this host (``device_key`` None: records of source ``measured`` and this
    host's fingerprint) or a device behind a TVM RPC tracker (records of source ``rpc`` and
    host ``rpc:KEY``, what ``nasc profile --rpc`` and the loop store): each is fitted on its
    own measurements only.  This host's kernels and architectures are those timed on
    ``threads`` threads (None: :func:`measured_threads`): one thread count is one configuration
    of the host.  A device's are filtered by ``threads`` only when it is given.  An arch
    measured several times counts once, at the median of its measurements, and a kernel at
    its latest; with ``fastest``, both at their fastest (:data:`.store.ARCH_LATENCY`).

    With ``beside`` (a reference's label, :func:`nasc.bench.reference.beside_label`), only
    records timed beside that reference count, each as its ratio to it times
    :attr:`reference_ms`, the reference's median over those records: the model fits and
    predicts in the reference's units, stated in ms at the reference's usual speed on this
    host, so a process or a minute that ran slow moves neither side."""

    def __init__(self, store: LatencyStore, target: str, backend: str, lib: "OpLibrary", *,
                 precision: str = "fp32", host: str | None = None, device_key: str | None = None,
                 kernels_of: ArchKernels | None = None, threads: int | None = None,
                 fastest: bool = False, beside: str = "") -> None:
        from .host import host_fingerprint, rpc_host
        from .store import arch_medians

        remote = device_key is not None
        self.threads = threads if threads is not None or remote else measured_threads()
        self.what = (f"{target}/{backend}" + (f" via rpc:{device_key}" if remote else "")
                     + (f" at {self.threads} threads" if self.threads not in (None, measured_threads()) else ""))
        self.target, self.backend, self.precision = target, backend, precision
        self.host = rpc_host(device_key or "") if remote else host or host_fingerprint()
        source = "rpc" if remote else "measured"
        kernels = kernel_medians(store, target, backend, precision, self.host, source, self.threads, fastest, beside)
        medians = arch_medians(store, target, backend=backend, precision=precision, source=source,
                               host=self.host, threads=self.threads, beside=beside,
                               of="fastest" if fastest else "median")
        self.reference_ms: float | None = None
        if beside:
            self.reference_ms = reference_median(store, beside, target=target, backend=backend, precision=precision,
                                                 source=source, host=self.host, threads=self.threads) or 0.0
            kernels = {k: v * self.reference_ms for k, v in kernels.items()}
            medians = {k: v * self.reference_ms for k, v in medians.items()}
            self.what += f" beside {beside} (1 unit = {self.reference_ms:.4g} ms here)"
        self.table = KernelTable(kernels, prior_for(target), lib)
        self.kernels_of = kernels_of or ArchKernels(target, precision)
        # ONNX Runtime rewrites this CPU's graphs: its layout block (0: no layout terms)
        self.layout = self.kernels_of.block if backend == "onnxruntime" and not remote else 0
        self.archs: list[MeasuredArch] = measured_archs(store.arch_texts(medians), medians, self.table,
                                                        self.kernels_of, self.layout)

    def model(self, keep: Collection[str] | None = None) -> KernelSumModel:
        """The model fitted on the stored archs (only those of ``keep``, when given)."""
        archs: Sequence[MeasuredArch] = self.archs if keep is None else [a for a in self.archs if a.key in keep]
        return fit_kernel_sum(self.what, self.table, archs, precision=self.precision, target=self.target,
                              layout=self.layout)


def has_kernels(store: LatencyStore, target: str, backend: str, precision: str = "fp32",
                host: str | None = None, threads: int | None = None, beside: str | None = None) -> bool:
    """Whether ``host`` (None: this one, timed on ``threads`` threads, None: on
    :func:`measured_threads`) has kernel records for the target, backend and precision
    (timed beside the workload ``beside`` names only, "" alone only, when given)."""
    from .host import host_fingerprint

    return bool(store.keys("kernel", target, backend, precision, host=host or host_fingerprint(),
                           threads=None if host else threads or measured_threads(), beside=beside))


def kernels_timed(store: LatencyStore, target: str, backend: str, threads: int | None = None) -> str | None:
    """How this host's kernel records of ``target``/``backend`` at ``threads`` threads were
    timed: "" alone, the label of nasc's reference workload when they were timed beside it
    only (``nasc profile --beside-reference``), None when there are none.

    Why alone first: a build runs alone in the user's process, so records timed alone are
    the direct measure of what the search predicts; records beside the reference (another
    reference's ratios never mix in) are the next best, and far better than the prior."""
    from ..bench.reference import beside_label

    if has_kernels(store, target, backend, threads=threads, beside=""):
        return ""
    label = beside_label()
    return label if has_kernels(store, target, backend, threads=threads, beside=label) else None


__all__ = ["ArchFacts", "ArchKernels", "KernelSumSource", "has_kernels", "kernel_medians", "kernels_timed",
           "measured_threads"]
