"""fuse: kernel units, stable signatures (golden), and agreement with TVM's own fusion."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nasc.passes.signature import kernel_signature, kernel_signature_key
from nasc.passes.verify import verify
from passes_testlib import (DIGITS_ARCH, GOLDEN, GOLDEN_ARCH, UPDATE, example_archs, fixed_ir, frozen_example,
                            load_graph, random_archnet, run, torch_threads)

HAS_TVM = importlib.util.find_spec("tvm") is not None


def signature_table(path: Path) -> str:
    ir, _, _, lib = fixed_ir(path)
    fused = run(ir, lib, "fold-bn,fuse")
    return "".join(f"{kernel_signature_key(fused, k)}  {k.rule:14s} {kernel_signature(fused, k)}\n"
                   for k in fused.kernels or ())


@pytest.mark.parametrize("path", [GOLDEN_ARCH, DIGITS_ARCH], ids=["golden_arch", "digits_found"])
def test_signatures_golden(path: Path) -> None:
    """Keys depend only on op names, int attributes, shapes and precision, so they are
    the same in every run and on every machine; the golden file pins them."""
    text = signature_table(path)
    golden = GOLDEN / f"signatures_{path.stem}.txt"
    if UPDATE:
        golden.write_text(text)
    assert golden.exists(), (f"golden file {golden.name} is missing: write it with NASC_UPDATE_GOLDEN=1 and review "
                             "it; a missing golden file never passes")
    assert text == golden.read_text()


def test_signatures_identical_in_a_fresh_process() -> None:
    """A second run in another interpreter (other hash seed, other object ids) gives the same keys."""
    code = ("import sys; sys.path.insert(0, %r); from test_pass_fuse import signature_table; "
            "from passes_testlib import DIGITS_ARCH; print(signature_table(DIGITS_ARCH), end='')"
            % str(Path(__file__).parent))
    env = dict(os.environ, PYTHONHASHSEED="12345", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         check=True)
    assert out.stdout == signature_table(DIGITS_ARCH)


def test_kernels_partition_every_example(tmp_path: Path) -> None:
    """On a random arch of every example: every computing node in exactly one unit, units are
    single-output chains in a runnable order (verify), and fusion changes no number."""
    from nasc.passes.execute import OptNet
    from passes_testlib import example_input

    with torch_threads(1):
        for ex in example_archs():
            ir, net, graph, lib = fixed_ir(frozen_example(ex, tmp_path))
            fused = run(ir, lib, "fold-bn,fuse")
            verify(fused, lib)
            assert fused.kernels and len(fused.kernels) < len(list(fused.ops())), ex.stem
            x = example_input(graph, 1)
            with torch.no_grad():
                a, b = OptNet(run(ir, lib, "fold-bn"), lib)(x), OptNet(fused, lib)(x)
            assert torch.equal(a, b), ex.stem


def test_units_follow_the_rules() -> None:
    ir, _, _, lib = fixed_ir(GOLDEN_ARCH)
    fused = run(ir, lib, "fold-bn,fuse")
    patterns = {"+".join(fused.node(m).op or "" for m in k.nodes): k.rule for k in fused.kernels or ()}
    assert patterns["conv+relu"] == "conv_bias_act"  # conv + folded BN bias + act
    assert patterns["conv+add"] == "conv_add_act"  # the residual add joins its latest producer
    assert patterns["dwconv+relu6"] == "dwconv_act"
    assert patterns["max_pool"] == "pool"
    assert patterns["linear"] == "linear_act"
    assert patterns["conv+add+bn+relu"] == "conv_add_act"  # an unfoldable BN runs in the epilogue
    # the ReLU that starts relu_conv_bn reads a value that is also used elsewhere: its own unit
    assert patterns["relu"] == "eltwise"


def _tvm_calls(path: Path) -> list[str]:
    """The fused kernels TVM calls for this arch, through the TVM backend's own front half:
    BN folded in torch (``fold_batchnorm``), ``torch.export``, ``relax_from_program``, then
    the fusion passes of TVM's CPU default pipeline (LegalizeOps .. FuseTIR)."""
    import tvm
    from tvm import relax

    from nasc.backends.torch_ref.model import export_program, fold_batchnorm, inference_copy
    from nasc.backends.tvm.convert import relax_from_program

    graph, lib, _ = load_graph(path)
    m, _ = fold_batchnorm(inference_copy(random_archnet(graph, lib)), 1)
    shape = [d if isinstance(d, int) else 1 for d in graph.node(graph.inputs[0]).shape]
    mod = relax_from_program(export_program(m, {"x": torch.randn(*shape).numpy()}))
    seq = tvm.transform.Sequential([relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(),
                                    relax.transform.FoldConstant(), relax.transform.FuseOps(),
                                    relax.transform.FuseTIR()])
    with tvm.target.Target({"kind": "llvm", "mcpu": "x86-64", "num-cores": 2}):
        fused = seq(mod)
    return re.findall(r"R\.call_tir\((\w+),", fused["main"].script())


@pytest.mark.tvm
@pytest.mark.skipif(not HAS_TVM, reason="apache-tvm not installed (pip install 'nasc[tvm]')")
def test_kernel_count_matches_tvm(tmp_path: Path) -> None:
    """Our unit count equals the number of fused kernels TVM's FuseOps produces.

    Measured differences, and why (none changes what a unit computes):
    * which producer absorbs a merge can differ: we give an add to its *latest* producer
      (it can only run when all inputs exist); TVM lets whichever anchor its partitioner
      visits first take it and schedules the other input earlier.  Same count.
    * an n-ary ``sum`` is one node for us and a chain of binary adds in torch/TVM; each
      binary add is absorbed by one of the convs feeding it, so the count is the same.
    * edge_budget (below): after an *unfolded* BN (decomposed by TVM into
      subtract/divide/multiply/add), TVM ends the epilogue and runs the following ReLU as its
      own kernel (``fused_relu2``); our rules keep conv+add+bn+relu together -> TVM has 1 more.
    """
    cases = {DIGITS_ARCH: 0, frozen_example(Path(__file__).parents[2] / "examples" / "digits.nas", tmp_path): 0,
             frozen_example(Path(__file__).parents[2] / "examples" / "edge_budget.nas", tmp_path): 1}
    for path, tvm_extra in cases.items():
        ir, _, _, lib = fixed_ir(path)
        ours = len(run(ir, lib, "fold-bn,fuse").kernels or ())
        calls = _tvm_calls(path)
        assert len(calls) == ours + tvm_extra, (path.name, ours, calls)


def test_signature_json_in_ir_dump() -> None:
    ir, _, _, lib = fixed_ir(DIGITS_ARCH)
    doc = json.loads(run(ir, lib, "fold-bn,fuse").to_json_text())
    keys = [k["key"] for k in doc["kernels"]]
    assert len(keys) == len(doc["kernels"]) and all(re.fullmatch(r"[0-9a-f]{16}", k) for k in keys)
    # identical kernels (same ops, shapes, precision) share a key: that is what a latency table wants
    assert len(set(keys)) < len(keys)
