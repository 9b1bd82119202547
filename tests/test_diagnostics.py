"""Diagnostics: every invalid input is reported as a compiler would, never as a crash.

Each file directly under ``tests/fixtures/invalid/`` is one invalid `.nas` input whose
first lines state the expected diagnostic::

    # expect: 3:12: unknown name 'sepconv'; did you mean 'sep_conv'?

(``LINE:COL: MESSAGE``; when the error is reported in an imported helper file, the
location starts with that file's path relative to the fixture: ``cycle/b.nas:2:8: ...``).
Helper modules live in subfolders and are not fixtures themselves.

The contract checked for each fixture, through the real CLI (``nasc check``): exit code 2;
the first line of stderr is exactly ``FILE:LINE:COL: error: MESSAGE``; the offending source
line is quoted, followed by a caret line; no Python traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nasc.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "invalid"
FIXTURE_FILES = sorted(FIXTURES.glob("*.nas"))
EXAMPLES = sorted((ROOT / "examples").glob("*.nas"))

EXPECT = re.compile(rb"^# expect: (?:(?P<file>[^\s:]+\.nas):)?(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")


def expectation(path: Path) -> tuple[str, int, int, str]:
    """(file, line, col, message) declared in the fixture's first lines."""
    for raw in path.read_bytes().split(b"\n")[:3]:
        m = EXPECT.match(raw.rstrip(b"\r"))
        if m:
            file = m.group("file").decode() if m.group("file") else path.name
            return file, int(m.group("line")), int(m.group("col")), m.group("msg").decode("utf-8")
    raise AssertionError(f"{path.name}: no '# expect: LINE:COL: MESSAGE' line in its first lines")


def source_line(path: Path, line: int) -> str:
    text = path.read_bytes().decode("utf-8", errors="replace")
    return text.split("\n")[line - 1].rstrip("\r")


def test_there_are_enough_fixtures() -> None:
    assert len(FIXTURE_FILES) >= 45


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.stem for p in FIXTURE_FILES])
def test_invalid_input_is_diagnosed(path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    file, line, col, message = expectation(path)
    # run from the fixtures folder, as a user would: positions then name files as typed
    monkeypatch.chdir(FIXTURES)
    rc = main(["check", path.name])
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    assert rc == 2, f"exit code {rc}, stderr:\n{err}"
    lines = err.splitlines()
    assert lines, "nothing on stderr"
    assert lines[0] == f"{file}:{line}:{col}: error: {message}", f"stderr:\n{err}"
    # the quoted source line (control characters shown as '?'), then the caret under the column
    assert len(lines) >= 3, f"no quoted source line and caret:\n{err}"
    quoted, caret = lines[1], lines[2]
    expected_src = source_line(FIXTURES / file, line)
    shown = "".join(" " if ch == "\t" else (ch if ch.isprintable() else "?") for ch in expected_src)
    if len(shown) <= 160:
        assert quoted == "    " + shown, f"quoted line differs:\n{err}"
        assert re.fullmatch(r" {4}" + " " * (col - 1) + r"\^~*", caret), f"caret not at column {col}:\n{err}"
    else:  # a long line is quoted as a window around the column
        assert quoted.startswith("    ") and caret.lstrip(" ").startswith("^")
        assert quoted[caret.index("^")] == shown[col - 1]
    assert out == ""


def test_fixture_expectations_are_well_formed() -> None:
    for path in FIXTURE_FILES:
        file, line, col, message = expectation(path)
        assert (FIXTURES / file).is_file(), f"{path.name}: {file} does not exist"
        assert line >= 1 and col >= 1 and message.strip() == message


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.stem for p in FIXTURE_FILES])
def test_fmt_never_crashes_on_fixtures(path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(FIXTURES)
    rc = main(["fmt", path.name])
    _, err = capsys.readouterr()
    assert rc in (0, 2) and "Traceback" not in err, err


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_valid_examples_pass(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["check", str(path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert ": error:" not in err and "Traceback" not in err
    assert out.strip()


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", "const N = 3\nblock id(C)(x) {\n    return x\n}\n"],
                         ids=["empty", "comment", "no-space"])
def test_nothing_to_check_is_an_error(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that parses but defines no space or arch: `check` has checked nothing, so it
    must not report success."""
    path = tmp_path / "ok.nas"
    path.write_text(text)
    assert main(["check", str(path)]) == 2
    assert "defines no space or arch" in capsys.readouterr().err


@pytest.mark.parametrize("text", [
    "space s {\n    input x: f32[B, 3, 8, 8]\n    h = x |> conv(8, 3)   # five\n"
    "    constraint latency <= 5ms on cpu\n    output y = h |> gap |> linear(2)\n}\n",
    "space s {\r\n    input x: f32[B, 3, 8, 8]\r\n    output y = x |> gap |> linear(2)\r\n}\r\n",
], ids=["small-space", "crlf"])
def test_small_valid_inputs_pass(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.nas"
    path.write_text(text)
    assert main(["check", str(path)]) == 0, capsys.readouterr().err


def test_notes_point_at_other_places(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Secondary locations follow the caret as `FILE:L:C: note: ...` with their own caret."""
    monkeypatch.chdir(FIXTURES)
    assert main(["check", "shape_add_mismatch.nas"]) == 2
    err = capsys.readouterr().err.splitlines()
    notes = [i for i, ln in enumerate(err) if ": note: " in ln]
    assert [err[i] for i in notes] == [
        "shape_add_mismatch.nas:4:9: note: 'a' is f32[B, 16, 32, 32] here",
        "shape_add_mismatch.nas:5:9: note: 'b' is f32[B, 32, 16, 16] here",
    ]
    for i in notes:
        assert err[i + 2].strip().startswith("^")

    assert main(["check", "shared_if_on_meta_arg.nas"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "shared_if_on_meta_arg.nas:13:26: note: in this instance" in err
    assert "shared_if_on_meta_arg.nas:13:14: note: first instance" in err


def test_import_cycle_shows_the_chain(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(FIXTURES)
    assert main(["check", "import_cycle.nas"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "cycle/b.nas:2:8: error: import cycle: cycle/a.nas -> cycle/b.nas -> cycle/a.nas"
    assert "cycle/a.nas:2:8: note: 'cycle/b.nas' imported here" in err


def test_missing_file_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["check", str(tmp_path / "missing.nas")])
    err = capsys.readouterr().err
    assert rc == 2 and "no such file" in err and "Traceback" not in err
