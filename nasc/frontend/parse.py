"""Parsing: text -> :mod:`nasc.frontend.ast`, with syntax errors a user can act on.

The grammar lives in ``grammar/nas.lark`` (installed as ``nasc.grammar``).  The
Lark parser is built once per :class:`Parser` object (building it costs ~50 ms)
rather than at import time, and callers that parse many files keep one around.
"""

from __future__ import annotations

import builtins
import math
import re
import threading
from functools import cached_property
from importlib import resources
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import NascSyntaxError, Span
from ..gcpause import collector_paused
from . import ast as A

RESERVED = frozenset({
    "import", "as", "const", "block", "shared", "space", "arch", "extends", "input", "output",
    "repeat", "if", "else", "return", "fix", "constraint", "on", "experiment", "and", "or",
    "not", "in", "true", "false", "choice", "choose", "of", "for",
})

_INT_MAX = (1 << 63) - 1

UNITS = ("ms", "us", "ns", "s", "KB", "MB", "GB", "K", "M", "G", "T")

#: Maximum nesting depth of brackets; deeper input is rejected before Lark recurses.
MAX_NESTING = 200

#: Maximum depth of the syntax tree (every expression, argument, list item and nested
#: statement is one level).  Later stages (elaboration, the printer) walk the tree
#: recursively, so deeper input is rejected here with a position instead of
#: overflowing Python's stack there.
MAX_DEPTH = 160

_HUMAN = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
    "QUANTITY": "a quantity such as 5ms", "TARGET": "a target name", "$END": "end of file",
}


def _span(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _start(tok: Token) -> tuple[int, int]:
    """A lexed token's line and column (Lark types them optional: tokens made by hand have none)."""
    assert tok.line is not None and tok.column is not None
    return tok.line, tok.column


def _tspan(file: str, tok: Token) -> Span:
    line, column = _start(tok)
    end_line = tok.end_line if tok.end_line is not None else line
    end_col = tok.end_column if tok.end_column is not None else column + len(tok)
    return Span(file, line, column, end_line, end_col)


class _ToAst:
    """Lark tree -> AST dataclasses; checks reserved words on every NAME it keeps.

    Each rule ``r`` of the grammar is a method ``r(meta, children)``.  The walk is
    post-order and iterative (a tree may be as deep as the parser allows, deeper than
    Python's stack), and calls the methods directly: Lark's generic transformers wrap
    every call, which costs as much as the rules themselves on a large file.
    """

    def __init__(self, file: str) -> None:
        self.file = file

    def transform(self, tree: Tree) -> Any:
        order: list[Any] = []
        todo: list[Any] = [tree]
        while todo:
            node = todo.pop()
            order.append(node)
            if isinstance(node, Tree):
                todo.extend(node.children)
        done: list[Any] = []
        for node in reversed(order):
            if isinstance(node, Tree):
                n = len(node.children)
                children = done[len(done) - n:]
                del done[len(done) - n:]
                done.append(getattr(self, node.data)(node.meta, children))
            else:
                done.append(node)
        (result,) = done
        return result

    # -- helpers
    def _name(self, tok: Token) -> str:
        if tok.value in RESERVED:
            raise NascSyntaxError(f"'{tok.value}' is a reserved word and cannot be used as a name",
                                  _tspan(self.file, tok))
        return tok.value

    def _s(self, meta) -> Span:
        return _span(self.file, meta)

    @staticmethod
    def _clean(items):
        return tuple(x for x in items if x is not None)

    # -- top level
    def start(self, meta, items):
        return self._clean(items)

    def import_stmt(self, meta, c):
        path, alias = c
        return A.Import(_unquote(path), self._name(alias) if alias else None, self._s(meta))

    def const_def(self, meta, c):
        return A.Const(self._name(c[0]), c[1], self._s(meta))

    def shared(self, meta, c):
        return A.SharedSpec(c[0], self._s(meta))

    def block_def(self, meta, c):
        shared, name, meta_params, tparams, body = c
        curried = tparams is not None
        mp = meta_params or ()
        if curried:
            meta_list, tensor_list = mp, tparams
        else:
            meta_list, tensor_list = (), mp
        return A.BlockDef(self._name(name), tuple(meta_list), tuple(tensor_list), curried, body, shared,
                          self._s(meta), _tspan(self.file, name))

    def tparams(self, meta, c):
        return c[0] or ()

    def params(self, meta, c):
        return tuple(c)

    def param(self, meta, c):
        return A.Param(self._name(c[0]), c[1], c[2], self._s(meta))

    def type(self, meta, c):
        name, dims = c
        return A.TypeExpr(name.value, dims, self._s(meta))

    def dims(self, meta, c):
        return tuple(d for d in c if d is not None)

    def dim(self, meta, c):
        tok = c[0]
        return self._int(tok) if tok.type == "INT" else tok.value

    def body(self, meta, c):
        return self._clean(c)

    def space_def(self, meta, c):
        kw, name, params, ext, body = c
        return A.SpaceDef(kw.value, self._name(name), params, ext, body, self._s(meta),
                          _tspan(self.file, name))

    def extends(self, meta, c):
        return A.Extends(c[0], c[1], self._s(meta))

    # -- statements
    def input_decl(self, meta, c):
        return A.InputDecl(self._name(c[0]), c[1], self._s(meta))

    def output_decl(self, meta, c):
        return A.OutputDecl(self._name(c[0]), c[1], c[2], self._s(meta))

    def assign(self, meta, c):
        names, spans = c[0]
        return A.Assign(names, tuple(c[1:]), self._s(meta), spans)

    def targets(self, meta, c):
        return tuple(self._name(t) for t in c), tuple(_tspan(self.file, t) for t in c)

    def repeat_stmt(self, meta, c):
        count, var, body = c
        return A.Repeat(count, self._name(var) if var else None, body, self._s(meta))

    def if_stmt(self, meta, c):
        cond, body, orelse = c
        if isinstance(orelse, A.If):
            orelse = (orelse,)
        return A.If(cond, body, orelse, self._s(meta))

    def return_stmt(self, meta, c):
        return A.Return(tuple(c), self._s(meta))

    def fix_stmt(self, meta, c):
        return A.Fix(c[0], c[1], self._s(meta))

    def path(self, meta, c):
        parts: list[str | int] = []
        for tok in c:
            parts.append(self._int(tok) if tok.type == "INT" else tok.value)
        return A.PathExpr(tuple(parts), self._s(meta))

    def constraint(self, meta, c):
        return A.Constraint(c[0], c[1], c[2], self._s(meta))

    def target(self, meta, c):
        tok, args = c
        quoted = tok.type == "STRING"
        return A.TargetRef(_unquote(tok) if quoted else tok.value, args, quoted, self._s(meta))

    def strength(self, meta, c):
        return A.Strength(c[0].value, c[1], self._s(meta))

    def experiment(self, meta, c):
        name = c[0]
        return A.Experiment(self._name(name) if name else None, self._clean(c[1:]), self._s(meta))

    def setting(self, meta, c):
        return A.Setting(c[0], c[1], self._s(meta))

    def section(self, meta, c):
        return A.Section(c[0].value, self._clean(c[1:]), self._s(meta))

    def dotted(self, meta, c):
        return tuple(t.value for t in c)

    # -- expressions
    def ternary(self, meta, c):
        return A.Ternary(c[0], c[1], c[2], self._s(meta))

    def _fold(self, meta, op, c):
        out = c[0]
        for rhs in c[1:]:
            out = A.Binary(op, out, rhs, self._s(meta))
        return out

    def or_(self, meta, c):
        return self._fold(meta, "or", c)

    def and_(self, meta, c):
        return self._fold(meta, "and", c)

    def not_(self, meta, c):
        return A.Unary("not", c[0], self._s(meta))

    def compare(self, meta, c):
        if len(c) == 1:
            return c[0]
        return A.Compare(tuple(c[1::2]), tuple(c[0::2]), self._s(meta))

    def cmp_op(self, meta, c):
        return c[0].value

    add_op = mul_op = cmp_op

    def binop(self, meta, c):
        out = c[0]
        for op, rhs in zip(c[1::2], c[2::2]):
            span = Span(self.file, _first(out).line, _first(out).col, rhs_end(rhs).end_line, rhs_end(rhs).end_col)
            out = A.Binary(op, out, rhs, span)
        return out

    def pipe(self, meta, c):
        out = c[0]
        for rhs in c[1:]:
            span = Span(self.file, _first(out).line, _first(out).col, rhs_end(rhs).end_line, rhs_end(rhs).end_col)
            out = A.Binary("|>", out, rhs, span)
        return out

    def neg(self, meta, c):
        return A.Unary("-", c[0], self._s(meta))

    def call(self, meta, c):
        return A.Call(c[0], c[1] or (), self._s(meta))

    def attr(self, meta, c):
        return A.Attr(c[0], c[1].value, self._s(meta))

    def index(self, meta, c):
        return A.Index(c[0], c[1], self._s(meta))

    def var(self, meta, c):
        tok = c[0]
        if tok.value in RESERVED:
            # the contextual lexer reads a keyword as a name where only a name can follow
            # (`h = x +` at the end of a line, then `output ...` on the next one)
            raise NascSyntaxError(f"expected an expression, found keyword '{tok.value}'", _tspan(self.file, tok))
        return A.Name(tok.value, self._s(meta))

    def int(self, meta, c):
        return A.Int(self._int(c[0]), self._s(meta))

    def float(self, meta, c):
        value = float(c[0])
        if not math.isfinite(value):
            raise NascSyntaxError(f"number {_short(c[0].value)} is too large", _tspan(self.file, c[0]))
        return A.Float(value, self._s(meta))

    def _int(self, tok: Token) -> builtins.int:  # `int` is also a rule method here
        """An integer literal, at most 63 bits (compile-time integers are int64)."""
        digits = tok.value.lstrip("0") or "0"
        if len(digits) > 19 or int(digits) > _INT_MAX:
            raise NascSyntaxError(f"integer {_short(tok.value)} is too large (the largest is {_INT_MAX})",
                                  _tspan(self.file, tok))
        return int(digits)

    def quantity(self, meta, c):
        text = c[0].value
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]+)", text)
        assert m is not None
        number = float(m.group(1))
        if not math.isfinite(number) or len(m.group(1)) > 40:
            raise NascSyntaxError(f"quantity {_short(text)} is too large", _tspan(self.file, c[0]))
        return A.Quantity(number, m.group(2), text, self._s(meta))

    def string(self, meta, c):
        return A.Str(_unquote(c[0]), self._s(meta))

    def true(self, meta, c):
        return A.Bool(True, self._s(meta))

    def false(self, meta, c):
        return A.Bool(False, self._s(meta))

    def list(self, meta, c):
        return A.ListExpr(self._clean(c), self._s(meta))

    def item(self, meta, c):
        label, value = c
        return A.Item(label.value if label else None, value, self._s(meta))

    def comprehension(self, meta, c):
        return A.Comprehension(c[0], self._name(c[1]), c[2], c[3], self._s(meta))

    def range(self, meta, c):
        return A.Range(self._int(c[0]), self._int(c[1]), self._s(meta))

    def paren(self, meta, c):
        return A.Paren(c[0], self._s(meta))

    def choice(self, meta, c):
        return A.Choice(c[0], self._s(meta))

    def choose(self, meta, c):
        return A.Choose(c[0], c[1], self._s(meta))

    def args(self, meta, c):
        return tuple(c)

    def arg(self, meta, c):
        name, value = c
        return A.Arg(name.value if name else None, value, self._s(meta))


def _first(node) -> Span:
    return node.span


def rhs_end(node) -> Span:
    return node.span


def _unquote(tok: str) -> str:
    body = str(tok)[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


_LARK: Lark | None = None
_LARK_LOCK = threading.Lock()
_SINK = threading.local()  # the comment collector of the parse in progress on this thread


def _on_comment(tok: Token) -> None:
    # Comments are %ignored by the grammar; this callback collects them (into the list
    # of the parse in progress) so the formatter can put every one back.
    sink = getattr(_SINK, "fn", None)
    if sink is not None:
        sink(tok)


def _shared_lark() -> Lark:
    """The Lark parser, built once per process (building the LALR tables costs ~80 ms,
    which every `Parser()` -- one per CLI command, per `--set` -- would otherwise pay)."""
    global _LARK
    with _LARK_LOCK:
        if _LARK is None:
            text = resources.files("nasc.grammar").joinpath("nas.lark").read_text()
            _LARK = Lark(text, parser="lalr", lexer="contextual", propagate_positions=True,
                         maybe_placeholders=True, cache=False, lexer_callbacks={"COMMENT": _on_comment})
        return _LARK


class Parser:
    """A reusable `.nas` parser (the Lark LALR tables are built once per process)."""

    @property
    def _lark(self) -> Lark:
        return _shared_lark()

    @cached_property
    def _terminal_text(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for t in self._lark.terminals:
            if t.pattern.type == "str":
                out[t.name] = f"'{t.pattern.value}'"
        return out

    def parse(self, text: str, file: str = "<input>") -> A.Module:
        """Parse `text`; raise :class:`NascSyntaxError` with a precise span on failure."""
        _check_text(text, file)
        comments: list[A.Comment] = []

        def keep(tok: Token) -> None:
            comments.append(A.Comment(tok.value, *_start(tok), _own_line(text, tok)))

        with collector_paused():
            try:
                tree = self._parse_with_comments(text, keep)
            except UnexpectedInput as err:
                raise self._syntax_error(err, text, file) from None
            items = _ToAst(file).transform(tree)
        _check_depth(items, file)
        return A.Module(file, items, tuple(comments))

    def _parse_with_comments(self, text: str, keep) -> Tree:
        lark = self._lark
        saved = getattr(_SINK, "fn", None)
        _SINK.fn = keep
        try:
            return lark.parse(text)
        finally:
            _SINK.fn = saved

    def _syntax_error(self, err: UnexpectedInput, text: str, file: str) -> NascSyntaxError:
        unclosed = _unclosed_bracket(text, file)
        if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
            if unclosed is not None:
                return unclosed
            line, col = _end_position(text)
            return NascSyntaxError("unexpected end of file" + self._expected(err), Span(file, line, col, line, col + 1))
        if isinstance(err, UnexpectedCharacters):
            pos = err.pos_in_stream if err.pos_in_stream is not None else 0
            ch = text[pos] if pos < len(text) else "?"
            span = Span(file, err.line, err.column, err.line, err.column + 1)
            unit = _spaced_unit(text, file, pos, pos)
            if unit is not None:
                return unit
            if ch == '"':
                return NascSyntaxError("unterminated string (a string must end with '\"' on the same line)", span)
            if ch == "'":
                return NascSyntaxError("strings are written with double quotes (\"...\"), not single quotes", span)
            if ch == "." and text.startswith("..", pos):
                return NascSyntaxError("a range is written INT..INT with integer literals, e.g. choice 1..4", span)
            return NascSyntaxError(f"unexpected character {_show_char(ch)}", span)
        assert isinstance(err, UnexpectedToken)
        tok = err.token
        span = _tspan(file, tok)
        unit = _spaced_unit(text, file, tok.start_pos, tok.end_pos if tok.end_pos is not None else tok.start_pos)
        if unit is not None:
            return unit
        if tok.type == "RBRACE" and unclosed is None and _unmatched_close(text, tok):
            return NascSyntaxError("unmatched '}'", span)
        accepts = _accepted(err)
        inner = _open_bracket_before(text, tok.start_pos)
        if inner is not None:
            opener, where = inner
            closer = {"(": ")", "[": "]", "{": "}"}[opener]
            line, col = _pos(text, where)
            before = f"before {_describe(tok)} {_short(tok.value)!r} at {tok.line}:{tok.column}"
            if opener == "{" and tok.type in _TOP_LEVEL and not _balanced(text):
                return NascSyntaxError(f"unclosed '{{' (expected '}}' {before})", Span(file, line, col, line, col + 1))
            if opener != "{" and _CLOSE_TERMINAL[closer] in accepts and line < tok.line and not _balanced(text):
                return NascSyntaxError(f"unclosed '{opener}' (expected '{closer}' {before})",
                                       Span(file, line, col, line, col + 1))
        if accepts == {"INT"} and (prev := _prev_token(text, tok.start_pos)) is not None and prev[1] == "..":
            return NascSyntaxError("a range is written with integer literals (1..4); for computed bounds write "
                                   "[i for i in range(lo, hi + 1)]", span)
        if _TOP_LEVEL <= accepts and tok.type not in _TOP_LEVEL:
            hint = (" (statements go inside a space or block body)"
                    if tok.type == "NAME" or tok.value in _STATEMENT_KEYWORDS else "")
            return NascSyntaxError(f"unexpected {_describe(tok)} {_short(tok.value)!r} at the top level; expected "
                                   f"'import', 'const', 'block', 'space', 'arch' or 'experiment'{hint}", span)
        prev = _prev_token(text, tok.start_pos)
        if prev is not None and prev[1] in RESERVED and tok.type != "NAME" and prev[1] not in _KEYWORDS_OF(accepts):
            # a keyword where it cannot start anything: the contextual lexer read it as a name
            pstart, word = prev
            line, col = _pos(text, pstart)
            pspan = Span(file, line, col, line, col + len(word))
            if word == "else":
                return NascSyntaxError("'else' without 'if': 'else' must follow the '}' of an 'if' body", pspan)
            if word in _STATEMENT_KEYWORDS and _STATEMENT_KEYWORDS[word]:
                return NascSyntaxError(f"unexpected keyword '{word}': {_STATEMENT_KEYWORDS[word]}", pspan)
        if prev is not None and accepts and accepts <= {"COMMA", "EQUAL"} and _is_name(prev[1]):
            # `h = x y`: the name `y` was read as the start of an assignment
            pstart, word = prev
            line, col = _pos(text, pstart)
            ls = text.rfind("\n", 0, pstart) + 1
            before = text[ls:pstart].strip()
            if before.endswith(","):
                return NascSyntaxError(f"expected ',' or '=' after '{word}'", Span(file, line, col, line,
                                                                                  col + len(word)))
            hint = f"; is an operator missing before '{word}'?" if before and not before.startswith("#") else ""
            return NascSyntaxError(f"expected '=' after '{word}' (a statement that starts with a name assigns to "
                                   f"it){hint}", Span(file, line, col, line, col + len(word)))
        return NascSyntaxError(f"unexpected {_describe(tok)} {_short(tok.value)!r}" + self._expected(err), span)

    def _expected(self, err: UnexpectedInput) -> str:
        expected = _accepted(err)
        names: set[str] = set()
        if _EXPR_START <= expected:
            names.add("an expression")
            expected = expected - _EXPR_START - {"NOT"}
        for e in expected:
            if e in self._terminal_text:
                names.add(self._terminal_text[e])
            elif e in _HUMAN:
                names.add(_HUMAN[e])
            elif not e.startswith("_") and e != "COMMENT":
                names.add(e.lower())
        if len(names & _BINARY_OPS) >= len(_BINARY_OPS) - 2:
            names = (names - _BINARY_OPS) | {"an operator"}
        ordered = sorted(names, key=lambda n: (not n.startswith("an "), n))
        if not ordered:
            return ""
        if len(ordered) == 1:
            return "; expected " + ordered[0]
        if len(ordered) > 8:
            return "; expected one of " + ", ".join(ordered[:8]) + ", ..."
        return "; expected " + ", ".join(ordered[:-1]) + " or " + ordered[-1]


#: Terminals that can start an expression; an expected set holding all of them says "an expression".
_EXPR_START = frozenset({"NAME", "INT", "FLOAT", "QUANTITY", "STRING", "LPAR", "LSQB", "MINUS", "TRUE", "FALSE",
                         "CHOICE", "CHOOSE"})
_BINARY_OPS = frozenset({"'or'", "'and'", "'|>'", "'+'", "'-'", "'*'", "'/'", "'//'", "'%'", "'=='", "'!='",
                         "'<'", "'<='", "'>'", "'>='", "'in'", "'?'"})
_TOP_LEVEL = frozenset({"IMPORT", "CONST", "BLOCK", "SHARED", "SPACE", "ARCH", "EXPERIMENT"})
_CLOSE_TERMINAL = {")": "RPAR", "]": "RSQB", "}": "RBRACE"}
_STATEMENT_KEYWORDS = {
    "input": "'input' declarations belong in a space or arch body",
    "output": "'output' declarations belong in a space or arch body",
    "repeat": "statements belong in a space or block body",
    "if": "statements belong in a space or block body",
    "return": "'return' belongs in a block body",
    "fix": "'fix' belongs in a space or arch body",
    "constraint": "statements belong in a space or block body",
}


def _KEYWORDS_OF(accepts: frozenset[str]) -> set[str]:
    return {t.lower() for t in accepts if t.isalpha() and t.isupper()}


def _accepted(err: UnexpectedInput) -> frozenset[str]:
    """The terminals the parser would have accepted (Lark's `accepts`, which, unlike
    `expected`, includes keywords reached through reductions)."""
    try:
        acc = getattr(err, "accepts", None)
    except Exception:  # computing `accepts` replays the parser; never let that hide the real error
        acc = None
    return frozenset(acc or getattr(err, "expected", None) or getattr(err, "allowed", None) or ())


def _is_name(word: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", word)) and word not in RESERVED


def _short(value: str) -> str:
    return value if len(value) <= 20 else value[:17] + "..."


def _show_char(ch: str) -> str:
    if ch.isprintable() and not ch.isspace():
        return repr(ch)
    return f"U+{ord(ch):04X}"


def _describe(tok: Token) -> str:
    if tok.value in RESERVED:
        return "keyword"
    if tok.type == "NAME":
        return "name"
    if tok.type in ("INT", "FLOAT", "QUANTITY"):
        return "number"
    if tok.type == "STRING":
        return "string"
    if tok.value.isalpha():
        return "keyword"
    return "token"


_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")

#: Largest source accepted (characters).  `.nas` files are written by hand or printed by
#: `nasc freeze`; megabytes of input mean something else was passed in, and parsing it
#: would take minutes.
MAX_SOURCE_CHARS = 1 << 20


def _check_text(text: str, file: str) -> None:
    """Reject binary input, huge files and absurd nesting before Lark sees them."""
    if len(text) > MAX_SOURCE_CHARS:
        raise NascSyntaxError(f"file too large: {len(text):,} characters (a .nas file may have at most "
                              f"{MAX_SOURCE_CHARS:,})", Span(file, 1, 1, 1, 2))
    m = _BAD_CHARS.search(text)
    if m is not None:
        i = m.start()
        ch = text[i]
        line, col = _pos(text, i)
        raise NascSyntaxError(f"unexpected control character U+{ord(ch):04X} (is this a binary file?)",
                              Span(file, line, col, line, col + 1))
    depth = 0
    for i, ch in _code_chars(text):
        if ch in "([{":
            depth += 1
            if depth > MAX_NESTING:
                line, col = _pos(text, i)
                raise NascSyntaxError(f"brackets nested deeper than {MAX_NESTING} levels",
                                      Span(file, line, col, line, col + 1))
        elif ch in ")]}":
            depth = max(0, depth - 1)


def _check_depth(items, file: str) -> None:
    """Reject syntax trees deeper than :data:`MAX_DEPTH` (walked without recursion)."""
    stack: list[tuple[object, int]] = [(it, 1) for it in items]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise NascSyntaxError(f"nested too deeply: more than {MAX_DEPTH} levels of expressions and "
                                  "statements (split the code using intermediate names)", getattr(node, "span", None))
        for name in getattr(node, "__dataclass_fields__", ()):
            if name in ("span", "name_span"):
                continue
            v = getattr(node, name)
            if isinstance(v, tuple):
                stack.extend((x, depth + 1) for x in v if _is_node(x))
            elif _is_node(v):
                stack.append((v, depth + 1))


def _is_node(x: object) -> bool:
    return hasattr(x, "__dataclass_fields__") and not isinstance(x, Span)


def _code_chars(text: str):
    """Yield (index, char) of characters outside strings and comments."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"' and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        yield i, ch
        i += 1


def _pos(text: str, i: int) -> tuple[int, int]:
    line = text.count("\n", 0, i) + 1
    return line, i - (text.rfind("\n", 0, i) + 1) + 1


def _unclosed_bracket(text: str, file: str) -> NascSyntaxError | None:
    stack: list[tuple[int, str]] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for i, ch in _code_chars(text):
        if ch in "([{":
            stack.append((i, ch))
        elif ch in pairs:
            if stack and stack[-1][1] == pairs[ch]:
                stack.pop()
            else:
                return None
    if not stack:
        return None
    i, ch = stack[-1]
    line, col = _pos(text, i)
    return NascSyntaxError(f"unclosed '{ch}' (the file ends before its closing "
                           f"'{ {'(': ')', '[': ']', '{': '}'}[ch] }')", Span(file, line, col, line, col + 1))


def _unmatched_close(text: str, tok: Token) -> bool:
    depth = 0
    for i, ch in _code_chars(text):
        if i >= tok.start_pos:
            break
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
    return depth <= 0


def _end_position(text: str) -> tuple[int, int]:
    stripped = text.rstrip()
    if not stripped:
        return 1, 1
    return _pos(text, len(stripped) - 1)


_UNIT_RE = "|".join(sorted(UNITS, key=len, reverse=True))
_SPACED_UNIT = re.compile(r"(?<![A-Za-z0-9_.])(\d+(?:\.\d+)?)([ \t]+)(" + _UNIT_RE + r")(?![A-Za-z0-9_])")
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|\.\.|\|>|//|[=!<>]=|\S')


def _spaced_unit(text: str, file: str, start: int, end: int) -> NascSyntaxError | None:
    """Detect ``5 ms`` (a number, blanks, a unit) where parsing failed: the unit is the
    offending token, or the token just before it (``5`` ends an expression and ``ms``
    starts a new statement, which then fails)."""
    lo = text.rfind("\n", 0, max(0, text.rfind("\n", 0, start)))  # the error line and the one before
    for m in _SPACED_UNIT.finditer(text, max(0, lo), max(start, end)):
        unit_start, unit_end = m.start(3), m.end(3)
        if unit_start == start or (unit_end <= start and _only_blank(text, unit_end, start)):
            if not _in_code(text, m.start(1)):
                continue
            line, col = _pos(text, m.start(1))
            number, unit = m.group(1), m.group(3)
            return NascSyntaxError(f"a unit must be glued to its number: write '{number}{unit}', not "
                                   f"'{number}{m.group(2)}{unit}'",
                                   Span(file, line, col, line, col + unit_end - m.start(1)))
    return None


def _only_blank(text: str, a: int, b: int) -> bool:
    """Only whitespace and comments between a and b."""
    return re.sub(r"#[^\n]*", "", text[a:b]).strip() == ""


def _in_code(text: str, i: int) -> bool:
    """Whether position i is outside comments and strings (checked on its own line)."""
    ls = text.rfind("\n", 0, i) + 1
    for m in _TOKEN.finditer(text, ls, i + 1):
        if m.start() <= i < m.end():
            return m.group()[0] not in '#"'
    return True


def _prev_token(text: str, pos: int) -> tuple[int, str] | None:
    """The code token (not a comment) that ends last before `pos`, as (start, text)."""
    ls = pos
    for _ in range(64):  # look back a few lines at most
        ls = text.rfind("\n", 0, ls)
        found = None
        for m in _TOKEN.finditer(text, ls + 1, pos):
            if not m.group().startswith("#"):
                found = (m.start(), m.group())
        if found is not None:
            # a line that starts inside a multi-line string cannot happen (strings are one line)
            return found
        if ls <= 0:
            return None
    return None


def _open_bracket_before(text: str, pos: int) -> tuple[str, int] | None:
    """The innermost bracket still open at `pos`, as (bracket, index)."""
    stack: list[tuple[str, int]] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for i, ch in _code_chars(text):
        if i >= pos:
            break
        if ch in "([{":
            stack.append((ch, i))
        elif ch in pairs and stack and stack[-1][0] == pairs[ch]:
            stack.pop()
    return stack[-1] if stack else None


def _balanced(text: str) -> bool:
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for _, ch in _code_chars(text):
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack[-1] != pairs[ch]:
                return False
            stack.pop()
    return not stack


def _own_line(text: str, tok: Token) -> bool:
    start = text.rfind("\n", 0, tok.start_pos) + 1
    return text[start:tok.start_pos].strip() == ""
