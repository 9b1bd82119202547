"""Parsing: text -> :mod:`nasc.frontend.ast`, with syntax errors a user can act on.

The grammar lives in ``grammar/nas.lark`` (installed as ``nasc.grammar``).  The
Lark parser is built once per :class:`Parser` object (building it costs ~50 ms)
rather than at import time, and callers that parse many files keep one around.
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..errors import NascSyntaxError, Span
from . import ast as A

RESERVED = frozenset({
    "import", "as", "const", "block", "shared", "space", "arch", "extends", "input", "output",
    "repeat", "if", "else", "return", "fix", "constraint", "on", "experiment", "and", "or",
    "not", "in", "true", "false", "choice", "choose", "of", "for",
})

UNITS = ("ms", "us", "ns", "s", "KB", "MB", "GB", "K", "M", "G", "T")

#: Maximum nesting depth of brackets; deeper input is rejected before Lark recurses.
MAX_NESTING = 200

_HUMAN = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
    "QUANTITY": "a quantity such as 5ms", "TARGET": "a target name", "$END": "end of file",
}


def _span(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tspan(file: str, tok: Token) -> Span:
    end_line = tok.end_line if tok.end_line is not None else tok.line
    end_col = tok.end_column if tok.end_column is not None else tok.column + len(tok)
    return Span(file, tok.line, tok.column, end_line, end_col)


class _ToAst(Transformer):
    """Lark tree -> AST dataclasses; checks reserved words on every NAME it keeps."""

    def __init__(self, file: str) -> None:
        super().__init__(visit_tokens=False)
        self.file = file

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
    @v_args(meta=True)
    def start(self, meta, items):
        return self._clean(items)

    @v_args(meta=True)
    def import_stmt(self, meta, c):
        path, alias = c
        return A.Import(_unquote(path), self._name(alias) if alias else None, self._s(meta))

    @v_args(meta=True)
    def const_def(self, meta, c):
        return A.Const(self._name(c[0]), c[1], self._s(meta))

    @v_args(meta=True)
    def shared(self, meta, c):
        return A.SharedSpec(c[0], self._s(meta))

    @v_args(meta=True)
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

    def tparams(self, c):
        return c[0] or ()

    def params(self, c):
        return tuple(c)

    @v_args(meta=True)
    def param(self, meta, c):
        return A.Param(self._name(c[0]), c[1], c[2], self._s(meta))

    @v_args(meta=True)
    def type(self, meta, c):
        name, dims = c
        return A.TypeExpr(name.value, dims, self._s(meta))

    def dims(self, c):
        return tuple(d for d in c if d is not None)

    def dim(self, c):
        tok = c[0]
        return int(tok) if tok.type == "INT" else tok.value

    def body(self, c):
        return self._clean(c)

    @v_args(meta=True)
    def space_def(self, meta, c):
        kw, name, params, ext, body = c
        return A.SpaceDef(kw.value, self._name(name), params, ext, body, self._s(meta),
                          _tspan(self.file, name))

    @v_args(meta=True)
    def extends(self, meta, c):
        return A.Extends(c[0], c[1], self._s(meta))

    # -- statements
    @v_args(meta=True)
    def input_decl(self, meta, c):
        return A.InputDecl(self._name(c[0]), c[1], self._s(meta))

    @v_args(meta=True)
    def output_decl(self, meta, c):
        return A.OutputDecl(self._name(c[0]), c[1], c[2], self._s(meta))

    @v_args(meta=True)
    def assign(self, meta, c):
        names, spans = c[0]
        return A.Assign(names, tuple(c[1:]), self._s(meta), spans)

    def targets(self, c):
        return tuple(self._name(t) for t in c), tuple(_tspan(self.file, t) for t in c)

    @v_args(meta=True)
    def repeat_stmt(self, meta, c):
        count, var, body = c
        return A.Repeat(count, self._name(var) if var else None, body, self._s(meta))

    @v_args(meta=True)
    def if_stmt(self, meta, c):
        cond, body, orelse = c
        if isinstance(orelse, A.If):
            orelse = (orelse,)
        return A.If(cond, body, orelse, self._s(meta))

    @v_args(meta=True)
    def return_stmt(self, meta, c):
        return A.Return(tuple(c), self._s(meta))

    @v_args(meta=True)
    def fix_stmt(self, meta, c):
        return A.Fix(c[0], c[1], self._s(meta))

    @v_args(meta=True)
    def path(self, meta, c):
        parts: list[str | int] = []
        for tok in c:
            parts.append(int(tok) if tok.type == "INT" else tok.value)
        return A.PathExpr(tuple(parts), self._s(meta))

    @v_args(meta=True)
    def constraint(self, meta, c):
        return A.Constraint(c[0], c[1], c[2], self._s(meta))

    @v_args(meta=True)
    def target(self, meta, c):
        tok, args = c
        quoted = tok.type == "STRING"
        return A.TargetRef(_unquote(tok) if quoted else tok.value, args, quoted, self._s(meta))

    @v_args(meta=True)
    def strength(self, meta, c):
        return A.Strength(c[0].value, c[1], self._s(meta))

    @v_args(meta=True)
    def experiment(self, meta, c):
        name = c[0]
        return A.Experiment(self._name(name) if name else None, self._clean(c[1:]), self._s(meta))

    @v_args(meta=True)
    def setting(self, meta, c):
        return A.Setting(c[0], c[1], self._s(meta))

    @v_args(meta=True)
    def section(self, meta, c):
        return A.Section(c[0].value, self._clean(c[1:]), self._s(meta))

    def dotted(self, c):
        return tuple(t.value for t in c)

    # -- expressions
    @v_args(meta=True)
    def ternary(self, meta, c):
        return A.Ternary(c[0], c[1], c[2], self._s(meta))

    def _fold(self, meta, op, c):
        out = c[0]
        for rhs in c[1:]:
            out = A.Binary(op, out, rhs, self._s(meta))
        return out

    @v_args(meta=True)
    def or_(self, meta, c):
        return self._fold(meta, "or", c)

    @v_args(meta=True)
    def and_(self, meta, c):
        return self._fold(meta, "and", c)

    @v_args(meta=True)
    def not_(self, meta, c):
        return A.Unary("not", c[0], self._s(meta))

    @v_args(meta=True)
    def compare(self, meta, c):
        if len(c) == 1:
            return c[0]
        return A.Compare(tuple(c[1::2]), tuple(c[0::2]), self._s(meta))

    def cmp_op(self, c):
        return c[0].value

    add_op = mul_op = cmp_op

    @v_args(meta=True)
    def binop(self, meta, c):
        out = c[0]
        for op, rhs in zip(c[1::2], c[2::2]):
            span = Span(self.file, _first(out).line, _first(out).col, rhs_end(rhs).end_line, rhs_end(rhs).end_col)
            out = A.Binary(op, out, rhs, span)
        return out

    @v_args(meta=True)
    def pipe(self, meta, c):
        out = c[0]
        for rhs in c[1:]:
            span = Span(self.file, _first(out).line, _first(out).col, rhs_end(rhs).end_line, rhs_end(rhs).end_col)
            out = A.Binary("|>", out, rhs, span)
        return out

    @v_args(meta=True)
    def neg(self, meta, c):
        return A.Unary("-", c[0], self._s(meta))

    @v_args(meta=True)
    def call(self, meta, c):
        return A.Call(c[0], c[1] or (), self._s(meta))

    @v_args(meta=True)
    def attr(self, meta, c):
        return A.Attr(c[0], c[1].value, self._s(meta))

    @v_args(meta=True)
    def index(self, meta, c):
        return A.Index(c[0], c[1], self._s(meta))

    @v_args(meta=True)
    def var(self, meta, c):
        return A.Name(self._name(c[0]), self._s(meta))

    @v_args(meta=True)
    def int(self, meta, c):
        return A.Int(int(c[0]), self._s(meta))

    @v_args(meta=True)
    def float(self, meta, c):
        return A.Float(float(c[0]), self._s(meta))

    @v_args(meta=True)
    def quantity(self, meta, c):
        text = c[0].value
        m = re.fullmatch(r"(\d+(?:\.\d+)?)([A-Za-z]+)", text)
        assert m is not None
        return A.Quantity(float(m.group(1)), m.group(2), text, self._s(meta))

    @v_args(meta=True)
    def string(self, meta, c):
        return A.Str(_unquote(c[0]), self._s(meta))

    @v_args(meta=True)
    def true(self, meta, c):
        return A.Bool(True, self._s(meta))

    @v_args(meta=True)
    def false(self, meta, c):
        return A.Bool(False, self._s(meta))

    @v_args(meta=True)
    def list(self, meta, c):
        return A.ListExpr(self._clean(c), self._s(meta))

    @v_args(meta=True)
    def item(self, meta, c):
        label, value = c
        return A.Item(label.value if label else None, value, self._s(meta))

    @v_args(meta=True)
    def comprehension(self, meta, c):
        return A.Comprehension(c[0], self._name(c[1]), c[2], c[3], self._s(meta))

    @v_args(meta=True)
    def range(self, meta, c):
        return A.Range(int(c[0]), int(c[1]), self._s(meta))

    @v_args(meta=True)
    def paren(self, meta, c):
        return A.Paren(c[0], self._s(meta))

    @v_args(meta=True)
    def choice(self, meta, c):
        return A.Choice(c[0], self._s(meta))

    @v_args(meta=True)
    def choose(self, meta, c):
        return A.Choose(c[0], c[1], self._s(meta))

    def args(self, c):
        return tuple(c)

    @v_args(meta=True)
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


class Parser:
    """A reusable `.nas` parser (builds the Lark LALR tables once)."""

    @cached_property
    def _lark(self) -> Lark:
        text = resources.files("nasc.grammar").joinpath("nas.lark").read_text()
        return Lark(text, parser="lalr", lexer="contextual", propagate_positions=True,
                    maybe_placeholders=True, cache=False,
                    lexer_callbacks={"COMMENT": self._on_comment})

    def _on_comment(self, tok: Token) -> None:
        # Comments are %ignored by the grammar; this callback collects them (into the
        # list of the parse in progress) so the formatter can put every one back.
        if self._comment_sink is not None:
            self._comment_sink(tok)

    _comment_sink = None

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
            comments.append(A.Comment(tok.value, tok.line, tok.column, _own_line(text, tok)))

        try:
            tree = self._parse_with_comments(text, keep)
        except UnexpectedInput as err:
            raise self._syntax_error(err, text, file) from None
        try:
            items = _ToAst(file).transform(tree)
        except VisitError as err:
            if isinstance(err.orig_exc, NascSyntaxError):
                raise err.orig_exc from None
            raise
        return A.Module(file, items, tuple(comments))

    def _parse_with_comments(self, text: str, keep) -> Tree:
        lark = self._lark
        self._comment_sink = keep
        try:
            return lark.parse(text)
        finally:
            self._comment_sink = None

    def _syntax_error(self, err: UnexpectedInput, text: str, file: str) -> NascSyntaxError:
        unclosed = _unclosed_bracket(text, file)
        if isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
            if unclosed is not None:
                return unclosed
            line, col = _end_position(text)
            return NascSyntaxError("unexpected end of file" + self._expected(err), Span(file, line, col, line, col + 1))
        if isinstance(err, UnexpectedCharacters):
            ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
            span = Span(file, err.line, err.column, err.line, err.column + 1)
            if ch == '"':
                return NascSyntaxError("unterminated string", span)
            return NascSyntaxError(f"unexpected character {ch!r}", span)
        assert isinstance(err, UnexpectedToken)
        tok = err.token
        span = _tspan(file, tok)
        unit = _spaced_unit(text, tok)
        if unit is not None:
            return NascSyntaxError(f"a unit must be glued to its number: write '{unit[0]}{unit[1]}', not "
                                   f"'{unit[0]} {unit[1]}'", span)
        if tok.type == "RBRACE" and unclosed is None and _unmatched_close(text, tok):
            return NascSyntaxError("unmatched '}'", span)
        shown = tok.value if len(tok.value) <= 20 else tok.value[:17] + "..."
        return NascSyntaxError(f"unexpected {_describe(tok)} {shown!r}" + self._expected(err), span)

    def _expected(self, err: UnexpectedInput) -> str:
        expected = getattr(err, "expected", None) or getattr(err, "accepts", None) or set()
        names = sorted({self._terminal_text.get(e, _HUMAN.get(e, e.lower())) for e in expected
                        if not e.startswith("_") and e != "COMMENT"})
        if not names:
            return ""
        if len(names) > 8:
            names = names[:8] + ["..."]
        return "; expected " + (names[0] if len(names) == 1 else "one of " + ", ".join(names))


def _describe(tok: Token) -> str:
    if tok.type == "NAME":
        return "name"
    if tok.type in ("INT", "FLOAT", "QUANTITY"):
        return "number"
    if tok.type == "STRING":
        return "string"
    if tok.value.isalpha():
        return "keyword"
    return "token"


def _check_text(text: str, file: str) -> None:
    """Reject binary input and absurd nesting before Lark sees them."""
    for i, ch in enumerate(text):
        if ch == "\x00" or (ord(ch) < 32 and ch not in "\t\n\r\f") or ch == "\ufffd":
            line = text.count("\n", 0, i) + 1
            col = i - (text.rfind("\n", 0, i) + 1) + 1
            raise NascSyntaxError(f"unexpected control character U+{ord(ch):04X} (is this a binary file?)",
                                  Span(file, line, col, line, col + 1))
    depth = 0
    for i, ch in _code_chars(text):
        if ch in "([{":
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, i) + 1
                col = i - (text.rfind("\n", 0, i) + 1) + 1
                raise NascSyntaxError(f"brackets nested deeper than {MAX_NESTING} levels",
                                      Span(file, line, col, line, col + 1))
        elif ch in ")]}":
            depth = max(0, depth - 1)


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


def _spaced_unit(text: str, tok: Token) -> tuple[str, str] | None:
    """Detect ``5 ms`` (a number, a space, a unit) right before or at the error token."""
    line = text.splitlines()[tok.line - 1] if tok.line and tok.line <= len(text.splitlines()) else ""
    for m in re.finditer(r"(\d+(?:\.\d+)?)\s+(" + "|".join(UNITS) + r")(?![A-Za-z0-9_])", line):
        start_col = m.start(2) + 1
        if abs(start_col - tok.column) <= 1 or m.start(1) + 1 <= tok.column <= m.end(2) + 1:
            return m.group(1), m.group(2)
    return None


def _own_line(text: str, tok: Token) -> bool:
    start = text.rfind("\n", 0, tok.start_pos) + 1
    return text[start:tok.start_pos].strip() == ""
