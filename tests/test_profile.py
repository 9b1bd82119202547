"""``nasc profile`` and the exact kernel enumeration behind it.

The enumeration is checked against the real pipeline on whole architectures (elaboration
from pins, from_arch, the passes): equal on every architecture of the small fixture
spaces, a superset on sampled NAS-Bench-201 and digits architectures (every one of the
examples' architectures is compared by ``benchmarks/space_kernels.py``).  Then the
micro-models, and ``nasc profile`` end to end: what it stores, a rerun, a run killed with
SIGKILL and resumed, and the errors a user can make.
"""

from __future__ import annotations

import functools
import io
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import torch

from nasc import api
from nasc.backends.torch_ref.model import randomize_bn
from nasc.latency.arch_kernels import arch_key, canonical_arch_text, every_arch, kernels_of_archs
from nasc.latency.micro import SignatureError, micro_ir, parse_signature
from nasc.progress import PlainProgress, RichProgress, progress_for
from nasc.latency.space_kernels import space_kernels
from nasc.latency.store import LatencyStore
from nasc.lower.arch import ArchNet
from nasc.passes.base import PassContext, parse_pipeline
from nasc.passes.execute import OptNet
from nasc.passes.from_arch import from_arch
from nasc.passes.registry import default_registry
from nasc.passes.signature import kernel_signature

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "profile"
EXAMPLES = ROOT / "examples"
QUICK = ["--repeat", "2", "--number", "1", "--warmup", "0"]


@functools.lru_cache(maxsize=None)
def enumerated(path: Path, precision: str) -> frozenset[str]:
    compiled = api.load(path)
    return frozenset(k.signature for k in space_kernels(compiled.elaborate(), compiled.loader.ops,
                                                      precision).kernels)


def seen_in(path: Path, precision: str, assignments: list[dict[str, int]] | None = None) -> set[str]:
    """The union of the kernels of the given architectures (default: all of them), by the real pipeline."""
    compiled = api.load(path)
    space = compiled.elaborate()
    archs = assignments if assignments is not None else list(every_arch(space))
    return {k.signature for ks in kernels_of_archs(compiled, space, archs, precision) for k in ks}


# ---- exact enumeration ------------------------------------------------------------------------

@pytest.mark.parametrize("name,precision", [("edges", "fp32"), ("blocks", "fp32"), ("blocks", "int8")])
def test_enumeration_equals_every_architecture_of_small_spaces(name: str, precision: str) -> None:
    path = FIXTURES / f"{name}.nas"
    assert enumerated(path, precision) == seen_in(path, precision)


def test_every_arch_counts_the_space() -> None:
    compiled = api.load(FIXTURES / "edges.nas")
    space = compiled.elaborate()
    assert len(list(every_arch(space))) == api.summarize(space)["size"] == 180


@pytest.mark.parametrize("example,archs", [("nb201", 40), ("digits", 60)])
def test_enumeration_covers_sampled_architectures(example: str, archs: int) -> None:
    path = EXAMPLES / f"{example}.nas"
    space = api.load(path).elaborate()
    sample = [api.random_assignment(space, seed) for seed in range(archs)]
    found = enumerated(path, "fp32")
    missing = seen_in(path, "fp32", sample) - found
    assert not missing, sorted(missing)[:3]


def test_nb201_enumeration_takes_seconds() -> None:
    compiled = api.load(EXAMPLES / "nb201.nas")
    space = compiled.elaborate()
    t0 = time.process_time()
    result = space_kernels(space, compiled.loader.ops, "fp32")
    cpu = time.process_time() - t0
    assert {k.signature for k in result.kernels} == enumerated(EXAMPLES / "nb201.nas", "fp32")
    assert len(result.kernels) == 164
    assert cpu < 15, f"{cpu:.1f} CPU-seconds"


# ---- micro-models -----------------------------------------------------------------------------

def test_micro_model_of_a_conv_kernel_computes_the_layer_of_the_arch() -> None:
    compiled = api.load(EXAMPLES / "digits.nas")
    space = compiled.elaborate()
    lib = compiled.loader.ops
    arch = compiled.elaborate(space.name, api.pins_from_assignment(api.random_assignment(space, 3)))
    graph = arch.graph.prune()
    torch.manual_seed(0)
    net = randomize_bn(ArchNet(graph, lib), 1)
    ir = from_arch(graph, lib, net.state_dict(), "arch")
    ir = parse_pipeline("fold-bn,fuse", default_registry()).run(ir, PassContext(lib)).ir
    values: dict[int, torch.Tensor] = {}
    x = torch.randn(2, *graph.node(graph.inputs[0]).shape[1:])
    OptNet(ir, lib).run(x, on_value=lambda nid, v: values.__setitem__(nid, v))
    convs = [k for k in ir.kernels or () if k.rule.startswith("conv")]
    assert len(convs) >= 3
    for k in convs:
        external: list[int] = []  # the kernel's inputs in signature order (digits has no alias nodes)
        for m in k.nodes:
            external.extend(i for i in ir.node(m).inputs if i not in k.nodes and i not in external)
        micro = micro_ir(kernel_signature(ir, k), lib, weights=[ir.weights.get(m, {}) for m in k.nodes])
        (y,) = OptNet(micro, lib).run(*[values[i] for i in external])
        assert y.shape == values[k.output].shape
        torch.testing.assert_close(y, values[k.output], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", [FIXTURES / "edges.nas", FIXTURES / "blocks.nas"])
def test_every_enumerated_kernel_reads_back_as_one_kernel(path: Path) -> None:
    lib = api.load(path).loader.ops
    for signature in enumerated(path, "int8") | enumerated(path, "fp32"):
        micro_ir(signature, lib)  # raises unless it plans as exactly this kernel


@pytest.mark.parametrize("text,message", [
    ("fp32 | conv{C=8}(i0); relu(%0) | in i0=[B,8,4,4] | out [B,8,4,4]", "lists them all"),
    ("fp32 | conv2d{C=8}(i0) | in i0=[B,8,4,4] | out [B,8,4,4]", "unknown op 'conv2d'"),
    ("fp32 | relu(i1) | in i0=[B,8,4,4] | out [B,8,4,4]", "does not have"),
    ("fp32 | relu(%0) | in i0=[B,8,4,4] | out [B,8,4,4]", "does not have"),
    ("fp64 | relu(i0) | in i0=[B,8,4,4] | out [B,8,4,4]", "unknown precision"),
    ("fp32 | relu(i0); conv{C=8,k=3,stride=1,groups=1,dilation=1,bias=false}(%0) | in i0=[B,8,4,4] | out [B,8,4,4]",
     "one kernel"),
    ("fp32 | relu(i0 | in", "expected"),
])
def test_a_signature_that_is_not_one_kernel_is_refused(text: str, message: str) -> None:
    compiled = api.load(FIXTURES / "blocks.nas")
    with pytest.raises(SignatureError, match=message):
        micro_ir(text, compiled.loader.ops)


def test_signature_parts() -> None:
    parsed = parse_signature("int8 | conv{C=16,k=3,stride=1,groups=1,dilation=1,bias=true}(i0); add(%0, i1); "
                             "relu(%1) | in i0=[B,16,8,8] i1=[B,16,8,8] | out [B,16,8,8]")
    assert parsed.dtype == "int8"
    assert [m.op for m in parsed.members] == ["conv", "add", "relu"]
    assert parsed.members[0].attrs[5] == ("bias", True)
    assert parsed.members[1].reads == (("%", 0), ("i", 1))
    assert parsed.inputs == (("B", 16, 8, 8),) * 2 and parsed.output == ("B", 16, 8, 8)


# ---- nasc profile -----------------------------------------------------------------------------

def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from nasc.cli import main

    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def kernel_records(db: Path) -> list:
    with LatencyStore(db, create=False) as store:
        return list(store.query(kind="kernel", target="cpu", backend="onnxruntime", precision="fp32"))


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, list]:
    """``nasc profile`` of digits_tiny killed with SIGKILL after some kernels, then run again
    to the end: the store, how many kernels the killed run had stored, its records then."""
    db = tmp_path_factory.mktemp("profile") / "lat.sqlite"
    argv = [sys.executable, "-m", "nasc", "profile", str(EXAMPLES / "digits_tiny.nas"), "--target", "cpu",
            "--backend", "onnxruntime", "--latency-db", str(db), *QUICK]
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stored: list = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and child.poll() is None:
            if db.exists():
                stored = kernel_records(db)
                if len(stored) >= 10:
                    break
            time.sleep(0.1)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
    killed_at = len(kernel_records(db))
    from nasc.cli import main

    assert main(["profile", str(EXAMPLES / "digits_tiny.nas"), "--target", "cpu", "--latency-db", str(db),
                 *QUICK]) == 0
    return db, killed_at, stored


def test_profile_stores_exactly_the_enumerated_kernels(killed_and_resumed: tuple[Path, int, list]) -> None:
    db, _, _ = killed_and_resumed
    compiled = api.load(EXAMPLES / "digits_tiny.nas")
    kernels = space_kernels(compiled.elaborate(), compiled.loader.ops).kernels
    records = kernel_records(db)
    assert {r.key: r.signature for r in records} == {k.key: k.signature for k in kernels}
    for r in records:
        assert r.source == "measured" and r.median_ms > 0 and r.p90_ms >= r.median_ms
        assert (r.protocol.repeats, r.protocol.number, r.protocol.warmup, r.protocol.batch) == (2, 1, 0, 1)
        assert {"onnxruntime", "nasc"} <= set(r.versions)
        micro_ir(r.signature, compiled.loader.ops)  # the table alone rebuilds the kernel


def test_a_killed_profile_resumes_without_duplicates(killed_and_resumed: tuple[Path, int, list]) -> None:
    db, killed_at, before = killed_and_resumed
    assert 10 <= killed_at < 112, killed_at  # killed midway
    records = kernel_records(db)
    assert max(Counter(r.key for r in records).values()) == 1
    kept = {r.identity() for r in records}
    assert all(r.identity() in kept for r in before)  # what the killed run committed is still there, unchanged


def test_a_second_profile_measures_nothing_new(killed_and_resumed: tuple[Path, int, list],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db, _, _ = killed_and_resumed
    before = kernel_records(db)
    code, out, err = run_cli(["profile", str(EXAMPLES / "digits_tiny.nas"), "--target", "cpu", "--latency-db",
                              str(db), *QUICK], capsys)
    assert code == 0, err
    assert "112 distinct kernels at fp32" in out and "112 already in" in out and "0 to measure" in out
    assert out.strip().splitlines()[-1].startswith("measured 0 kernels (112 already stored)")
    assert kernel_records(db) == before


def test_profile_measures_whole_architectures(killed_and_resumed: tuple[Path, int, list],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    db, _, _ = killed_and_resumed
    argv = ["profile", str(EXAMPLES / "digits_tiny.nas"), "--target", "cpu", "--latency-db", str(db), "--archs", "2",
            "--seed", "5", *QUICK]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "and 2 architectures (0 already stored)" in out
    with LatencyStore(db, create=False) as store:
        archs = list(store.query(kind="arch"))
    assert len(archs) == 2
    compiled = api.load(EXAMPLES / "digits_tiny.nas")
    space = compiled.elaborate()
    first = compiled.elaborate(space.name, api.pins_from_assignment(api.random_assignment(space, 5)))
    text = canonical_arch_text(first, compiled.loader.ops)
    assert arch_key(text) in {r.key for r in archs}
    assert {r.key: r.signature for r in archs}[arch_key(text)] == text
    with LatencyStore(db, create=False) as store:  # the facts a fitted prior needs, as the loop stores them
        facts = store.arch_facts([r.key for r in archs])
    assert all(set(facts[r.key]) == {"roofline_s@roofline-prior:cpu"} for r in archs), facts
    code, out, _ = run_cli(argv, capsys)
    assert code == 0 and "and 0 architectures (2 already stored)" in out


def test_arch_rounds_time_each_build_again_in_interleaved_rounds(
        killed_and_resumed: tuple[Path, int, list], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``--arch-rounds R``: each architecture built once and timed R times, every one once
    before any twice; a rerun with more rounds takes only the missing ones."""
    import shutil

    from nasc.latency.profile import _Measurer
    from nasc.latency.store import arch_medians

    db = tmp_path / "lat.sqlite"
    for suffix in ("", "-wal"):  # the profiled kernels, without the other tests' archs
        if Path(f"{killed_and_resumed[0]}{suffix}").exists():
            shutil.copy(f"{killed_and_resumed[0]}{suffix}", f"{db}{suffix}")
    with LatencyStore(db) as store:
        before = {r.identity() for r in store.query(kind="arch")}
    builds: list[str] = []
    real_build = _Measurer.build
    monkeypatch.setattr(_Measurer, "build", lambda self, key, *a: builds.append(key) or real_build(self, key, *a))
    argv = ["profile", str(EXAMPLES / "digits_tiny.nas"), "--target", "cpu", "--latency-db", str(db), "--archs", "2",
            "--seed", "11", *QUICK]
    code, out, err = run_cli([*argv, "--arch-rounds", "3"], capsys)
    assert code == 0, err
    assert "and 2 architectures (0 already stored)" in out
    with LatencyStore(db) as store:
        new = [r for r in sorted(store.query(kind="arch"), key=lambda r: r.created) if r.identity() not in before]
        keys = [r.key for r in new]
        assert Counter(keys) == Counter({keys[0]: 3, keys[1]: 3}) and keys[0] != keys[1]
        assert set(keys[:2]) == set(keys[2:4]) == set(keys[4:])  # round by round
        assert sorted(builds) == sorted(set(keys))  # one build per architecture
        medians = arch_medians(store, "cpu", backend="onnxruntime")
        fastest = arch_medians(store, "cpu", backend="onnxruntime", of="fastest")
        for key in set(keys):  # the fitted terms see the median of the rounds, or the fastest one
            assert medians[key] == sorted(r.median_ms for r in new if r.key == key)[1]
            assert fastest[key] == min(r.median_ms for r in new if r.key == key) < medians[key]
        with pytest.raises(ValueError, match="expected one of median, fastest"):
            arch_medians(store, "cpu", of="mean")
    code, out, _ = run_cli([*argv, "--arch-rounds", "4"], capsys)
    assert code == 0 and "and 2 architectures (0 already stored)" in out
    code, out, _ = run_cli([*argv, "--arch-rounds", "4"], capsys)
    assert code == 0 and "and 0 architectures (2 already stored)" in out
    with LatencyStore(db) as store:
        assert Counter(r.key for r in store.query(kind="arch") if r.identity() not in before) == Counter(
            {k: 4 for k in set(keys)})


def test_kernel_rounds_time_each_kernel_again_in_interleaved_rounds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``--kernel-rounds R``: each kernel built once and timed R times, every one once before any
    twice; a rerun with more rounds takes only the missing ones; a model can read the fastest."""
    from nasc.latency.kernel_source import kernel_medians
    from nasc.latency.profile import _Measurer

    db = tmp_path / "lat.sqlite"
    builds: list[str] = []
    real_build = _Measurer.build
    monkeypatch.setattr(_Measurer, "build", lambda self, key, *a: builds.append(key) or real_build(self, key, *a))
    argv = ["profile", str(FIXTURES / "edges.nas"), "--target", "cpu", "--backend", "onnxruntime",
            "--latency-db", str(db), *QUICK]
    code, out, err = run_cli([*argv, "--kernel-rounds", "2"], capsys)
    assert code == 0, err
    records = sorted(kernel_records(db), key=lambda r: r.created)
    keys = [r.key for r in records]
    n = len(set(keys))
    assert n > 5 and Counter(keys) == Counter({k: 2 for k in keys}) and sorted(builds) == sorted(set(keys))
    assert set(keys[:n]) == set(keys[n:])  # round by round
    code, out, _ = run_cli([*argv, "--kernel-rounds", "3"], capsys)
    assert code == 0 and "s); 0 already in" in out and f"measured {n} kernels" in out
    assert len(builds) == 2 * n  # the third round builds each kernel once more, no more
    code, out, _ = run_cli([*argv, "--kernel-rounds", "3"], capsys)
    assert code == 0 and f"s); {n} already in" in out and len(builds) == 2 * n
    records = kernel_records(db)
    assert Counter(r.key for r in records) == Counter({k: 3 for k in set(keys)})
    with LatencyStore(db, create=False) as store:
        host = records[0].host
        latest = kernel_medians(store, "cpu", "onnxruntime", "fp32", host)
        fastest = kernel_medians(store, "cpu", "onnxruntime", "fp32", host, fastest=True)
    for key in set(keys):
        mine = [r for r in records if r.key == key]
        assert fastest[key] == min(r.median_ms for r in mine)
        assert latest[key] == max(mine, key=lambda r: r.created).median_ms


def test_beside_reference_stores_each_kernel_and_arch_with_its_ratio_to_the_reference(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--beside-reference``: every record timed in one process beside nasc's reference
    workload holds the reference's time and the ratio; a model read beside it fits on the
    ratios in units of the reference's median; records timed alone are another table."""
    from nasc.bench.reference import beside_label
    from nasc.latency.kernel_source import KernelSumSource, kernel_medians

    db, space = tmp_path / "lat.sqlite", tmp_path / "two.nas"
    space.write_text("space two {\n    input x: f32[B, 1, 8, 8]\n"  # a handful of kernels: each timing is a process
                     "    output logits = x |> conv(4, k = choice [1, 3]) |> bn |> relu |> gap |> linear(10)\n"
                     "    constraint latency <= 1ms on cpu\n}\n")  # the loop below closes it (one round)
    argv = ["profile", str(space), "--target", "cpu", "--backend", "onnxruntime",
            "--latency-db", str(db), "--repeat", "5", "--number", "2", "--warmup", "1", "--threads", "1",
            "--archs", "2", "--kernel-rounds", "2", "--beside-reference"]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    label = beside_label()
    with LatencyStore(db, create=False) as store:
        records = list(store.query())
        assert records and all(r.protocol.beside == label for r in records)
        assert {r.kind for r in records} == {"kernel", "arch"}
        for r in records:  # the ratio is this record's over the reference's, from the same process (the median
            # of sample ratios: it parts from the ratio of medians when the host changes speed within the process)
            assert r.reference_ms and r.over_reference
            assert 0.5 < r.over_reference / (r.median_ms / r.reference_ms) < 2
        host = records[0].host
        assert kernel_medians(store, "cpu", "onnxruntime", "fp32", host, threads=1) == {}  # none timed alone
        ratios = kernel_medians(store, "cpu", "onnxruntime", "fp32", host, threads=1, beside=label)
        for key, ratio in ratios.items():  # a ratio's rounds are repeats of one figure: their median
            mine = [r.over_reference for r in records if r.kind == "kernel" and r.key == key]
            assert len(mine) == 2 and ratio == pytest.approx(statistics.median(mine))
        source = KernelSumSource(store, "cpu", "onnxruntime", api.load(space).loader.ops, threads=1, beside=label)
        unit = statistics.median(r.reference_ms for r in records)
        assert source.reference_ms == pytest.approx(unit) and f"beside {label}" in source.what
        assert len(source.table) == len(ratios) and len(source.archs) == 2
        for a in source.archs:
            mine = [r.over_reference for r in records if r.kind == "arch" and r.key == a.key]
            assert a.measured_ms == pytest.approx(statistics.median(mine) * unit)
    code, out, err = run_cli(argv, capsys)  # resumed: everything timed beside the reference is there
    assert code == 0 and "measured 0 kernels" in out and "0 architectures (2 already stored)" in out, out
    _the_search_and_its_loop_read_and_time_beside_the_reference(space, db, label, tmp_path)


def _the_search_and_its_loop_read_and_time_beside_the_reference(space: Path, db: Path, label: str,
                                                               tmp_path: Path) -> None:
    """A space profiled beside the reference only: the search's model is the kernel sum read
    beside it (not a kernel-sum model with no kernels), and the measuring loop times its
    architecture beside it too, so the refit reads that measurement."""
    import json

    from nasc import experiment
    from nasc.backends import MeasureProtocol
    from nasc.latency.kernel_source import kernels_timed
    from nasc.latency.resolve import latency_model_for
    from nasc.search.rounds import LoopSettings, search_with_rounds

    compiled = api.load(space)
    with LatencyStore(db, create=False) as store:
        assert kernels_timed(store, "cpu", "onnxruntime", threads=1) == label
        assert kernels_timed(store, "cpu", "onnxruntime", threads=2) is None
        model = latency_model_for("cpu", store, compiled.elaborate(), backend="onnxruntime", threads=1)
        before = Counter(r.key for r in store.query(kind="arch", beside=label))
    assert model.name.startswith("kernel-sum:") and f"beside {label}" in model.name and "prior share 0%" in model.name
    cfg = experiment.resolve(None, ["search.epochs=1", "split.train=0.05", "split.val=0.05", "split.test=0.9"])
    protocol = MeasureProtocol(repeats=5, number=2, warmup=1, isolate=True, threads=1)
    search_with_rounds(compiled, cfg, tmp_path / "out", LoopSettings(1, db, protocol=protocol, probes=0))
    (entry,) = [json.loads(line) for line in (tmp_path / "out" / "rounds.jsonl").read_text().splitlines()]
    assert f"beside {label}" in entry["model"] and "alternating samples" in entry["how"], entry
    with LatencyStore(db, create=False) as store:
        after = Counter(r.key for r in store.query(kind="arch", beside=label))
    assert after - before == Counter({entry["arch_key"]: 1})  # the round's measurement, timed beside it


def test_a_space_of_custom_torch_ops_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "myops.py").write_text(
        "import nasc\nops = nasc.op_library()\n\n"
        "@ops.op('twice', shape=lambda s: s[0], flags=('act',))\ndef twice(in_shapes):\n"
        "    import torch\n    return torch.nn.Identity()\n")
    (tmp_path / "s.nas").write_text('import "myops.py" as my\nspace s {\n    input x: f32[B, 2, 4, 4]\n'
                                    "    output y = x |> my.twice |> gap\n}\n")
    code, _, err = run_cli(["profile", str(tmp_path / "s.nas"), "--target", "cpu", "--latency-db",
                            str(tmp_path / "lat.sqlite")], capsys)
    assert code == 2 and "custom op 'twice' is a torch module" in err and "Traceback" not in err, err


@pytest.mark.parametrize("flags,message", [
    (["--target", "cpux"], "unknown target 'cpux'; did you mean 'cpu'?"),
    (["--target", "cpu", "--backend", "onnxruntim"], "unknown backend 'onnxruntim'; did you mean 'onnxruntime'?"),
    (["--target", "jetson-orin-nano", "--backend", "tvm"], "profile the device through a TVM RPC tracker"),
    (["--target", "cpu", "--backend", "auto"], "name it with --backend"),
    (["--target", "cpu", "--precision", "fp16"], "backend 'onnxruntime' builds fp32, int8, not fp16"),
    (["--target", "cpu", "--precision", "fp61"], "has no fp61 precision"),
    (["--target", "cpu", "--beside-reference"], "--beside-reference needs one thread (--threads 1)"),
    (["--target", "cpu", "--beside-reference", "--threads", "1", "--backend", "torch"],
     "got torch at 1 thread(s)"),
])
def test_what_cannot_be_profiled_is_exit_2(tmp_path: Path, flags: list[str], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "lat.sqlite"
    code, out, err = run_cli(["profile", str(EXAMPLES / "digits_tiny.nas"), *flags, "--latency-db", str(db)], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err, err
    assert not db.exists()  # refused before anything was opened or measured


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    plain, tty = io.StringIO(), _Terminal()
    for stream in (plain, tty):
        progress = progress_for(stream)
        progress.start(2, "kernels onnxruntime fp32")
        progress.advance("k0 conv_bias_act 0.0100 ms")
        progress.note("about 1 s for the other kernel")
        progress.advance("k1 pool 0.0050 ms")
        progress.close()
    assert isinstance(progress_for(plain), PlainProgress) and isinstance(progress_for(tty), RichProgress)
    assert plain.getvalue() == ("[1/2] k0 conv_bias_act 0.0100 ms\nabout 1 s for the other kernel\n"
                                "[2/2] k1 pool 0.0050 ms\n")
    assert "about 1 s for the other kernel" in tty.getvalue() and "2/2" in tty.getvalue()


def test_the_tuning_estimate_counts_only_runs_that_tuned() -> None:
    """A resumed profile passes the runs a killed one finished in a second each; the estimate of
    what is left comes from the runs that tuned (600 s each here), not from those."""
    from nasc.latency.profile import tuning_eta

    assert tuning_eta([600.0], 12) == ("about 2.0 h for the other 12 tuning run(s) (600 s per run that tuned, "
                                       "over 1 so far)")
    assert tuning_eta([500.0, 700.0], 3).startswith("about 30 min for the other 3 tuning run(s) (600 s")
