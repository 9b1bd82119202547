"""Pass infrastructure: pipeline strings, option types, errors, instruments, the CLI contract."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from nasc.cli import main
from nasc.errors import NascError
from nasc.passes.base import (PassContext, PassFailure, PassRegistry, PassResult, PipelineError, PrintAfterEach,
                              TimePasses, VerifyEach, parse_pipeline, pass_text)
from nasc.passes.optir import OptIR
from nasc.passes.registry import default_registry
from passes_testlib import DIGITS_ARCH, GOLDEN_ARCH, fixed_ir


def texts(pipeline: str) -> list[str]:
    return [pass_text(p) for p in parse_pipeline(pipeline, default_registry()).passes]


def test_parse_the_issue_pipeline() -> None:
    pipe = parse_pipeline("fold-bn,fuse,mixed-precision{dtype=fp16},quantize{scheme=int8,calib=256}",
                          default_registry())
    assert [p.name for p in pipe.passes] == ["fold-bn", "fuse", "mixed-precision", "quantize"]
    q = pipe.passes[3]
    assert (q.scheme, q.calib, q.per_channel, q.observer) == ("int8", 256, True, "minmax")
    # options equal to their defaults are not repeated in the canonical text
    assert pipe.text() == "fold-bn,fuse,mixed-precision,quantize"


def test_option_types_and_whitespace() -> None:
    assert texts(" quantize { calib = 32 , per_channel = false , observer = entropy } ") == [
        "quantize{calib=32,per_channel=false,observer=entropy}"]
    assert texts("mixed-precision{dtype=bf16,keep_last=false}") == ["mixed-precision{dtype=bf16,keep_last=false}"]
    assert texts("quantize{percentile=99.9,observer=percentile}") == [
        "quantize{observer=percentile,percentile=99.9}"]
    assert texts("") == []


@pytest.mark.parametrize("pipeline,message", [
    ("fold-bnn", "unknown pass 'fold-bnn'; did you mean 'fold-bn'?"),
    ("fold-bn,fuze", "unknown pass 'fuze'; did you mean 'fuse'?"),
    ("mixed-precison{dtype=fp16}", "did you mean 'mixed-precision'?"),
    ("quantise", "did you mean 'quantize'?"),
    ("quantize{calb=8}", "pass 'quantize' has no option 'calb'; did you mean 'calib'?"),
    ("quantize{calib=many}", "option 'calib' of pass 'quantize' must be an integer; got 'many'"),
    ("quantize{per_channel=yes}", "must be true or false"),
    ("quantize{observer=entropie}", "must be one of minmax, percentile, entropy; got 'entropie'; "
                                    "did you mean 'entropy'?"),
    ("mixed-precision{dtype=fp8}", "must be one of fp16, bf16"),
    ("quantize{calib=0}", "pass 'quantize': calib must be at least 1 sample"),
    ("fuse{target=jetson-orin-nan}", "did you mean 'jetson-orin-nano'?"),
    ("quantize{calib=1,calib=2}", "option 'calib' given twice"),
    ("fold-bn,", "expected a pass name, found end of pipeline"),
    ("fold-bn fuse", "expected ',' between passes, found 'fuse'"),
    ("quantize{calib=8", "expected ',' or '}', found end of pipeline"),
    ("quantize{calib}", "expected '=', found '}'"),
])
def test_pipeline_errors(pipeline: str, message: str) -> None:
    with pytest.raises(PipelineError) as e:
        parse_pipeline(pipeline, default_registry())
    assert message in e.value.message
    if "unknown pass" in message:
        assert "known passes: fold-bn, fuse, mixed-precision, quantize" in e.value.message


def test_pipeline_error_renders_with_a_caret() -> None:
    with pytest.raises(PipelineError) as e:
        parse_pipeline("fold-bn,fuze,quantize", default_registry())
    lines = e.value.render().splitlines()
    assert lines[0].startswith("<pipeline>:1:9: error: unknown pass 'fuze'")
    assert lines[1:] == ["    fold-bn,fuze,quantize", "            ^~~~"]


def test_registries_are_independent_objects() -> None:
    a, b = default_registry(), default_registry()
    assert a is not b and a.names() == b.names()

    @dataclass(frozen=True)
    class Extra:
        name: ClassVar[str] = "extra"

        def run(self, ir: OptIR, ctx: PassContext) -> PassResult:
            return PassResult(ir)

    a.register(Extra)
    assert "extra" in a and "extra" not in b
    with pytest.raises(ValueError, match="already registered"):
        a.register(Extra)

    @dataclass
    class Mutable:
        name: ClassVar[str] = "mutable"

    with pytest.raises(ValueError, match="frozen dataclass"):
        PassRegistry().register(Mutable)


def test_failure_names_the_pass_and_its_predecessors() -> None:
    ir, _, _, lib = fixed_ir(GOLDEN_ARCH)
    pipe = parse_pipeline("fold-bn,fuse,fold-bn", default_registry())
    with pytest.raises(PassFailure) as e:
        pipe.run(ir, PassContext(lib))
    msg = e.value.message
    assert msg.startswith("pass 'fold-bn' (3 of 3, after fold-bn, fuse) failed: ")
    assert "run it before fuse and quantize" in msg
    assert e.value.before == ("fold-bn", "fuse")


def test_verify_each_names_the_pass_that_broke_the_ir() -> None:
    @dataclass(frozen=True)
    class DropWeights:
        """A broken pass: forgets a conv's weights."""

        name: ClassVar[str] = "drop-weights"

        def run(self, ir: OptIR, ctx: PassContext) -> PassResult:
            first = next(n.id for n in ir.ops() if n.op == "conv")
            return PassResult(ir.evolve(weights={k: v for k, v in ir.weights.items() if k != first}))

    reg = default_registry()
    reg.register(DropWeights)
    ir, _, _, lib = fixed_ir(GOLDEN_ARCH)
    pipe = parse_pipeline("fold-bn,drop-weights,fuse", reg)
    with pytest.raises(PassFailure) as e:
        pipe.run(ir, PassContext(lib), [VerifyEach(lib)])
    assert e.value.message.startswith("the IR after pass 'drop-weights' (2 of 3, after fold-bn) is invalid: "
                                      "%1 (conv) has no 'weight' tensor")
    # without the verifier the bug surfaces later, as an internal error annotated with the pass
    with pytest.raises(Exception) as e2:
        parse_pipeline("fold-bn,drop-weights,quantize", reg).run(ir, PassContext(lib))
    assert not isinstance(e2.value, NascError)
    assert any("raised by pass 'quantize' (3 of 3, after fold-bn, drop-weights)" in n
               for n in getattr(e2.value, "__notes__", []))


def test_instruments_print_and_time() -> None:
    ir, _, _, lib = fixed_ir(GOLDEN_ARCH)
    buf = io.StringIO()
    timer = TimePasses()
    parse_pipeline("fold-bn,fuse", default_registry()).run(ir, PassContext(lib), [PrintAfterEach(buf), timer])
    out = buf.getvalue()
    assert out.index("// ----- IR before the pipeline -----") < out.index("// ----- IR after fold-bn -----") \
        < out.index("// ----- IR after fuse -----")
    assert "kernel k0 conv_bias_act" in out.split("after fuse")[1]
    report = timer.report()
    assert "wall clock, time.perf_counter" in report and "fold-bn" in report and "total" in report


def test_cli_unknown_pass_exits_2_with_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["opt", str(DIGITS_ARCH), "-w", str(tmp_path / "none.safetensors"), "-p", "fold-bn,fsue",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert "<pipeline>:1:9: error: unknown pass 'fsue'; did you mean 'fuse'?" in err
    assert "^~~~" in err


def test_cli_opt_writes_the_contract_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`nasc opt` on random weights: ir.json, weights.safetensors, model.onnx, opt.json with passes
    and (the digits experiment has data) accuracy before/after as fractions."""
    from safetensors.torch import save_file

    from passes_testlib import load_graph, random_archnet, torch_threads

    graph, lib, _ = load_graph(DIGITS_ARCH)
    w = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in random_archnet(graph, lib).state_dict().items()}, str(w))
    out = tmp_path / "opt"
    with torch_threads(1):
        code = main(["opt", str(DIGITS_ARCH), "-w", str(w), "-p", "fold-bn,fuse", "--out", str(out),
                     "--verify-each", "--time-passes"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "pass execution times" in cap.err
    for f in ("ir.json", "weights.safetensors", "model.onnx", "opt.json"):
        assert (out / f).is_file(), f
    doc = json.loads((out / "opt.json").read_text())
    assert [p["name"] for p in doc["passes"]] == ["fold-bn", "fuse"]
    assert doc["passes"][0]["stats"]["folded"] == 6 and doc["passes"][0]["stats"]["left"] == 0
    assert 0.0 <= doc["accuracy_before"] <= 1.0 and 0.0 <= doc["accuracy_after"] <= 1.0
    assert doc["accuracy_after"] == doc["accuracy_before"]  # folding and fusion change no prediction
    ir = json.loads((out / "ir.json").read_text())
    assert ir["format"] == "nasc-opt-ir/1" and ir["passes"] == ["fold-bn", "fuse"] and ir["kernels"]


@pytest.mark.parametrize("flags,verified", [([], True), (["--verify-each"], True), (["--no-verify-each"], False)])
def test_cli_verifies_between_passes_unless_told_not_to(flags: list[str], verified: bool, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Verification is on by default; --no-verify-each turns it off; --verify-each (once the way
    to turn it on) is still accepted and changes nothing."""
    import nasc.passes.driver as driver

    seen: list[list[object]] = []

    def fake_optimize(*args: object, instruments: list[object], **kwargs: object) -> object:
        seen.append(list(instruments))
        raise NascError("stop here")

    monkeypatch.setattr(driver, "optimize", fake_optimize)
    code = main(["opt", str(DIGITS_ARCH), "-w", str(tmp_path / "w.safetensors"), "-p", "fold-bn",
                 "--out", str(tmp_path / "o"), *flags])
    assert code == 2 and len(seen) == 1
    assert any(isinstance(i, VerifyEach) for i in seen[0]) is verified


@pytest.mark.parametrize("name", default_registry().names())
def test_every_registered_pass_runs_verified_and_is_documented(name: str) -> None:
    """Parametrized over the registry: a new pass is tested the day it is registered."""
    from nasc.passes.opt_command import EPILOG
    from passes_testlib import random_calibration

    ir, _, graph, lib = fixed_ir(GOLDEN_ARCH)
    reg = default_registry()
    pipe = parse_pipeline(name, reg)
    out = pipe.run(ir, PassContext(lib, random_calibration(graph)), [VerifyEach(lib)]).ir
    assert out.applied == (name,)
    entry = next(d for d in reg.describe() if d["name"] == name)
    assert entry["doc"], f"pass '{name}' needs a docstring"
    assert name in EPILOG and all(o["name"] in EPILOG for o in entry["options"] if name != "fold-bn")


def test_empty_pipeline_still_verifies_and_prints() -> None:
    ir, _, _, lib = fixed_ir(GOLDEN_ARCH)
    buf = io.StringIO()
    run = parse_pipeline("", default_registry()).run(ir, PassContext(lib), [VerifyEach(lib), PrintAfterEach(buf)])
    assert run.ir is ir and run.records == ()
    assert "IR before the pipeline" in buf.getvalue()
