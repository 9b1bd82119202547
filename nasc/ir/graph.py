"""The IR graph: immutable node records over a networkx DiGraph.

Node kinds:

* ``input`` / ``output`` -- named graph inputs and outputs;
* ``op`` -- an op application with plain attributes;
* ``param_choice`` -- an op whose attributes or input shapes depend on decisions
  (a width or kernel-size choice); its attrs hold :class:`~nasc.ir.sym.Sym` values;
* ``mixed`` -- an op choice: input *i* is the output of candidate ``select[i]``'s
  subgraph; the decision picks one;
* ``input_choice`` -- a one-of or k-of-n choice among existing tensors, reduced by
  ``reduce`` (``pick`` for one-of, ``sum`` / ``concat`` / ``mean`` for ``choose``);
* ``repeat_gate`` -- the value after a ``repeat`` whose count is a decision: input
  *i* is the value after ``select[i]`` iterations' worth of candidates.

Node ids grow in creation order and every input is created before its consumer,
so id order is a topological order; :meth:`IRGraph.dump` relies on it to be
deterministic (it doubles as the golden-file format).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator

import networkx as nx

from ..errors import Span
from .sym import Sym, has_sym


@dataclass(frozen=True)
class Node:
    id: int
    kind: str
    op: str | None
    attrs: tuple[tuple[str, Any], ...]
    inputs: tuple[int, ...]
    shape: tuple[Any, ...]
    instance: str = ""
    span: Span | None = field(default=None, compare=False)
    decision: int | None = None
    select: tuple[Any, ...] = ()
    name: str | None = None
    label: str | None = None  # the candidate label this node was created under, for printing

    @property
    def attr(self) -> dict[str, Any]:
        return dict(self.attrs)

    def signature(self) -> tuple:
        """What makes two nodes the same for isomorphism checks (not ids, spans or names)."""
        return (self.kind, self.op, self.attrs, tuple(map(str, self.shape)),
                self.name if self.kind in ("input", "output") else None)


class IRGraph:
    """The IR of one elaborated space or architecture.  Stages use this API, not networkx."""

    def __init__(self) -> None:
        self._g = nx.DiGraph()
        self._nodes: dict[int, Node] = {}
        self.inputs: list[int] = []
        self.outputs: list[int] = []
        self.hints: dict[int, str] = {}  # node -> the source name it was bound to (for printing)
        # op node -> its lifted Cost, as computed while elaborating (to check its size); the
        # cost model reuses it instead of evaluating every cost rule a second time
        self.costs: dict[int, Any] = {}

    # -- building
    def add(self, kind: str, op: str | None, attrs: dict[str, Any], inputs: tuple[int, ...],
            shape: tuple[Any, ...], **extra: Any) -> Node:
        nid = len(self._nodes)
        if kind == "op" and (has_sym(attrs) or has_sym(shape)):
            kind = "param_choice"
        node = Node(nid, kind, op, tuple(attrs.items()), tuple(inputs), tuple(shape), **extra)
        self._nodes[nid] = node
        self._g.add_node(nid)
        for pos, src in enumerate(inputs):
            if self._g.has_edge(src, nid):
                self._g.edges[src, nid]["pos"] = self._g.edges[src, nid]["pos"] + (pos,)
            else:
                self._g.add_edge(src, nid, pos=(pos,))
        if kind == "input":
            self.inputs.append(nid)
        if kind == "output":
            self.outputs.append(nid)
        return node

    # -- queries
    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes[i] for i in sorted(self._nodes))

    def node(self, nid: int) -> Node:
        return self._nodes[nid]

    def consumers(self, nid: int) -> list[tuple[int, int]]:
        """(consumer id, input position) pairs, in id order."""
        out = []
        for succ in sorted(self._g.successors(nid)):
            for pos in self._g.edges[nid, succ]["pos"]:
                out.append((succ, pos))
        return out

    def live(self) -> set[int]:
        """Nodes from which an output is reachable (ignoring decisions)."""
        keep: set[int] = set(self.outputs)
        for o in self.outputs:
            keep |= nx.ancestors(self._g, o)
        return keep

    def prune(self) -> "IRGraph":
        """A new graph without the nodes that reach no output, ids renumbered in order."""
        keep = self.live()
        out = IRGraph()
        remap: dict[int, int] = {}
        for n in self:
            if n.id not in keep:
                continue
            new = out.add(n.kind, n.op, dict(n.attrs), tuple(remap[i] for i in n.inputs), n.shape,
                          instance=n.instance, span=n.span, decision=n.decision, select=n.select,
                          name=n.name, label=n.label)
            remap[n.id] = new.id
            if n.id in self.hints:
                out.hints[new.id] = self.hints[n.id]
        return out

    def is_decided(self) -> bool:
        return all(n.kind in ("input", "output", "op") for n in self)

    def networkx(self) -> nx.DiGraph:
        """A copy annotated for isomorphism checks and external tools."""
        g = nx.DiGraph()
        for n in self:
            g.add_node(n.id, sig=n.signature())
        for u, v, data in self._g.edges(data=True):
            g.add_edge(u, v, pos=data["pos"])
        return g

    def isomorphic(self, other: "IRGraph") -> bool:
        a, b = self.networkx(), other.networkx()
        if a.number_of_nodes() != b.number_of_nodes() or a.number_of_edges() != b.number_of_edges():
            return False
        return nx.is_isomorphic(a, b, node_match=lambda x, y: x["sig"] == y["sig"],
                                edge_match=lambda x, y: x["pos"] == y["pos"])

    # -- printing
    def dump(self) -> str:
        lines = []
        for n in self:
            lines.append(_dump_node(n))
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {"nodes": [_node_json(n) for n in self], "inputs": self.inputs, "outputs": self.outputs}

    def to_dot(self) -> str:
        lines = ["digraph nasc {", "  rankdir=TB;", "  node [shape=box, fontname=monospace];"]
        for n in self:
            label = _dump_label(n).replace('"', '\\"')
            shape = {"mixed": "diamond", "input_choice": "trapezium", "repeat_gate": "house",
                     "input": "oval", "output": "oval"}.get(n.kind, "box")
            lines.append(f'  n{n.id} [label="{label}", shape={shape}];')
        for n in self:
            for pos, src in enumerate(n.inputs):
                tag = ""
                if n.kind == "mixed":
                    tag = f' [label="{n.select[pos]}"]'
                lines.append(f"  n{src} -> n{n.id}{tag};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def fmt_value(v: Any) -> str:
    if isinstance(v, Sym):
        return repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    return str(v)


def fmt_shape(shape: tuple[Any, ...]) -> str:
    return "f32[" + ", ".join(fmt_value(d) if not isinstance(d, str) else d for d in shape) + "]"


def _dump_label(n: Node) -> str:
    attrs = ", ".join(f"{k}={fmt_value(v)}" for k, v in n.attrs)
    if n.kind == "input":
        return f"input {n.name}: {fmt_shape(n.shape)}"
    if n.kind == "output":
        return f"output {n.name}"
    head = str(n.op) if n.kind in ("op", "param_choice") else n.kind
    if n.kind in ("mixed", "input_choice", "repeat_gate"):
        attrs = ", ".join(x for x in (f"d{n.decision}", attrs) if x)
    return f"{head}({attrs})" if attrs else head


def _dump_node(n: Node) -> str:
    ins = ", ".join(f"%{i}" for i in n.inputs)
    sel = ""
    if n.select:
        sel = " select=" + fmt_value([sorted(s) if isinstance(s, frozenset) else s for s in n.select])
    inst = f"  @{n.instance}" if n.instance else ""
    kind = " ~" if n.kind == "param_choice" else ""
    return f"%{n.id} = {_dump_label(n)}{kind} ({ins}){sel} : {fmt_shape(n.shape)}{inst}"


def _json_value(v: Any) -> Any:
    if isinstance(v, Sym):
        return {"decisions": list(v.deps), "table": [_json_value(x) for x in v.table]}
    if isinstance(v, (tuple, list)):
        return [_json_value(x) for x in v]
    if isinstance(v, frozenset):
        return sorted(v)
    return v


def _node_json(n: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"id": n.id, "kind": n.kind, "inputs": list(n.inputs),
                           "shape": [_json_value(d) for d in n.shape]}
    if n.op:
        out["op"] = n.op
    if n.attrs:
        out["attrs"] = {k: _json_value(v) for k, v in n.attrs}
    if n.decision is not None:
        out["decision"] = n.decision
    if n.select:
        out["select"] = _json_value(n.select)
    if n.name:
        out["name"] = n.name
    if n.instance:
        out["instance"] = n.instance
    if n.span:
        out["span"] = f"{n.span.line}:{n.span.col}"
    return out
