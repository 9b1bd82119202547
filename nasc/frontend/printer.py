"""The canonical printer: AST -> `.nas` text (``nasc fmt``, and the text of frozen archs).

Rules: 4-space indent, one statement per line, spaces around binary operators
and ``=``, shortest float repr, double-quoted strings.  A list breaks over
several lines (one item per line, trailing comma) when the line would exceed
100 columns or when comments sit inside it; every comment of the source is kept,
either after the item or statement it trails or on its own line before the next
statement.  Blank lines between statements are kept (collapsed to one).  The
output depends only on the AST and the comments, so ``fmt`` is idempotent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import ast as A

WIDTH = 100
INDENT = "    "

# binding strength, to add parentheses only where a synthesized tree needs them
_PREC = {"ternary": 1, "or": 2, "and": 3, "not": 4, "cmp": 5, "+": 6, "-": 6, "*": 7, "/": 7, "//": 7, "%": 7,
         "|>": 8, "neg": 9, "postfix": 10}


def fmt_number(v: float | int) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if v == int(v) and abs(v) < 1e16:
        return str(int(v)) if isinstance(v, int) else repr(float(v))
    return repr(v)


def fmt_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _prec(e: A.Expr) -> int:
    if isinstance(e, A.Ternary):
        return _PREC["ternary"]
    if isinstance(e, A.Binary):
        return _PREC[e.op] if e.op in _PREC else _PREC["+"]
    if isinstance(e, A.Compare):
        return _PREC["cmp"]
    if isinstance(e, A.Unary):
        return _PREC["not"] if e.op == "not" else _PREC["neg"]
    return _PREC["postfix"]


@dataclass
class _Ctx:
    break_lists: set[int] = field(default_factory=set)  # id() of ListExpr nodes to break
    indent: int = 0
    comments: dict[int, list[str]] = field(default_factory=dict)  # line -> comment texts (consumable)


def fmt_expr(e: A.Expr) -> str:
    """One-line text of an expression (labels, messages)."""
    return _ex(e, _Ctx())


def _wrap(e: A.Expr, min_prec: int, ctx: _Ctx) -> str:
    s = _ex(e, ctx)
    return f"({s})" if _prec(e) < min_prec else s


def _ex(e: A.Expr, ctx: _Ctx) -> str:
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Int):
        return str(e.value)
    if isinstance(e, A.Float):
        return repr(e.value)
    if isinstance(e, A.Str):
        return fmt_string(e.value)
    if isinstance(e, A.Bool):
        return "true" if e.value else "false"
    if isinstance(e, A.Quantity):
        n = e.number
        return (str(int(n)) if n == int(n) else repr(n)) + e.unit
    if isinstance(e, A.Paren):
        return f"({_ex(e.expr, ctx)})"
    if isinstance(e, A.Range):
        return f"{e.lo}..{e.hi}"
    if isinstance(e, A.ListExpr):
        return _list(e, ctx)
    if isinstance(e, A.Comprehension):
        cond = f" if {_ex(e.cond, ctx)}" if e.cond is not None else ""
        return f"[{_ex(e.expr, ctx)} for {e.var} in {_ex(e.iter, ctx)}{cond}]"
    if isinstance(e, A.Choice):
        return f"choice {_ex(e.cands, ctx)}"
    if isinstance(e, A.Choose):
        return f"choose {_wrap(e.k, _PREC['postfix'], ctx)} of {_ex(e.cands, ctx)}"
    if isinstance(e, A.Call):
        return f"{_wrap(e.func, _PREC['postfix'], ctx)}({_args(e.args, ctx)})"
    if isinstance(e, A.Attr):
        return f"{_wrap(e.obj, _PREC['postfix'], ctx)}.{e.name}"
    if isinstance(e, A.Index):
        return f"{_wrap(e.obj, _PREC['postfix'], ctx)}[{_ex(e.index, ctx)}]"
    if isinstance(e, A.Unary):
        if e.op == "not":
            return f"not {_wrap(e.operand, _PREC['not'], ctx)}"
        return f"-{_wrap(e.operand, _PREC['neg'], ctx)}"
    if isinstance(e, A.Binary):
        p = _prec(e)
        # left-associative: the right operand needs strictly higher precedence
        return f"{_wrap(e.left, p, ctx)} {e.op} {_wrap(e.right, p + 1, ctx)}"
    if isinstance(e, A.Compare):
        parts = [_wrap(e.operands[0], _PREC["cmp"] + 1, ctx)]
        for op, rhs in zip(e.ops, e.operands[1:]):
            parts.append(f"{op} {_wrap(rhs, _PREC['cmp'] + 1, ctx)}")
        return " ".join(parts)
    if isinstance(e, A.Ternary):
        return (f"{_wrap(e.cond, _PREC['or'], ctx)} ? {_wrap(e.then, _PREC['ternary'], ctx)} : "
                f"{_wrap(e.orelse, _PREC['ternary'], ctx)}")
    raise TypeError(f"cannot print {type(e).__name__}")  # pragma: no cover


def _args(args: tuple[A.Arg, ...], ctx: _Ctx) -> str:
    return ", ".join((f"{a.name} = " if a.name else "") + _ex(a.value, ctx) for a in args)


def _item(it: A.Item, ctx: _Ctx) -> str:
    return (f"{it.label}: " if it.label else "") + _ex(it.value, ctx)


def _list(e: A.ListExpr, ctx: _Ctx) -> str:
    if id(e) not in ctx.break_lists or not e.items:
        return "[" + ", ".join(_item(it, ctx) for it in e.items) + "]"
    pad = INDENT * (ctx.indent + 1)
    lines = ["["]
    inner = _Ctx(ctx.break_lists, ctx.indent + 1, ctx.comments)
    for it in e.items:
        if it.span is not None:
            for line in sorted(k for k in ctx.comments if k < it.span.line):
                for c in ctx.comments.pop(line):
                    lines.append(pad + c)
        text = pad + _item(it, inner) + ","
        if it.span is not None and it.span.end_line in ctx.comments:
            text += "  " + "  ".join(ctx.comments.pop(it.span.end_line))
        lines.append(text)
    if e.span is not None:
        for line in sorted(k for k in ctx.comments if k < e.span.end_line):
            for c in ctx.comments.pop(line):
                lines.append(pad + c)
    lines.append(INDENT * ctx.indent + "]")
    return "\n".join(lines)


def _lists_in(e: object) -> list[A.ListExpr]:
    """ListExpr nodes in pre-order (outermost first)."""
    out: list[A.ListExpr] = []
    stack = [e]
    while stack:
        n = stack.pop(0)
        if isinstance(n, A.ListExpr):
            out.append(n)
        stack.extend(A.children(n))
    return out


class ModulePrinter:
    """Prints a module with its comments."""

    def __init__(self, module: A.Module) -> None:
        self.module = module
        self.comments: dict[int, list[str]] = {}
        for c in module.comments:
            self.comments.setdefault(c.line, []).append(c.text.rstrip())
        self.out: list[str] = []
        self.last_line = 0

    def run(self) -> str:
        first = True
        for item in self.module.items:
            if not first:
                self._blank()  # top-level items are always separated by one blank line
            self._own_comments_before(item.span.line, 0, first=first)
            self._gap(item.span.line, first and not self.out)
            self._item(item)
            first = False
        self._own_comments_before(10**9, 0, first=first)
        text = "\n".join(self.out).rstrip("\n")
        return text + "\n" if text else ""

    # -- layout helpers
    def _blank(self) -> None:
        if self.out and self.out[-1] != "":
            self.out.append("")

    def _emit(self, indent: int, text: str) -> None:
        self.out.append(INDENT * indent + text if text else "")

    def _gap(self, line: int, first_in_block: bool) -> None:
        if not first_in_block and line - self.last_line > 1:
            self._blank()

    def _own_comments_before(self, line: int, indent: int, first: bool = False) -> None:
        for cl in sorted(k for k in self.comments if k < line):
            self._gap(cl, first and not self.out)
            for c in self.comments.pop(cl):
                self._emit(indent, c)
            self.last_line = cl
            first = False

    def _trailing(self, line: int) -> str:
        if line in self.comments:
            return "  " + "  ".join(self.comments.pop(line))
        return ""

    def _stmt_line(self, indent: int, text: str, node: object, exprs: list[A.Expr]) -> None:
        """Print a one-statement header/line, breaking lists when needed, placing its comments."""
        span = getattr(node, "span")
        start, end = span.line, span.end_line
        interior = [k for k in self.comments if start <= k < end] if end > start else []
        ctx = _Ctx(set(), indent, self.comments)
        lists = [lst for e in exprs for lst in _lists_in(e)]
        for lst in lists:
            if lst.span is not None and any(lst.span.line <= k <= lst.span.end_line for k in interior):
                ctx.break_lists.add(id(lst))
        line = text.format(*[_ex(e, _Ctx(set(), indent)) for e in exprs])
        if not ctx.break_lists and len(INDENT * indent + line) > WIDTH and lists:
            ctx.break_lists.add(id(max(lists, key=lambda lst: len(fmt_expr(lst)))))
        if ctx.break_lists:
            line = text.format(*[_ex(e, ctx) for e in exprs])
        # comments inside the statement that no list took go before it
        for k in sorted(k for k in self.comments if start <= k < end):
            for c in self.comments.pop(k):
                self._emit(indent, c)
        self._emit(indent, line + self._trailing(end))
        self.last_line = end

    def _body(self, body: tuple[A.Stmt, ...], indent: int, close_line: int) -> None:
        first = True
        for stmt in body:
            self._own_comments_before(stmt.span.line, indent + 1, first=first)
            self._gap(stmt.span.line, first)
            self._stmt(stmt, indent + 1)
            first = False
        self._own_comments_before(close_line, indent + 1, first=first)

    # -- items
    def _item(self, item: A.TopItem) -> None:
        if isinstance(item, A.Import):
            alias = f" as {item.alias}" if item.alias else ""
            self._stmt_line(0, f"import {fmt_string(item.path)}{alias}", item, [])
        elif isinstance(item, A.Const):
            self._stmt_line(0, f"const {item.name} = {{}}", item, [item.value])
        elif isinstance(item, A.BlockDef):
            self._block(item)
        elif isinstance(item, A.SpaceDef):
            self._space(item)
        elif isinstance(item, A.Experiment):
            name = f" {item.name}" if item.name else ""
            self._emit(0, f"experiment{name} {{" + self._trailing(item.span.line))
            self.last_line = item.span.line
            self._settings(item.items, 0, item.span.end_line)
            self._emit(0, "}")
            self.last_line = item.span.end_line

    def _params(self, params: tuple[A.Param, ...]) -> tuple[str, list[A.Expr]]:
        parts, exprs = [], []
        for p in params:
            t = f": {_type(p.type)}" if p.type else ""
            if p.default is not None:
                parts.append(f"{p.name}{t} = {{}}")
                exprs.append(p.default)
            else:
                parts.append(f"{p.name}{t}")
        return ", ".join(parts), exprs

    def _block(self, b: A.BlockDef) -> None:
        head = ""
        exprs: list[A.Expr] = []
        if b.shared is not None:
            if b.shared.key is not None:
                self._stmt_line(0, "shared({})", b.shared, [b.shared.key])
            else:
                head = "shared "
        meta, mexprs = self._params(b.meta)
        tens, texprs = self._params(b.tensors)
        sig = f"({meta})({tens})" if b.curried else f"({tens})"
        exprs = mexprs + texprs if b.curried else texprs
        line_node = _HeaderSpan(b.name_span.line)
        self._stmt_line(0, f"{head}block {b.name}{sig} {{{{", line_node, exprs)
        self._body(b.body, 0, b.span.end_line)
        self._emit(0, "}")
        self.last_line = b.span.end_line

    def _space(self, s: A.SpaceDef) -> None:
        exprs: list[A.Expr] = []
        params = ""
        if s.params is not None:
            ptxt, exprs = self._params(s.params)
            params = f"({ptxt})"
        ext = ""
        if s.extends is not None:
            args = ""
            if s.extends.args is not None:
                args = "(" + ", ".join((f"{a.name} = " if a.name else "") + "{}" for a in s.extends.args) + ")"
                exprs = exprs + [a.value for a in s.extends.args]
            ext = " extends " + ".".join(s.extends.name) + args
        self._stmt_line(0, f"{s.kind} {s.name}{params}{ext} {{{{", _HeaderSpan(s.name_span.line), exprs)
        self._body(s.body, 0, s.span.end_line)
        self._emit(0, "}")
        self.last_line = s.span.end_line

    def _settings(self, items: tuple[A.Setting | A.Section, ...], indent: int, close_line: int) -> None:
        first = True
        for it in items:
            self._own_comments_before(it.span.line, indent + 1, first=first)
            self._gap(it.span.line, first)
            first = False
            if isinstance(it, A.Setting):
                self._stmt_line(indent + 1, ".".join(it.key) + " = {}", it, [it.value])
            else:
                self._emit(indent + 1, f"{it.name} {{" + self._trailing(it.span.line))
                self.last_line = it.span.line
                self._settings(it.items, indent + 1, it.span.end_line)
                self._emit(indent + 1, "}")
                self.last_line = it.span.end_line
        self._own_comments_before(close_line, indent + 1, first=first)

    # -- statements
    def _stmt(self, s: A.Stmt, indent: int) -> None:
        if isinstance(s, A.Assign):
            lhs = ", ".join(s.targets)
            self._stmt_line(indent, lhs + " = " + ", ".join("{}" for _ in s.values), s, list(s.values))
        elif isinstance(s, A.InputDecl):
            self._stmt_line(indent, f"input {s.name}: {_type(s.type)}", s, [])
        elif isinstance(s, A.OutputDecl):
            t = f": {_type(s.type)}" if s.type else ""
            self._stmt_line(indent, f"output {s.name}{t} = {{}}", s, [s.value])
        elif isinstance(s, A.Return):
            self._stmt_line(indent, "return " + ", ".join("{}" for _ in s.values), s, list(s.values))
        elif isinstance(s, A.Fix):
            self._stmt_line(indent, f"fix {s.path.text()} = {{}}", s, [s.value])
        elif isinstance(s, A.Constraint):
            text, exprs = "constraint {}", [s.expr]
            if s.target is not None:
                tname = fmt_string(s.target.name) if s.target.quoted else s.target.name
                text += f" on {_esc(tname)}"
                if s.target.args is not None:
                    text += "(" + ", ".join((f"{a.name} = " if a.name else "") + "{}" for a in s.target.args) + ")"
                    exprs += [a.value for a in s.target.args]
            if s.strength is not None:
                text += f" {s.strength.kind}"
                if s.strength.args is not None:
                    text += "(" + ", ".join((f"{a.name} = " if a.name else "") + "{}"
                                            for a in s.strength.args) + ")"
                    exprs += [a.value for a in s.strength.args]
            self._stmt_line(indent, text, s, exprs)
        elif isinstance(s, A.Repeat):
            var = f" as {s.var}" if s.var else ""
            self._stmt_line(indent, f"repeat {{}}{var} {{{{", _HeaderSpan(s.span.line), [s.count])
            self._body(s.body, indent, s.span.end_line)
            self._emit(indent, "}")
            self.last_line = s.span.end_line
        elif isinstance(s, A.If):
            self._if(s, indent, "if")

    def _if(self, s: A.If, indent: int, kw: str) -> None:
        line = len(self.out)
        self._stmt_line(indent, f"{kw} {{}} {{{{", _HeaderSpan(s.span.line), [s.cond])
        if kw != "if":
            # join "} else if ..." onto the closing brace line
            self.out[line - 1] = self.out[line - 1] + " " + self.out.pop(line).strip()
        end = s.body[-1].span.end_line + 1 if s.body else s.span.line + 1
        self._body(s.body, indent, end if s.orelse is not None else s.span.end_line)
        self._emit(indent, "}")
        if s.orelse is not None:
            if len(s.orelse) == 1 and isinstance(s.orelse[0], A.If):
                self._if(s.orelse[0], indent, "else if")
                return
            self.out[-1] = self.out[-1] + " else {"
            self._body(s.orelse, indent, s.span.end_line)
            self._emit(indent, "}")
        self.last_line = s.span.end_line


@dataclass(frozen=True)
class _HeaderSpan:
    """A one-line span for headers (the body's comments are placed by the body)."""

    line: int

    @property
    def span(self) -> "_HeaderSpan":
        return self

    @property
    def end_line(self) -> int:
        return self.line


def _esc(text: str) -> str:
    """Escape braces of literal text that goes through str.format."""
    return text.replace("{", "{{").replace("}", "}}")


def _type(t: A.TypeExpr | None) -> str:
    if t is None:
        return ""
    if t.dims is None:
        return t.name
    return f"{t.name}[" + ", ".join(str(d) for d in t.dims) + "]"


def format_module(module: A.Module) -> str:
    return ModulePrinter(module).run()
