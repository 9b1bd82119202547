"""Explicit nesting limits: deep but legal-looking input gets a located exit-2 error, and any
other exception (a RecursionError included) is an internal error, exit 1, never disguised
as a user mistake.

Each limit is exercised just past its bound, through the real CLI, with the generated
program written to disk as a user would have it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nasc.cli import main
from nasc.frontend import elaborate, resolve
from nasc.frontend.elaborate import limits

TAIL = "space s{i} {{\n    input x: f32[B, 1, 8, 8]\n    output y = x |> {body}gap |> linear(2)\n}}\n"


def check(path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.chdir(path.parent)
    capsys.readouterr()
    rc = main(["check", path.name])
    return rc, capsys.readouterr().err


def assert_located(err: str, message: str) -> tuple[str, int, int]:
    first = err.splitlines()[0]
    m = re.match(r"^(?P<file>[^:]+\.nas):(?P<line>\d+):(?P<col>\d+): error: (?P<msg>.*)$", first)
    assert m, f"not a located diagnostic: {first!r}"
    assert message in m.group("msg"), first
    assert "Traceback" not in err and "^" in err
    return m.group("file"), int(m.group("line")), int(m.group("col"))


def assert_limit_error(path: Path, text: str, message: str, capsys, monkeypatch) -> tuple[str, int, int]:
    """Write `text` to `path`, check it: exit 2 with a located `message`."""
    path.write_text(text)
    rc, err = check(path, capsys, monkeypatch)
    assert rc == 2, err
    return assert_located(err, message)


def test_import_chain_deeper_than_the_limit(tmp_path: Path, capsys, monkeypatch) -> None:
    n = resolve.MAX_IMPORT_DEPTH + 5
    (tmp_path / "f0.nas").write_text("block b0(C)(x) {\n    return x |> conv(C, 3)\n}\n")
    for i in range(1, n):
        (tmp_path / f"f{i}.nas").write_text(f'import "f{i - 1}.nas"\n')
    _, line, col = assert_limit_error(tmp_path / "main.nas", f'import "f{n - 1}.nas"\n' + TAIL.format(i=0, body=""),
                                      f"imports are nested more than {resolve.MAX_IMPORT_DEPTH} files deep",
                                      capsys, monkeypatch)
    assert (line, col) == (1, 8)  # the string of the import that goes one file too deep


def test_a_chain_at_the_limit_still_loads(tmp_path: Path, capsys, monkeypatch) -> None:
    n = resolve.MAX_IMPORT_DEPTH - 1
    (tmp_path / "f0.nas").write_text("const W = 4\n")
    for i in range(1, n):
        (tmp_path / f"f{i}.nas").write_text(f'import "f{i - 1}.nas"\n')
    main_file = tmp_path / "main.nas"
    main_file.write_text(f'import "f{n - 1}.nas"\n' + TAIL.format(i=0, body=""))
    rc, err = check(main_file, capsys, monkeypatch)
    assert rc == 0, err


def test_extends_chain_deeper_than_the_limit(tmp_path: Path, capsys, monkeypatch) -> None:
    n = elaborate.MAX_EXTENDS_DEPTH + 5
    text = TAIL.format(i=0, body="") + "".join(f"space s{i} extends s{i - 1} {{\n}}\n" for i in range(1, n))
    assert_limit_error(tmp_path / "ext.nas", text,
                       f"'extends' is nested more than {elaborate.MAX_EXTENDS_DEPTH} spaces deep", capsys, monkeypatch)


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_const_chain_deeper_than_the_limit(order: str, tmp_path: Path, capsys, monkeypatch) -> None:
    n = elaborate.MAX_CONST_DEPTH + 50
    if order == "forward":
        consts = "const a0 = 1\n" + "".join(f"const a{i} = a{i - 1} + 1\n" for i in range(1, n))
    else:
        consts = f"const a{n - 1} = 1\n" + "".join(f"const a{i} = a{i + 1} + 1\n" for i in range(n - 2, -1, -1))
    used = f"a{n - 1}" if order == "forward" else "a0"
    assert_limit_error(tmp_path / "consts.nas", consts + TAIL.format(i=0, body=f"conv({used} - {used} + 4, 1) |> "),
                       f"consts are defined by other consts more than {elaborate.MAX_CONST_DEPTH} deep",
                       capsys, monkeypatch)


def test_block_nesting_deeper_than_the_limit(tmp_path: Path, capsys, monkeypatch) -> None:
    n = elaborate.MAX_BLOCK_NESTING + 5
    text = "block b0(C)(x) {\n    return x |> conv(C, 3)\n}\n" + "".join(
        f"block b{i}(C)(x) {{\n    return x |> b{i - 1}(C)\n}}\n" for i in range(1, n))
    assert_limit_error(tmp_path / "blocks.nas", text + TAIL.format(i=0, body=f"b{n - 1}(4) |> "),
                       f"blocks are nested more than {elaborate.MAX_BLOCK_NESTING} deep", capsys, monkeypatch)


def test_a_file_without_space_or_arch_is_an_error(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "lib.nas"
    path.write_text("block b(C)(x) {\n    return x |> conv(C, 3)\n}\n")
    rc, err = check(path, capsys, monkeypatch)
    assert rc == 2
    assert "lib.nas defines no space or arch" in err and "Traceback" not in err


def test_an_unexpected_recursion_error_is_a_bug_not_a_user_error(tmp_path: Path, capsys, monkeypatch) -> None:
    """Only the explicit limits above are user errors: a RecursionError from anywhere else is
    an internal error (exit 1, with the traceback to report), so the fuzz tests' 0/2
    contract catches it."""
    def boom(self, *args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(elaborate.Elaborator, "elaborate", boom)
    path = tmp_path / "ok.nas"
    path.write_text(TAIL.format(i=0, body=""))
    rc, err = check(path, capsys, monkeypatch)
    assert rc == 1
    assert "internal error" in err and "RecursionError" in err


# ------------------------------------------------------------------ size and work limits
def space(body: str, inputs: str = "input x: f32[B, 1, 8, 8]", out: str = "x") -> str:
    """A space around `body` (indented by the caller), ending in a small classifier on `out`."""
    return f"space s {{\n    {inputs}\n{body}    output y = {out} |> gap |> linear(2)\n}}\n"


def test_too_many_decisions(tmp_path: Path, capsys, monkeypatch) -> None:
    n = elaborate.MAX_DECISIONS // 2 + 1
    text = space(f"    repeat {n} {{\n        a = choice [4, 8]\n        b = choice [4, 8]\n    }}\n")
    _, line, col = assert_limit_error(tmp_path / "decisions.nas", text,
                                      f"the space has more than {elaborate.MAX_DECISIONS:,} decisions",
                                      capsys, monkeypatch)
    assert (line, col) == (4, 13)  # the choice that would be one too many


def test_a_choose_with_too_many_combinations(tmp_path: Path, capsys, monkeypatch) -> None:
    text = space("    ts = [x |> conv(4, 1) for i in range(30)]\n    h = sum(choose 10 of ts)\n", out="h")
    _, line, col = assert_limit_error(tmp_path / "choose.nas", text,
                                      f"a decision with 30,045,015 options; one decision may have at most "
                                      f"{elaborate.MAX_OPTIONS:,}", capsys, monkeypatch)
    assert (line, col) == (4, 13)


def test_a_choice_with_too_many_values(tmp_path: Path, capsys, monkeypatch) -> None:
    """Checked before the candidates are evaluated (a literal list is the only way past it)."""
    monkeypatch.setattr(limits, "MAX_OPTIONS", 50)
    values = ", ".join(str(i) for i in range(1, 52))
    _, line, col = assert_limit_error(tmp_path / "choice.nas", space(f"    C = choice [{values}]\n"),
                                      "a decision with 51 options; one decision may have at most 50",
                                      capsys, monkeypatch)
    assert (line, col) == (3, 16)  # the candidate list


@pytest.mark.parametrize("body", [
    # a long body in a long loop: each iteration is cheap, together they are not
    "    repeat 1000 as i {\n" + "".join(f"        v{j} = i + {j}\n" for j in range(100)) + "    }\n",
    # few expressions, each over a wide decision table (400 x 400 combinations)
    "    A = choice 1..400\n    Bw = choice 1..400\n    h = x\n    repeat 10 { h = h |> conv(A + Bw, 1) }\n",
], ids=["long-body", "wide-tables"])
def test_elaboration_steps_are_bounded(body: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(limits, "MAX_STEPS", 50_000)
    assert_limit_error(tmp_path / "steps.nas", space(body), "elaboration takes more than 50,000 steps",
                       capsys, monkeypatch)


@pytest.mark.parametrize("how", ["const", "repeat"])
def test_string_doubling_is_a_limit_error_not_a_memory_error(how: str, tmp_path: Path, capsys,
                                                             monkeypatch) -> None:
    if how == "const":
        text = 'const S0 = "ab"\n' + "".join(f"const S{i} = S{i - 1} + S{i - 1}\n" for i in range(1, 64))
        text += space("    s = S63\n")
        where = (1 + 16, 13)  # the const whose value would pass the limit: 2 * 2^16 characters
    else:
        text = space('    s = "ab"\n    repeat 64 { s = s + s }\n')
        where = (4, 21)
    _, line, col = assert_limit_error(tmp_path / "strings.nas", text,
                                      f"string of more than {elaborate.MAX_STRING:,} characters", capsys, monkeypatch)
    assert (line, col) == where


def test_a_string_at_the_limit_is_fine(tmp_path: Path, capsys, monkeypatch) -> None:
    doublings = elaborate.MAX_STRING.bit_length() - 2  # "ab" doubled to exactly MAX_STRING characters
    path = tmp_path / "strings.nas"
    path.write_text(space(f'    s = "ab"\n    repeat {doublings} {{ s = s + s }}\n'))
    rc, err = check(path, capsys, monkeypatch)
    assert rc == 0, err


@pytest.mark.parametrize("body, inputs, message, where", [
    # 10^9 filters of 1 x 3 x 3: 36 GB of weights
    ("    h = x |> conv(1000000000)\n", "input x: f32[B, 1, 8, 8]", "parameters take 36,000,000,000 bytes", (3, 14)),
    # a 2 x 20000 x 20000 output: 3.2 GB for one activation at batch 1
    ("    h = x |> conv(2, 1)\n", "input x: f32[B, 1, 20000, 20000]", "output at batch 1 takes 3,200,000,000 bytes", (3, 14)),
    # the largest width of a choice counts
    ("    h = x |> conv(choice [8, 100000000], 3)\n", "input x: f32[B, 1, 8, 8]", "parameters take 3,600,000,000",
     (3, 14)),
], ids=["params", "activation", "choice"])
def test_memory_sized_ops_are_located_errors(body: str, inputs: str, message: str, where: tuple[int, int],
                                             tmp_path: Path, capsys, monkeypatch) -> None:
    _, line, col = assert_limit_error(tmp_path / "big.nas", space(body, inputs, out="h"), message,
                                      capsys, monkeypatch)
    assert (line, col) == where


def test_a_memory_sized_input_is_a_located_error(tmp_path: Path, capsys, monkeypatch) -> None:
    _, line, col = assert_limit_error(tmp_path / "input.nas", space("", "input x: f32[B, 3, 100000, 100000]"),
                                      "input 'x' is too large", capsys, monkeypatch)
    assert (line, col) == (2, 14)


def test_a_memory_sized_arch_is_rejected_before_building(tmp_path: Path) -> None:
    """`build` and `train` elaborate the arch with the same code, so they stop at the op too."""
    from nasc import api
    from nasc.errors import NascSemanticError

    path = tmp_path / "arch.nas"
    path.write_text(space("    h = x |> conv(1000000000)\n", out="h").replace("space s", "arch a"))
    with pytest.raises(NascSemanticError, match="too large to build"):
        api.decided(api.load(path), None, "build")
