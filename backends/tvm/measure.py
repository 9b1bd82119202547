"""Timing TVM artifacts: locally (same Python loop as the other backends), per kernel
(``vm.set_instrument``; the Relax VM in 0.27 has no profiler), or through an RPC tracker."""

from __future__ import annotations

import collections
import time
from typing import Any, Callable, Mapping

import numpy as np

from ..base import Artifact, KernelTime, LatencyRecord, MeasureProtocol, MeasurementUnavailable
from ..hostinfo import kept_affinity
from ..timing import make_record, random_inputs, time_calls

TVM_DISTS = ("apache-tvm", "apache-tvm-ffi")


def set_threads(n: int) -> None:
    """Size TVM's CPU thread pool (mode 1 = big cores)."""
    import tvm

    tvm.get_global_func("runtime.config_threadpool")(1, n)


def local_device(artifact: Artifact, target_kind: str) -> Any:
    import tvm

    if target_kind == "cpu":
        return tvm.cpu(0)
    if target_kind == "cuda":
        dev = tvm.cuda(0)
        if not dev.exist:
            raise MeasurementUnavailable(f"{artifact.dir} is a CUDA artifact and this machine has no usable GPU")
        return dev
    raise MeasurementUnavailable(
        f"{artifact.dir} is built for {artifact.target}; measure it on the device with "
        "--rpc HOST:PORT --device-key KEY (TVM RPC tracker), or run run_on_device.py there")


def load_vm(artifact: Artifact, dev: Any) -> Any:
    import tvm
    from tvm.runtime.vm import VirtualMachine

    return VirtualMachine(tvm.runtime.load_module(str(artifact.entry_path)), dev)


def outputs_to_numpy(out: Any) -> list[np.ndarray]:
    if hasattr(out, "numpy"):
        return [out.numpy()]
    flat: list[np.ndarray] = []
    for o in out:
        flat.extend(outputs_to_numpy(o))
    return flat


def measure_local(artifact: Artifact, protocol: MeasureProtocol, target_kind: str) -> LatencyRecord:
    """Time the artifact in this process; TVM's thread pool pins the process to one core,
    which :func:`~nasc.backends.hostinfo.kept_affinity` undoes afterwards."""
    with kept_affinity():
        return _measure_local(artifact, protocol, target_kind)


def local_call(artifact: Artifact, protocol: MeasureProtocol,
               target_kind: str) -> tuple[Callable[[], None], Any, list[Any], Callable[[], None]]:
    """One synchronized call of the artifact on the protocol's random inputs, with the VM, its
    arguments and the device sync it uses: what a local measurement times, alone or beside
    another artifact in one process (``timed_call``).  Sizes TVM's thread pool, which pins
    this process to cores; callers that go on with other work restore the affinity."""
    import tvm

    dev = local_device(artifact, target_kind)
    set_threads(protocol.threads)
    vm = load_vm(artifact, dev)
    args = [tvm.runtime.tensor(v, dev) for v in random_inputs(artifact, protocol.seed).values()]
    main = vm["main"]
    sync = dev.sync if target_kind != "cpu" else (lambda: None)

    def call() -> None:
        main(*args)
        sync()

    return call, vm, args, sync


def _measure_local(artifact: Artifact, protocol: MeasureProtocol, target_kind: str) -> LatencyRecord:
    call, vm, args, sync = local_call(artifact, protocol, target_kind)
    samples = time_calls(call, protocol)
    kernels = per_kernel(vm, args, protocol, sync) if protocol.per_kernel else ()
    notes = [f"TVM thread pool: {protocol.threads} threads"] if target_kind == "cpu" else []
    if kernels:
        notes.append("per-kernel times from a separate instrumented pass (vm.set_instrument), "
                     "not included in median_ms")
    return make_record(samples, artifact=artifact, protocol=protocol, how="measured locally",
                       extra_dists=TVM_DISTS, per_kernel=kernels, notes=notes)


def per_kernel(vm: Any, args: list[Any], protocol: MeasureProtocol, sync: Callable[[], None]) -> tuple[KernelTime, ...]:
    """Median time of each called kernel per run, named by TVM's fused-op symbol
    (e.g. ``fused_conv2d1_add_relu``); VM builtins (``vm.builtin.*``) are left out."""
    runs = max(1, protocol.repeats)
    totals: dict[str, np.ndarray] = collections.defaultdict(lambda: np.zeros(runs))
    calls: collections.Counter[str] = collections.Counter()
    started: dict[str, float] = {}
    current = [0]

    def instrument(func: Any, name: str, before_run: bool, ret_value: Any, *rest: Any) -> int:
        if name.startswith("vm."):
            return 0
        sync()
        if before_run:
            started[name] = time.perf_counter()
        else:
            totals[name][current[0]] += time.perf_counter() - started.pop(name)
            calls[name] += 1
        return 0  # VMInstrumentReturnKind.NO_OP

    vm.set_instrument(instrument)
    try:
        for i in range(runs):
            current[0] = i
            vm["main"](*args)
        sync()
    finally:
        vm.set_instrument(lambda *a: 0)
    out = [KernelTime(name=n, median_us=float(np.median(t) * 1e6), calls_per_run=round(calls[n] / runs))
           for n, t in totals.items()]
    return tuple(sorted(out, key=lambda k: -k.median_us))


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit():
        raise MeasurementUnavailable(f"--rpc wants HOST:PORT of a TVM RPC tracker, got {endpoint!r}")
    return host, int(port)


def measure_rpc(artifact: Artifact, protocol: MeasureProtocol, target_kind: str) -> LatencyRecord:
    """Upload the library to a device registered with the tracker and time it there."""
    import tvm
    from tvm import rpc
    from tvm.runtime.vm import VirtualMachine

    assert protocol.rpc is not None and protocol.device_key is not None
    host, port = parse_endpoint(protocol.rpc)
    try:
        tracker = rpc.connect_tracker(host, port)
        remote = tracker.request(protocol.device_key, priority=1, session_timeout=protocol.rpc_timeout_s)
    except (RuntimeError, OSError, tvm.error.RPCError) as e:
        raise MeasurementUnavailable(f"could not get device '{protocol.device_key}' from tracker "
                                     f"{protocol.rpc}: {e}") from None
    remote.upload(str(artifact.entry_path))
    rlib = remote.load_module(artifact.entry)
    dev = remote.cpu(0) if target_kind == "cpu" else remote.cuda(0)
    if target_kind == "cpu":
        remote.get_function("runtime.config_threadpool")(1, protocol.threads)
    vm = VirtualMachine(rlib, dev)
    args = [tvm.runtime.tensor(v, dev) for v in random_inputs(artifact, protocol.seed).values()]
    if protocol.warmup:
        vm.time_evaluator("main", dev, number=protocol.warmup, repeat=1)(*args)
    res = vm.time_evaluator("main", dev, number=protocol.number, repeat=protocol.repeats)(*args)
    samples = [r * 1e3 for r in res.results]
    return make_record(samples, artifact=artifact, protocol=protocol,
                       how=f"measured via rpc (tracker {protocol.rpc}, device key {protocol.device_key})",
                       timer="tvm time_evaluator on the device: sample = mean of `number` calls; "
                             "median/p90 over `repeats` samples",
                       extra_dists=TVM_DISTS)


def local_runner(artifact: Artifact, target_kind: str) -> Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]:
    """The library loaded once into a VM here; the function runs it on one input dict."""
    import tvm

    dev = local_device(artifact, target_kind)
    vm = load_vm(artifact, dev)

    def run(inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        with kept_affinity():  # TVM's thread pool pins the process to one core (measure_local)
            return outputs_to_numpy(vm["main"](*[tvm.runtime.tensor(np.ascontiguousarray(v), dev)
                                                 for v in inputs.values()]))
    return run


def run_local(artifact: Artifact, inputs: Mapping[str, np.ndarray], target_kind: str) -> list[np.ndarray]:
    return local_runner(artifact, target_kind)(inputs)
