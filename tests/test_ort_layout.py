"""ONNX Runtime's graph rewrites predicted from nasc's graph (nasc.latency.ort_layout).

The rules are checked twice: on small graphs whose rewrite can be worked out by hand, and
against ONNX Runtime itself -- an architecture built by the onnxruntime backend, optimized
by a real session, whose optimized graph's node counts must be the predicted ones.  The
kernel-sum model is then checked to use the terms: a latency law with a cost per layout
change is recovered only when the terms are counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nasc import api
from nasc.backends.onnxruntime import optimized_op_counts
from nasc.latency.decided_kernels import DecidedKernels
from nasc.latency.ort_layout import OpNode, layout_terms, nchwc_block

from .conftest import EXAMPLES


def _n(ref: str, op: str, inputs: tuple[str, ...], channels: int, *, weighted: bool = False, size: int = 8,
       **attrs) -> OpNode:
    return OpNode(ref, op, attrs, inputs, ("B", channels, size, size), weighted)


def _x(channels: int) -> OpNode:
    return _n("x", "input", (), channels, weighted=True)


def _conv(ref: str, src: str, channels: int) -> OpNode:
    return _n(ref, "conv", (src,), channels, weighted=True, C=channels, k=3, stride=1, groups=1)


def test_a_conv_read_by_its_activation_alone_takes_it():
    terms = layout_terms([_x(16), _conv("c", "x", 16), _n("r", "relu", ("c",), 16)], ["r"], 16)
    assert terms == {"fused_relu [16,8,8]": 1, "reorder_in [16,8,8]": 1, "reorder_out [16,8,8]": 1}


def test_a_value_read_twice_keeps_its_activation_and_common_ops_run_once():
    # two identical ReLUs of one conv: r2 is r1 after the elimination, so c has one reader and takes it
    graph = [_x(16), _conv("c", "x", 16), _n("r1", "relu", ("c",), 16), _n("r2", "relu", ("c",), 16),
             _conv("d", "r1", 16), _conv("e", "r2", 16), _n("s", "add", ("d", "e"), 16)]
    terms = layout_terms(graph, ["s"], 16)
    assert terms["relu [16,8,8]"] == 0 and terms["fused_relu [16,8,8]"] == 1
    assert terms["fused_add [16,8,8]"] == 1  # d + e: d read only by the add takes it as its sum
    assert terms["reorder_in [16,8,8]"] == 1 and terms["reorder_out [16,8,8]"] == 1


def test_an_op_outside_the_layout_reorders_its_input_back():
    graph = [_x(16), _conv("c", "x", 16), _n("z", "zero", ("c",), 16, stride=1), _n("r", "relu", ("c",), 16),
             _n("p", "avg_pool", ("z",), 16, k=3)]
    terms = layout_terms(graph, ["p", "r"], 16)
    # the zero reads c in the plain layout, and the pool reorders the zero's output in again;
    # x goes in, and c, p and r come out (c for the zero, p and r as outputs)
    assert terms["reorder_in [16,8,8]"] == 2 and terms["reorder_out [16,8,8]"] == 3
    assert terms["zero [16,8,8]"] == 1 and terms["relu [16,8,8]"] == 1 and terms["avg_pool [16,8,8]"] == 1


def test_a_zero_of_a_conv_read_by_nothing_else_is_folded_into_it():
    graph = [_x(16), _conv("c", "x", 16), _n("z", "zero", ("c",), 16, stride=1), _conv("d", "x", 16),
             _n("s", "add", ("z", "d"), 16)]
    terms = layout_terms(graph, ["s"], 16)
    assert terms["fused_zero [16,8,8]"] == 1 and terms["zero [16,8,8]"] == 0
    # the folded conv stays blocked, so the add follows the layout and takes a conv's sum input
    assert terms["fused_add [16,8,8]"] == 1 and terms["reorder_in [16,8,8]"] == 1
    assert terms["reorder_out [16,8,8]"] == 1


def test_narrow_convs_read_the_plain_layout_and_narrow_pools_stay_plain():
    graph = [_x(1), _conv("a", "x", 8), _conv("b", "a", 8), _n("m", "max_pool", ("b",), 8, k=2)]
    terms = layout_terms(graph, ["m"], 16)
    # a reads the 1-channel input directly; b (8 < 16 input channels) needs a's output plain again
    assert terms["reorder_in [1,8,8]"] == 0 and terms["reorder_out [8,8,8]"] == 2
    assert terms["max_pool [8,8,8]"] == 1


def test_block_follows_the_cpu_flags():
    assert nchwc_block(["sse2", "avx2", "avx512f"]) == 16
    assert nchwc_block(["sse2", "avx2"]) == 8
    assert nchwc_block(["neon"]) == 4


@pytest.mark.parametrize("example,seed", [("nb201.nas", 3), ("nb201.nas", 11), ("nb201.nas", 36), ("digits.nas", 8)])
def test_prediction_is_what_onnx_runtime_does(example, seed, tmp_path):
    """The onnxruntime backend's build of a random architecture, optimized by ONNX Runtime on
    this CPU: its layout changes, adds, ReLUs and multiplies (``zero``) are the predicted ones.
    NB201 seed 36 multiplies convolutions read by nothing else by zero (folded into them),
    digits seed 8 has narrow convolutions reading blocked values."""
    from nasc.deploy import build_arch
    from nasc.latency.sources import decided_arch

    compiled = api.load(EXAMPLES / example)
    space = compiled.elaborate()
    assignment = api.random_assignment(space, seed)
    arch = decided_arch(compiled, space, assignment)
    built = build_arch(api.load_text(arch.text, "<arch>", compiled.loader), tmp_path / "a", backend="onnxruntime")
    ort = optimized_op_counts(Path(built.entry_path), tmp_path)
    terms = layout_terms(*DecidedKernels(space).ops(assignment), nchwc_block())

    def total(prefix: str) -> int:
        return sum(n for name, n in terms.items() if name.startswith(prefix + " "))

    assert (total("reorder_in"), total("reorder_out")) == (ort["ReorderInput"], ort["ReorderOutput"])
    assert (total("add"), total("zero"), total("relu")) == (ort["Add"], ort["Mul"], ort["Relu"])


def test_the_onnx_runtime_model_counts_the_layout_terms(tmp_path):
    """A latency law with a cost per layout change (as ONNX Runtime pays it) is recovered on
    architectures the fit never saw by the onnxruntime kernel-sum model, which counts the
    terms, and not by the same records read as another backend's (kernel classes only)."""
    import dataclasses

    from nasc.latency.arch_kernels import arch_key, canonical_arch_text
    from nasc.latency.kernel_model import KernelSumModel
    from nasc.latency.resolve import latency_model_for
    from nasc.latency.space_kernels import space_kernels
    from nasc.latency.store import LatencyStore

    from .test_latency_predictor import _record, kernel_ms

    compiled = api.load(EXAMPLES / "nb201.nas")
    space = compiled.elaborate()
    decided = DecidedKernels(space)
    block = nchwc_block()

    def law_ms(assignment: dict) -> float:
        kernels = [p.kernel for p in decided.of(assignment)]
        terms = layout_terms(*decided.ops(assignment), block)
        reorders = sum(n for name, n in terms.items() if name.startswith("reorder"))
        return 0.004 + 0.8 * sum(kernel_ms(k.key) for k in kernels) + 0.003 * reorders

    with LatencyStore(tmp_path / "lat.sqlite") as store:
        kernels = space_kernels(space, compiled.loader.ops).kernels
        records = [_record("kernel", k.key, kernel_ms(k.key), k.signature) for k in kernels]
        for seed in range(40):
            assignment = api.random_assignment(space, seed)
            arch = compiled.elaborate(space.name, api.pins_from_assignment(assignment))
            text = canonical_arch_text(arch, compiled.loader.ops)
            records.append(_record("arch", arch_key(text), law_ms(assignment), text))
        store.put(records)
        store.put(dataclasses.replace(r, backend="tvm") for r in records)
        with_terms = latency_model_for("cpu", store, space)
        without = latency_model_for("cpu", store, space, backend="tvm")
    assert isinstance(with_terms, KernelSumModel) and isinstance(without, KernelSumModel)
    assert "ONNX Runtime layout terms" in with_terms.name and "layout" not in without.name
    errors: dict[str, list[float]] = {"with": [], "without": []}
    for seed in range(100, 110):
        assignment = api.random_assignment(space, seed)
        truth = law_ms(assignment) / 1e3
        errors["with"].append(abs(with_terms.decided_latency(space, assignment) / truth - 1))
        errors["without"].append(abs(without.decided_latency(space, assignment) / truth - 1))
    assert max(errors["with"]) < 0.02
    assert sorted(errors["without"])[5] > 0.03  # the median without the terms is off
