"""Canonical `.nas` text of a fully decided architecture, and its pinned form.

``arch_text`` prints a decided IR as straight-line `.nas` code: one line per
value that is used more than once or merges several inputs, with single-use op
chains written as pipes (``h = x |> conv(16, 3) |> bn |> relu``).  Blocks and
repeats are inlined and unrolled, every decision is substituted and folded, so
the text is self-contained and its IR is isomorphic to the assignment's by
construction.  Op arguments print positionally for required parameters and by
name for non-default optional ones.

``pinned_text`` expresses the same result relative to the space (``extends`` +
sorted ``fix`` lines), which keeps the space's parameters re-instantiable
(``arch big extends net_pinned(C = 36)``).

Printing builds syntax trees and formats them with :mod:`.printer`, so this lives
in the frontend; the plain-text names that need no printer (space hash, `fix`
lines, NB201 strings, genotypes) are :mod:`nasc.ir.notation`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..ir.graph import IRGraph, Node, fmt_shape
from ..ir.notation import fix_lines
from ..ir.ops import OpLibrary
from ..ir.space import SearchSpace
from . import ast as A
from .printer import WIDTH, fmt_expr, fmt_string, format_module


def _lit(v: Any) -> A.Expr:
    """An attribute value as a literal expression (negative numbers as negations, as the parser reads them)."""
    if isinstance(v, bool):
        return A.Bool(v)
    if isinstance(v, int):
        return A.Int(v) if v >= 0 else A.Unary("-", A.Int(-v))
    if isinstance(v, float):
        return A.Float(v) if v >= 0 else A.Unary("-", A.Float(-v))
    if isinstance(v, str):
        return A.Str(v)
    raise TypeError(f"cannot print attribute value {v!r}")


def _op_expr(node: Node, lib: OpLibrary) -> A.Expr:
    """An op with its attributes as written in source: required parameters positionally,
    optional ones by name and only when they differ from the default."""
    opdef = lib.get(node.op or "")
    attrs = dict(node.attrs)
    args: list[A.Arg] = []
    positional = True
    for p in opdef.params:
        v = attrs.get(p.name)
        if p.required and positional:
            args.append(A.Arg(None, _lit(v)))
            continue
        positional = False
        if not p.required and v == p.default and type(v) is type(p.default):
            continue
        args.append(A.Arg(p.name, _lit(v)))
    if not args:
        return A.Name(opdef.name)
    return A.Call(A.Name(opdef.name), tuple(args))


def _ident(text: str) -> str:
    """`text` made a valid identifier, for variable names derived from hints."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_")
    s = re.sub(r"_+", "_", s)
    if not s or not (s[0].isalpha() or s[0] == "_"):
        s = "t_" + s
    return s


class _Writer:
    """Prints one decided graph as straight-line statements, naming only the values that need a name."""

    def __init__(self, graph: IRGraph, lib: OpLibrary, hints: dict[int, str]) -> None:
        """Start with no lines and nothing named; `uses` counts consumers to spot single-use values."""
        self.g = graph
        self.lib = lib
        self.hints = hints
        self.names: dict[int, str] = {}
        self.bound: dict[str, int] = {}  # variable -> node currently bound to it
        self.lines: list[str] = []
        self.printed: set[int] = set()
        self.uses = {n.id: len(graph.consumers(n.id)) for n in graph}

    def _needs_var(self, n: Node) -> bool:
        """Whether `n` gets a line of its own; a value used once by an op is inlined into it."""
        if n.kind in ("input", "output") or n.id in self.hints:
            return True  # a value the source named keeps its name
        cons = self.g.consumers(n.id)
        if len(cons) != 1:
            return True
        succ = self.g.node(cons[0][0])
        return succ.kind not in ("output", "op")  # single use: inline into its consumer

    def _pending(self, nid: int) -> bool:
        """Whether some consumer of `nid` is still to be printed (so its variable is still live)."""
        return any(c not in self.printed for c, _ in self.g.consumers(nid))

    def _var_for(self, n: Node) -> str:
        """A variable name for `n` from its hint; a name is reused once its value is dead, and
        suffixed (`h_2`) while it is live."""
        base = _ident(n.name if n.kind == "input" and n.name else self.hints.get(n.id, "t"))
        name, i = base, 1
        while name in self.bound and self.bound[name] != n.id and self._pending(self.bound[name]):
            i += 1
            name = f"{base}_{i}"
        self.bound[name] = n.id
        return name

    def expr(self, nid: int) -> A.Expr:
        """The expression of node `nid`: its variable if it has one, else the op written out
        (`+`, `*`, a pipe for one input, a call otherwise)."""
        n = self.g.node(nid)
        if nid in self.names:
            return A.Name(self.names[nid])
        self.printed.add(nid)  # emitted now, as part of the line being built
        if n.kind == "op":
            ins = [self.expr(i) for i in n.inputs]
            opdef = self.lib.get(n.op or "")
            if n.op == "add" and len(ins) == 2:
                return A.Binary("+", ins[0], ins[1])
            if n.op == "mul":
                return A.Binary("*", ins[0], ins[1])
            if opdef.arity < 0:
                return A.Call(A.Name(n.op or ""), (A.Arg(None, A.ListExpr(tuple(A.Item(None, x) for x in ins))),)) \
                    if n.op != "add" else A.Call(A.Name("sum"), (A.Arg(None, A.ListExpr(tuple(A.Item(None, x)
                                                                                               for x in ins))),))
            if len(ins) == 1:
                return A.Binary("|>", ins[0], _op_expr(n, self.lib))
            return A.Call(_op_expr(n, self.lib), tuple(A.Arg(None, x) for x in ins))
        raise ValueError(f"node {nid} ({n.kind}) is not printable in an arch")

    def run(self, indent: str) -> list[str]:
        """The body lines, in graph order: inputs, named values, then outputs where they occur."""
        for n in self.g:
            if n.kind == "input":
                name = self._var_for(n)
                self.names[n.id] = name
                self.lines.append(f"{indent}input {n.name}: {fmt_shape(n.shape)}")
                self.printed.add(n.id)
                continue
            if n.kind == "output":
                self.lines.append(f"{indent}output {n.name}: {fmt_shape(n.shape)} = {fmt_expr(self.expr(n.inputs[0]))}")
                self.printed.add(n.id)
                continue
            if not self._needs_var(n):
                continue
            text = fmt_expr(self.expr(n.id))
            name = self._var_for(n)
            self.names[n.id] = name
            self.lines.append(f"{indent}{name} = {text}")
        return self.lines


def binding_hints(graph: IRGraph) -> dict[int, str]:
    """The names the source bound to IR nodes, so printed variables keep the user's names."""
    return dict(getattr(graph, "hints", {}))


def arch_text(arch: SearchSpace, lib: OpLibrary, name: str, header: list[str]) -> str:
    """Straight-line canonical text of a decided (pruned) IR."""
    graph = arch.graph
    if not graph.is_decided():
        raise ValueError("arch_text needs a fully decided IR")
    w = _Writer(graph, lib, binding_hints(graph))
    body = w.run("    ")
    out = [f"# {h}" if h else "#" for h in header]
    out.append(f"arch {name} {{")
    out.extend(body)
    out.append("}")
    text = "\n".join(out) + "\n"
    if any(len(line) > WIDTH for line in body):
        # a statement too long for one line is printed as `nasc fmt` prints it (its longest
        # list broken one item per line): the printed arch is canonical text either way
        from .parse import Parser

        text = format_module(Parser().parse(text, f"<arch {name}>"))
    return text


def pinned_text(space: SearchSpace, assignment: dict[str, int], source: Path, out_dir: Path, name: str,
                header: list[str]) -> str:
    """The pinned form of an assignment: an arch that imports the space's file (relative to
    `out_dir`) and `extends` the space with sorted `fix` lines, forwarding its plain parameters."""
    rel = os.path.relpath(source.resolve(), out_dir.resolve())
    out = [f"# {h}" if h else "#" for h in header]
    out.append(f"import {fmt_string(rel)} as src")
    out.append("")
    # plain space parameters are forwarded, so `extends NAME(C = 36)` re-instantiates the result
    plain = {k: v for k, v in space.params.items() if isinstance(v, (bool, int, float, str))}
    params = "(" + ", ".join(f"{k} = {fmt_expr(_lit(v))}" for k, v in plain.items()) + ")" if plain else ""
    fwd = "(" + ", ".join(f"{k} = {k}" for k in plain) + ")" if plain else ""
    out.append(f"arch {name}{params} extends src.{space.name}{fwd} {{")
    out.extend("    " + line for line in fix_lines(space, assignment))
    out.append("}")
    return "\n".join(out) + "\n"
