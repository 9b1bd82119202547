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
