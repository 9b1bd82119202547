"""Which latency model predicts a target, given what the latency store holds.

One place decides, so that the search, its discretization and the reports never ask where
a number comes from -- they get a :class:`~nasc.latency.model.LatencyModel` whose name says:

* a **recorded** device with at least ``recorded.MIN_ARCHS`` stored architectures of an
  NB201-like space: the recorded predictor refitted on them (:mod:`.recorded_cells`),
  ``recorded-fit:recorded-raspi4 (n=12 archs, err 4.1%)``;
* ``cpu`` when this host has kernel records with the chosen backend (``nasc profile``):
  the kernel-sum model (:mod:`.kernel_model`), its terms fitted on this host's stored
  whole-network measurements, ``kernel-sum:cpu/onnxruntime (164 kernels, 30 archs, err
  2.1%, prior share 0%)``; read from the kernels and architectures timed alone, or, when
  the space was profiled beside nasc's reference workload only (``nasc profile
  --beside-reference``), from those timed beside it, in the reference's units
  (:func:`.kernel_source.kernels_timed`); likewise a device behind a TVM RPC tracker (``device_key``) with
  kernel records of its own (``nasc profile --rpc``), fitted on that device's records only;
* a recorded device with fewer, and every other target with stored whole-network
  measurements (``cpu``: of this host, with the chosen backend): the roofline prior with
  fitted terms (:mod:`.fitted`), ``roofline-prior:cpu fitted on cpu/onnxruntime (n=3
  archs, err 7.0%)``;
* nothing stored: the roofline prior itself (:func:`~nasc.latency.model.prior_for`).

``err`` is the median relative error on each stored architecture when fitted on the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from ..targets import resolve_target
from .fitted import fit_affine_prior
from .host import host_fingerprint, rpc_host
from .kernel_source import KernelSumSource, has_kernels, kernels_timed, measured_threads
from .model import LatencyModel, prior_for
from .recorded import MIN_ARCHS
from .recorded_cells import fit_cells
from .store import LatencyStore, arch_medians
from .tuned import TUNED

if TYPE_CHECKING:
    from ..ir.space import SearchSpace

DEFAULT_BACKEND = "onnxruntime"
NB201_FACT = "nb201"
"""The fact (``LatencyStore.describe_arch``) naming an arch's NAS-Bench-201 string."""


def roofline_fact(prior_name: str) -> str:
    """The fact holding an arch's prediction (seconds) by the prior called ``prior_name``."""
    return f"roofline_s@{prior_name}"


def fitted_on(store: LatencyStore, target: str, *, backend: str = DEFAULT_BACKEND,
              device_key: str | None = None, threads: int | None = None) -> dict[str, float]:
    """The stored architectures (key: median ms) a model of ``target`` is fitted on: with a
    ``device_key``, what was measured through RPC on that device with ``backend`` (``tvm`` or
    ``tvm-tuned``: a model of one never mixes in the other); a recorded device's table
    readings; ``cpu``: fp32 measurements with ``backend`` on this host (another CPU's numbers
    say little about this one) timed on ``threads`` threads (None: the count measurements
    use by default, :func:`~nasc.latency.kernel_source.measured_threads`; another count is
    another configuration of the host); any other target: all its arch records."""
    spec = resolve_target(target)
    if device_key is not None:
        return arch_medians(store, spec.name, source="rpc", host=rpc_host(device_key), backend=backend)
    if spec.kind == "recorded":
        return arch_medians(store, spec.name, source="recorded")
    if spec.kind == "cpu":
        return arch_medians(store, spec.name, backend=backend, precision="fp32", source="measured",
                            host=host_fingerprint(), threads=threads or measured_threads())
    return arch_medians(store, spec.name)


def predicted_backend(store: LatencyStore, target: str, backend: str = DEFAULT_BACKEND, *,
                      device_key: str | None = None, threads: int | None = None) -> str:
    """The backend label whose records model ``backend``'s builds of ``target``: ``tvm-tuned``
    for ``tvm`` when the store holds tuned TVM records of this host (or of the RPC device
    ``device_key``), kernels or whole networks, at this thread count; ``backend`` otherwise.

    Why: every TVM build applies the target's tuning database when one exists, and its
    measurement is stored as ``tvm-tuned`` (:func:`.tuned.built_backend`); a tuned profile
    stores its kernels so too.  Predicting a TVM build from the untuned ``tvm`` records on a
    host whose space was tuned would predict the build the user no longer gets, and a
    measuring loop fitted on ``tvm`` would never see its own tuned measurements."""
    spec = resolve_target(target)
    if backend != "tvm" or (device_key is None and spec.kind != "cpu"):  # only this host's and RPC records say
        return backend
    tuned = backend + TUNED
    host = rpc_host(device_key) if device_key is not None else None
    if has_kernels(store, spec.name, tuned, host=host, threads=threads):
        return tuned
    return tuned if fitted_on(store, spec.name, backend=tuned, device_key=device_key, threads=threads) else backend


def latency_model_for(target: str | None, store: LatencyStore | None, space: "SearchSpace", *,
                      backend: str = DEFAULT_BACKEND, device_key: str | None = None,
                      threads: int | None = None) -> LatencyModel:
    """The model of ``target`` (None: ``cpu``) for ``space``, from the records in ``store``
    (None: no store, the prior); ``device_key``: fitted on what that device measured through
    RPC; ``threads``: this host's records of that thread count (None: the default count);
    see the module docstring."""
    spec = resolve_target(target or "cpu")
    prior = prior_for(spec.name)
    if store is None:
        return prior
    backend = predicted_backend(store, spec.name, backend, device_key=device_key, threads=threads)
    beside = kernels_timed(store, spec.name, backend, threads) if device_key is None and spec.kind == "cpu" else None
    if beside is not None:
        return KernelSumSource(store, spec.name, backend, space.ops, threads=threads, beside=beside).model()
    if device_key is not None and has_kernels(store, spec.name, backend, host=rpc_host(device_key)):
        return KernelSumSource(store, spec.name, backend, space.ops, device_key=device_key).model()
    medians = fitted_on(store, spec.name, backend=backend, device_key=device_key, threads=threads)
    what = (f"{spec.name} via rpc:{device_key}" if device_key is not None
            else f"{spec.name}/{backend}" if spec.kind == "cpu" else spec.name)
    facts = store.arch_facts(medians)
    note = ""
    if spec.kind == "recorded":
        known = [(facts[k][NB201_FACT], ms) for k, ms in medians.items() if facts.get(k, {}).get(NB201_FACT)]
        model = fit_cells(space, spec.name, [a for a, _ in known], [ms for _, ms in known])
        if model is not None:
            return model
        note = f"recorded-fit needs {MIN_ARCHS}" if len(known) < MIN_ARCHS else "not an NB201 space"
    pairs = [(facts[k][roofline_fact(prior.name)], ms / 1e3) for k, ms in medians.items()
             if roofline_fact(prior.name) in facts.get(k, {})]
    if not pairs:
        return prior
    return fit_affine_prior(prior, [p for p, _ in pairs], [m for _, m in pairs], what, note)


class LatencyModels:
    """The models of one space's targets, each resolved once and kept: a search and its
    discretization must see the same model even if the store grows meanwhile.

    ``store`` is the latency store's path (None: no store, every target gets its prior);
    a path where no store exists yet reads as an empty store.  ``overrides`` replace the
    resolution for some targets (canonical names): a measuring loop's corrected model.
    ``device_keys`` (canonical target name -> key): targets measured through an RPC tracker,
    whose models are fitted on that device's records.  ``threads``: this host's records of
    that thread count (None: the default count)."""

    def __init__(self, space: "SearchSpace", store: Path | None, *, backend: str = DEFAULT_BACKEND,
                 overrides: Mapping[str, LatencyModel] | None = None,
                 device_keys: Mapping[str, str] | None = None, threads: int | None = None) -> None:
        self.space = space
        self.store = store
        self.backend = backend
        self.threads = threads
        self.device_keys = dict(device_keys or {})
        self._models: dict[str, LatencyModel] = dict(overrides or {})

    def __call__(self, target: str | None) -> LatencyModel:
        name = resolve_target(target or "cpu").name
        if name not in self._models:
            self._models[name] = self._resolve(name)
        return self._models[name]

    def _resolve(self, target: str) -> LatencyModel:
        if self.store is None or not self.store.is_file():
            return latency_model_for(target, None, self.space, backend=self.backend)
        with LatencyStore(self.store, create=False) as store:
            return latency_model_for(target, store, self.space, backend=self.backend,
                                     device_key=self.device_keys.get(target), threads=self.threads)

LatencyResolver = Callable[[str | None], LatencyModel]
"""What the search and discretization ask for a target's model: ``prior_for`` or a
:class:`LatencyModels`."""


def model_identity(latency: LatencyResolver, targets: Iterable[str | None]) -> str:
    """Text that changes whenever the model of one of ``targets`` does, empty while each is
    its plain prior: a search checkpoint's fingerprint takes it, so a resumed search
    continues with the models it began with (and checkpoints from before models could
    change stay valid)."""
    names = sorted({resolve_target(t or "cpu").name for t in targets})
    return "\n".join(repr(latency(t)) for t in names if latency(t) != prior_for(t))


__all__ = ["DEFAULT_BACKEND", "LatencyModels", "LatencyResolver", "NB201_FACT", "arch_medians", "fitted_on",
           "latency_model_for", "model_identity", "predicted_backend", "roofline_fact"]
