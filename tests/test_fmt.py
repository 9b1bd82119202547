"""`nasc fmt`: idempotent, meaning-preserving, never loses a comment."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark

from nasc.cli import main
from nasc.frontend.parse import Parser
from nasc.frontend.printer import format_module

from .conftest import EXAMPLES, ROOT

FILES = sorted(EXAMPLES.glob("*.nas"))
PARSER = Parser()


def fmt(text: str, name: str = "t.nas") -> str:
    return format_module(PARSER.parse(text, name))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_idempotent_and_meaning_preserving(path: Path) -> None:
    src = path.read_text()
    once = fmt(src)
    assert fmt(once) == once
    assert PARSER.parse(once, "x").items == PARSER.parse(src, "x").items  # same AST (spans ignored)
    comments = sorted(c.text.strip() for c in PARSER.parse(src, "x").comments)
    assert sorted(c.text.strip() for c in PARSER.parse(once, "x").comments) == comments


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_examples_are_formatted(path: Path) -> None:
    """The shipped examples are in canonical form (`nasc fmt --check` passes)."""
    assert main(["fmt", "--check", str(path)]) == 0


def test_check_flag_reports_unformatted(tmp_path: Path) -> None:
    p = tmp_path / "u.nas"
    p.write_text("space s{input x:f32[B,1,8,8]\noutput y=x|>relu}")
    assert main(["fmt", "--check", str(p)]) == 3
    assert main(["fmt", "--write", str(p)]) == 0
    assert main(["fmt", "--check", str(p)]) == 0
    assert p.read_text().splitlines()[0] == "space s {"


_LEXER = Lark((ROOT / "grammar" / "nas.lark").read_text(), parser="lalr", lexer="basic")
_WS = st.sampled_from([" ", "  ", "\n", "\n\n", " \n    ", "\t"])


@st.composite
def scrambled(draw: st.DrawFn) -> tuple[str, str]:
    """An example with its whitespace replaced at random (comments kept on their own lines)."""
    path = draw(st.sampled_from(FILES))
    src = path.read_text()
    out: list[str] = []
    pos = 0
    for tok in _LEXER.lex(src, dont_ignore=True):
        gap = src[pos:tok.start_pos]
        pos = tok.end_pos
        if tok.type == "WS":
            ws = draw(_WS)
            if "\n" in tok.value and "\n" not in ws:
                ws += "\n"
            out.append(ws)
            continue
        if not gap and out and draw(st.booleans()) and not out[-1].isspace():
            out.append(" ")
        out.append(tok.value)
        if tok.type == "COMMENT":
            out.append("\n")
    return src, "".join(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scrambled())
def test_fmt_of_scrambled_layout_is_canonical(pair: tuple[str, str]) -> None:
    src, messy = pair
    out = fmt(messy)
    assert fmt(out) == out
    assert PARSER.parse(out, "x").items == PARSER.parse(src, "x").items
