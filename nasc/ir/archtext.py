"""Canonical text of a fully decided architecture, and its pinned form.

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
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from ..frontend import ast as A
from ..frontend.printer import fmt_expr, fmt_string
from .graph import IRGraph, Node, fmt_shape
from .ops import OpLibrary
from .space import Decision, SearchSpace


def space_hash(space: SearchSpace) -> str:
    """sha256 of the elaborated space (IR + decisions), so cosmetic edits keep it."""
    h = hashlib.sha256()
    h.update(space.graph.dump().encode())
    for d in space.decisions:
        h.update(f"{d.path}|{d.kind}|{d.k}|{','.join(d.labels)}|{d.fixed}\n".encode())
    return h.hexdigest()


def _lit(v: Any) -> A.Expr:
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
    s = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_")
    s = re.sub(r"_+", "_", s)
    if not s or not (s[0].isalpha() or s[0] == "_"):
        s = "t_" + s
    return s


class _Writer:
    def __init__(self, graph: IRGraph, lib: OpLibrary, hints: dict[int, str]) -> None:
        self.g = graph
        self.lib = lib
        self.hints = hints
        self.names: dict[int, str] = {}
        self.bound: dict[str, int] = {}  # variable -> node currently bound to it
        self.lines: list[str] = []
        self.printed: set[int] = set()
        self.uses = {n.id: len(graph.consumers(n.id)) for n in graph}

    def _needs_var(self, n: Node) -> bool:
        if n.kind in ("input", "output") or n.id in self.hints:
            return True  # a value the source named keeps its name
        cons = self.g.consumers(n.id)
        if len(cons) != 1:
            return True
        succ = self.g.node(cons[0][0])
        return succ.kind not in ("output", "op")  # single use: inline into its consumer

    def _pending(self, nid: int) -> bool:
        return any(c not in self.printed for c, _ in self.g.consumers(nid))

    def _var_for(self, n: Node) -> str:
        base = _ident(n.name if n.kind == "input" and n.name else self.hints.get(n.id, "t"))
        name, i = base, 1
        while name in self.bound and self.bound[name] != n.id and self._pending(self.bound[name]):
            i += 1
            name = f"{base}_{i}"
        self.bound[name] = n.id
        return name

    def expr(self, nid: int) -> A.Expr:
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
    return "\n".join(out) + "\n"


def fix_value(d: Decision, option: int) -> str:
    if d.kind == "choose":
        return d.option_label(option)
    label = d.labels[option]
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label) and label not in ("true", "false"):
        return label
    text = d.candidate_text[option] if d.candidate_text else label
    return text


def fix_lines(space: SearchSpace, assignment: dict[str, int]) -> list[str]:
    lines = []
    for path in sorted(assignment):
        d = space.decision(path)
        lines.append(f"fix {path} = {fix_value(d, assignment[path])}")
    return lines


def pinned_text(space: SearchSpace, assignment: dict[str, int], source: Path, out_dir: Path, name: str,
                header: list[str]) -> str:
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


def nb201_string(space: SearchSpace, assignment: dict[str, int]) -> str | None:
    """The NAS-Bench-201 arch string, when the space has NB201's cell decisions."""
    edges = [["e01"], ["e02", "e12"], ["e03", "e13", "e23"]]
    found = {}
    for d in space.decisions:
        m = re.fullmatch(r"(?:.*\.)?(e[0-3][0-3])", d.path)
        if m and d.path in assignment:
            found[m.group(1)] = d.labels[assignment[d.path]]
    if set(found) != {e for row in edges for e in row}:
        return None
    parts = []
    for row in edges:
        parts.append("|" + "|".join(f"{found[e]}~{e[1]}" for e in row) + "|")
    return "+".join(parts)


def darts_genotype(space: SearchSpace, assignment: dict[str, int]) -> str | None:
    """The DARTS genotype (op, input index) pairs per cell type, for DARTS-like spaces."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for d in space.decisions:
        m = re.fullmatch(r"(\w+)\.n(\d+)", d.path)
        if not m or d.kind != "choose" or d.path not in assignment:
            continue
        group = m.group(1)
        chosen = d.options[assignment[d.path]]
        for j in chosen:
            edge = f"{d.path}[{j}]"
            if edge not in assignment:
                return None
            groups.setdefault(group, []).append((space.decision(edge).labels[assignment[edge]], j))
    if not groups:
        return None
    return " ".join(f"{g}=[" + ",".join(f"({op},{j})" for op, j in pairs) + "]" for g, pairs in sorted(groups.items()))
