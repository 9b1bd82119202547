"""Robustness of the frontend: no input may crash nasc.

Every input goes through the real CLI (`nasc check` and `nasc fmt`, in-process).  The
contract: exit code 0 (accepted) or 2 (a user error, printed as a diagnostic); `fmt
--check` may also exit 3 (not formatted).  Exit code 1 means an internal error (a bug)
and a "Traceback" on stderr means the user saw Python internals: both fail the test.

Three generators, each bounded so the file runs in well under two minutes:
(a) random bytes, (b) random sequences of the language's tokens, (c) mutations of the
example spaces.  Then explicit worst cases: an empty file, 10,000 nested parentheses,
5 MB of valid blocks, and repeat/instantiation bombs.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasc.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.nas"))

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding copies of the examples, so mutated files can still import them."""
    d = tmp_path_factory.mktemp("fuzz")
    for f in EXAMPLE_FILES:
        shutil.copy(f, d / f.name)
    return d


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def assert_clean(path: Path, capsys: pytest.CaptureFixture[str], *, fmt: bool = True) -> int:
    """Run check (and fmt, fmt --check) on `path`; return the exit code of check."""
    commands = [["check", str(path)]]
    if fmt:
        commands += [["fmt", str(path)], ["fmt", "--check", str(path)]]
    rc_check = None
    for argv in commands:
        rc, _, err = run(argv, capsys)
        allowed = (0, 2, 3) if "--check" in argv else (0, 2)
        assert rc in allowed, f"nasc {' '.join(argv)} exited {rc}:\n{err}\n--- input ---\n{_show(path)}"
        assert "Traceback" not in err, f"nasc {' '.join(argv)} printed a traceback:\n{err}"
        if rc == 2:
            first = err.splitlines()[0] if err else ""
            assert "error" in first, f"exit 2 without a diagnostic:\n{err}"
        if rc_check is None:
            rc_check = rc
    assert rc_check is not None
    return rc_check


def _show(path: Path) -> str:
    data = path.read_bytes()
    return repr(data[:2000]) + ("..." if len(data) > 2000 else "")


# ------------------------------------------------------------------ (a) random bytes
@FUZZ
@given(data=st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=40).map(lambda b: b"space s {\n" + b + b"\n}\n"),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
))
def test_random_bytes(data: bytes, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workdir / "bytes.nas"
    path.write_bytes(data)
    assert_clean(path, capsys)


# ------------------------------------------------------------------ (b) random token sequences
KEYWORDS = ["import", "as", "const", "block", "shared", "space", "arch", "extends", "input", "output",
            "repeat", "if", "else", "return", "fix", "constraint", "on", "experiment", "and", "or", "not",
            "in", "true", "false", "choice", "choose", "of", "for", "hard", "soft"]
NAMES = ["x", "h", "y", "C", "k", "i", "s", "B", "f32", "tensor", "conv", "relu", "bn", "gap", "linear",
         "skip", "zero", "sep_conv", "max_pool", "sum", "concat", "len", "range", "spatial", "channels",
         "params", "latency", "flops", "connected", "cell", "net", "jetson-orin-nano", "cpu"]
NUMBERS = ["0", "1", "2", "3", "16", "-1", "0.5", "1e3", "1..3", "5ms", "1M", "2MB", "99999999999999999999"]
STRINGS = ['"fp16"', '"nb201.nas"', '"x"', '""', '"unterminated']
PUNCT = ["(", ")", "[", "]", "{", "}", ",", "=", ":", ";", ".", "..", "?", "|>", "+", "-", "*", "/", "//",
         "%", "==", "!=", "<", "<=", ">", ">=", "# comment\n", "\n", "@", "'"]
TOKEN = st.sampled_from(KEYWORDS + NAMES + NUMBERS + STRINGS + PUNCT)
SEP = st.sampled_from([" ", " ", " ", "\n", "", "\t"])

# realistic fragments that make the random sequences reach elaboration more often
SNIPPETS = [
    "space s {", "input x: f32[B, 3, 8, 8]", "output y = h |> gap |> linear(10)", "h = x |> conv(8, 3)",
    "block b(C)(x) {", "return x", "}", "k = choice [3, 5]", "h = h |> choice [a: conv(8, k), b: skip]",
    "repeat 2 { h = h |> relu }", "constraint params <= 1M", "h = sum(choose 2 of [x, h])", "fix k = 3",
    "arch a extends s {", "shared block b(C)(x) {", "if C > 1 {", "} else {", "h = h + x",
]


@st.composite
def token_soup(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(TOKEN, TOKEN, st.sampled_from(SNIPPETS)), max_size=60))
    seps = draw(st.lists(SEP, min_size=len(parts), max_size=len(parts)))
    return "".join(p + s for p, s in zip(parts, seps))


@FUZZ
@given(text=token_soup())
def test_random_tokens(text: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workdir / "tokens.nas"
    path.write_text(text)
    assert_clean(path, capsys)


# Random programs from a small expression grammar inside a valid skeleton: unlike the
# token soup they usually parse, so they exercise name resolution and elaboration.
ATOMS = st.sampled_from(["x", "h", "C", "k", "i", "0", "1", "2", "3", "8", "16", "-1", "0.5", "true", "false",
                         '"a"', "5ms", "1M", "relu", "bn", "skip", "zero", "gap", "flatten", "conv", "b",
                         "[]", "[x, h]", "[1, 2]", "1..3", "params", "B", "nope"])
OPS_CALLS = st.sampled_from(["conv(C, k)", "conv(8, 3, stride = 2)", "max_pool(2, stride = 2)", "sep_conv(C)",
                             "linear(2)", "b(C)", "b(k = 5)", "relu", "choice [relu, skip]", "dwconv(3)",
                             "mbconv(C, k, 3)", "se(0.25)", "avg_pool(3)", "zero(2)", "resnet_basic(C, 2)"])
BINOPS = st.sampled_from(["+", "-", "*", "/", "//", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or", "in"])


def _expr_step(e: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(e, BINOPS, e).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(e, OPS_CALLS).map(lambda t: f"{t[0]} |> {t[1]}"),
        st.lists(e, min_size=1, max_size=3).map(lambda xs: f"choice [{', '.join(xs)}]"),
        st.tuples(st.integers(0, 3), st.lists(e, min_size=1, max_size=3)).map(
            lambda t: f"sum(choose {t[0]} of [{', '.join(t[1])}])"),
        st.tuples(st.sampled_from(["sum", "concat", "len", "spatial", "channels", "range", "max", "mean"]),
                  st.lists(e, max_size=2)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.tuples(e, e, e).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        st.tuples(e, e).map(lambda t: f"[{t[0]} for i in {t[1]}]"),
        st.tuples(e, e).map(lambda t: f"{t[0]}[{t[1]}]"),
        e.map(lambda a: f"not {a}"),
        e.map(lambda a: f"({a})"),
    )


EXPR = st.recursive(ATOMS, _expr_step, max_leaves=8)
STMT = st.one_of(
    st.tuples(st.sampled_from(["h", "k", "C", "y", "x"]), EXPR).map(lambda t: f"{t[0]} = {t[1]}"),
    st.tuples(EXPR, st.sampled_from(["h", "k"]), EXPR).map(lambda t: f"repeat {t[0]} as i {{ {t[1]} = {t[2]} }}"),
    st.tuples(EXPR, EXPR).map(lambda t: f"if {t[0]} {{ h = {t[1]} }} else {{ h = h }}"),
    st.tuples(EXPR, st.sampled_from(["", " on cpu", " soft(weight = 0.5)", " on nope"])).map(
        lambda t: f"constraint {t[0]}{t[1]}"),
    EXPR.map(lambda a: f"fix k = {a}"),
)


@st.composite
def random_program(draw: st.DrawFn) -> str:
    shared = draw(st.sampled_from(["", "shared ", 'shared(C > 8 ? "w" : "n") ']))
    block_body = "\n    ".join(draw(st.lists(STMT, max_size=3)))
    space_body = "\n    ".join(draw(st.lists(STMT, max_size=4)))
    ret = draw(st.one_of(st.just("x"), EXPR))
    kind = draw(st.sampled_from(["space", "space", "arch"]))
    return (f"{shared}block b(C, k = 3)(x) {{\n    {block_body}\n    return {ret}\n}}\n"
            f"{kind} s(C = 8) {{\n    input x: f32[B, 3, 8, 8]\n    h = x\n    k = 3\n    {space_body}\n"
            f"    output o = h |> gap |> linear(2)\n}}\n")


@FUZZ
@given(text=random_program())
def test_random_programs(text: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workdir / "program.nas"
    path.write_text(text)
    assert_clean(path, capsys)


# ------------------------------------------------------------------ (c) mutated examples
@st.composite
def mutated_example(draw: st.DrawFn) -> str:
    src = draw(st.sampled_from(EXAMPLE_FILES)).read_text()
    lines = src.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["del_line", "dup_line", "swap_lines", "del_char", "dup_char", "swap_chars",
                                   "ins_token"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        if op == "del_line":
            del lines[i]
        elif op == "dup_line":
            lines.insert(j, lines[i])
        elif op == "swap_lines":
            lines[i], lines[j] = lines[j], lines[i]
        else:
            line = lines[i]
            if not line:
                continue
            a = draw(st.integers(0, len(line) - 1))
            b = draw(st.integers(0, len(line) - 1))
            if op == "del_char":
                line = line[:a] + line[a + 1:]
            elif op == "dup_char":
                line = line[:a] + line[a] + line[a:]
            elif op == "swap_chars":
                chars = list(line)
                chars[a], chars[b] = chars[b], chars[a]
                line = "".join(chars)
            else:
                line = line[:a] + " " + draw(TOKEN) + " " + line[a:]
            lines[i] = line
    return "\n".join(lines)


@settings(FUZZ, max_examples=250)
@given(text=mutated_example())
def test_mutated_examples(text: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workdir / "mutant.nas"
    path.write_text(text)
    assert_clean(path, capsys)


# ------------------------------------------------------------------ explicit worst cases
def test_examples_are_clean(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for f in EXAMPLE_FILES:
        assert assert_clean(workdir / f.name, capsys) == 0, f.name


def test_empty_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for text in ["", "\n\n", "   \t\n", "# only a comment\n"]:
        path = workdir / "empty.nas"
        path.write_text(text)
        assert assert_clean(path, capsys) == 2  # nothing to check is not a success


def test_ten_thousand_nested_parentheses(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workdir / "parens.nas"
    path.write_text("const A = " + "(" * 10_000 + "1" + ")" * 10_000 + "\n")
    assert assert_clean(path, capsys) == 2
    _, _, err = run(["check", str(path)], capsys)
    assert err.startswith(f"{path}:1:") and "nested deeper than" in err.splitlines()[0]


@pytest.mark.parametrize("text", [
    "const A = " + "-" * 5000 + "1\n",
    "const A = " + "not " * 5000 + "true\n",
    "const A = " + "true ? 1 : " * 5000 + "1\n",
    "const A = 1" + " + 1" * 5000 + "\n",
    "space s {\n input x: f32[B, 3, 8, 8]\n y = x" + " |> relu" * 5000 + "\n output o = y |> gap |> linear(2)\n}\n",
    "space s {\n input x: f32[B, 3, 8, 8]\n if false { x = x }" + " else if false { x = x }" * 3000 +
    "\n output o = x |> gap |> linear(2)\n}\n",
    "const A = " + "[" * 150 + "1" + "]" * 150 + "\n",
    "const A = " + "max(" * 150 + "1" + ")" * 150 + "\n",
], ids=["neg", "not", "ternary", "plus", "pipe", "else-if", "lists", "calls"])
def test_deep_expressions_are_rejected_cleanly(text: str, workdir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = workdir / "deep.nas"
    path.write_text(text + "space s {\n input x: f32[B, 3, 8, 8]\n c = A\n output o = x |> gap |> linear(2)\n}\n"
                    if text.startswith("const") else text)
    assert assert_clean(path, capsys) == 2
    _, _, err = run(["check", str(path)], capsys)
    assert err.startswith(f"{path}:") and "nested too deeply" in err.splitlines()[0]


def test_moderately_deep_expressions_work(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workdir / "ok_deep.nas"
    path.write_text("const A = " + "(" * 100 + "1" + ")" * 100 + " + 1" * 50 + "\n"
                    "space s {\n input x: f32[B, 3, 8, 8]\n y = x" + " |> relu" * 100 +
                    "\n output o = y |> gap |> linear(A)\n}\n")
    assert assert_clean(path, capsys) == 0


def test_deeply_nested_blocks(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def chain(n: int) -> str:
        s = "".join(f"block b{i}(C)(x) {{\n    return x |> b{i + 1}(C)\n}}\n" for i in range(n))
        s += f"block b{n}(C)(x) {{\n    return x |> relu\n}}\n"
        return s + "space s {\n    input x: f32[B, 3, 8, 8]\n    output o = x |> b0(4) |> gap |> linear(2)\n}\n"

    path = workdir / "blocks.nas"
    path.write_text(chain(30))
    assert assert_clean(path, capsys, fmt=False) == 0
    path.write_text(chain(300))
    assert assert_clean(path, capsys, fmt=False) == 2
    _, _, err = run(["check", str(path)], capsys)
    assert "nested more than" in err.splitlines()[0]


def test_five_megabytes_of_blocks(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    block = "block b{i}(C, k = 3)(x) {{\n    h = x |> relu_conv_bn(C, k) |> bn\n    return h + x\n}}\n\n"
    parts, size, i = [], 0, 0
    while size < 5 * 1024 * 1024:
        parts.append(block.format(i=i))
        size += len(parts[-1])
        i += 1
    parts.append("space s {\n    input x: f32[B, 8, 8, 8]\n    output o = x |> b0(8) |> gap |> linear(2)\n}\n")
    path = workdir / "huge.nas"
    path.write_text("".join(parts))
    start = time.monotonic()
    rc = assert_clean(path, capsys)
    assert time.monotonic() - start < 60
    if rc == 2:  # rejected: it must say why, at a position
        _, _, err = run(["check", str(path)], capsys)
        assert err.startswith(f"{path}:1:1: error: file too large")


@pytest.mark.parametrize("body", [
    "repeat 1000 { repeat 1000 { repeat 1000 { h = h |> relu } } }",
    "repeat 100000000 { h = h |> relu }",
    "repeat choice [1, 100000000] { h = h |> relu }",
    "l = [h for i in range(9000)]\n    m = [l for j in range(9000)]",
    "k = choice 1..1000000000",
], ids=["nested", "huge-count", "huge-choice", "comprehension", "huge-range"])
def test_unroll_bombs_are_rejected(body: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = workdir / "bomb.nas"
    path.write_text("space s {\n    input x: f32[B, 3, 8, 8]\n    h = x\n    " + body +
                    "\n    output o = h |> gap |> linear(2)\n}\n")
    start = time.monotonic()
    assert assert_clean(path, capsys, fmt=False) == 2
    assert time.monotonic() - start < 30
    _, _, err = run(["check", str(path)], capsys)
    assert err.startswith(f"{path}:") and ": error: " in err.splitlines()[0]


def test_block_instance_bomb_is_rejected(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # each block applies the previous one twice: 2^40 instances if nothing stopped it
    s = "block b0(C)(x) {\n    return x |> relu\n}\n"
    s += "".join(f"block b{i}(C)(x) {{\n    return x |> b{i - 1}(C) |> b{i - 1}(C)\n}}\n" for i in range(1, 41))
    s += "space s {\n    input x: f32[B, 3, 8, 8]\n    output o = x |> b40(4) |> gap |> linear(2)\n}\n"
    path = workdir / "instances.nas"
    path.write_text(s)
    start = time.monotonic()
    assert assert_clean(path, capsys, fmt=False) == 2
    assert time.monotonic() - start < 60
    _, _, err = run(["check", str(path)], capsys)
    assert "more than" in err.splitlines()[0]


def test_arithmetic_bombs_are_rejected(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # repeated squaring and list or string doubling grow exponentially with the number of consts
    s = "const A0 = 10\n" + "".join(f"const A{i} = A{i - 1} * A{i - 1}\n" for i in range(1, 40))
    s += "const L0 = [1]\n" + "".join(f"const L{i} = L{i - 1} + L{i - 1}\n" for i in range(1, 60))
    s += 'const S0 = "ab"\n' + "".join(f"const S{i} = S{i - 1} + S{i - 1}\n" for i in range(1, 60))
    for use in ("A39", "len(L59)", "S59"):
        path = workdir / "arith.nas"
        path.write_text(s + f"space s {{\n    input x: f32[B, 3, 8, 8]\n    n = {use}\n"
                            "    output o = x |> gap |> linear(2)\n}\n")
        assert assert_clean(path, capsys) == 2


@st.composite
def scaled_program(draw: st.DrawFn) -> str:
    """A small program with one quantity drawn across orders of magnitude, below and past
    the limits: layer count, choice width, op width, input size, string doublings, choose."""
    kind = draw(st.sampled_from(["layers", "values", "width", "input", "string", "choose"]))
    inputs, body, out = "x: f32[B, 3, 8, 8]", "", "x"
    if kind == "layers":
        n, c = draw(st.integers(0, 3000)), draw(st.sampled_from([3, 4]))  # 4: a width that depends on every choice
        body = f"h = x\n    repeat {n} {{ h = h |> choice [relu_conv_bn({c}, 3), skip] }}"
        out = "h"
    elif kind == "values":
        body = f"C = choice 1..{draw(st.integers(1, 10_000))}\n    h = x |> conv(C, 1)"
        out = "h"
    elif kind == "width":
        body = f"h = x |> conv({draw(st.integers(1, 10 ** 12))}, {draw(st.sampled_from([1, 3, 7]))})"
        out = "h"
    elif kind == "input":
        inputs = f"x: f32[B, {draw(st.integers(1, 10 ** 6))}, {draw(st.integers(1, 10 ** 5))}, 8]"
    elif kind == "string":
        body = f's = "ab"\n    repeat {draw(st.integers(0, 100))} {{ s = s + s }}'
    else:
        n, k = draw(st.integers(1, 40)), draw(st.integers(1, 12))
        body = f"ts = [x |> relu for i in range({n})]\n    h = sum(choose {k} of ts)"
        out = "h"
    return f"space s {{\n    input {inputs}\n    {body}\n    output o = {out} |> gap |> linear(2)\n}}\n"


@settings(FUZZ, max_examples=30)
@given(text=scaled_program())
def test_programs_at_scale_finish_cleanly(text: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Past a limit, a located error; below, a result: either way quickly, never a crash."""
    path = workdir / "scaled.nas"
    path.write_text(text)
    start = time.monotonic()
    rc = assert_clean(path, capsys, fmt=False)
    assert time.monotonic() - start < 30
    if rc == 2:
        _, _, err = run(["check", str(path)], capsys)
        assert err.startswith(f"{path}:") and ": error: " in err.splitlines()[0]


def test_missing_file_and_directory(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["check", str(workdir / "nope.nas")], ["check", str(workdir)], ["fmt", str(workdir / "nope.nas")]):
        rc, _, err = run(argv, capsys)
        assert rc == 2 and "Traceback" not in err
