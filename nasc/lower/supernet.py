"""Space IR -> differentiable supernet (``torch.nn.Module``).

* ``mixed`` nodes mix their candidates' outputs with gate weights: softmax over α
  (DARTS), Gumbel-softmax with straight-through hard samples (GDAS: only the
  sampled candidate is computed), or independent sigmoids (FairDARTS).  Candidates
  narrower than the mixed output get a learnable 1x1 channel adapter.
* ``param_choice`` nodes (a width, kernel or expansion that depends on decisions)
  run at their largest configuration: output channels are masked by the expected
  width mask (FBNetV2-style channel masking) and kernels by the expected centre-crop
  mask of one shared largest kernel (Single-Path NAS superkernel).  Combinations
  of decisions that change an op's *structure* (an mbconv with expand 1 has no
  expansion conv) are grouped, and groups are mixed by their probability.
* ``input_choice`` nodes weight their inputs (PC-DARTS edge normalization for
  ``choose k``, scaled by k so a node sums k edges' worth); ``repeat_gate`` nodes
  weight the value after each allowed depth.
* Partial channels (PC-DARTS, K > 1): a mixed node whose candidates all read one
  tensor runs them on 1/K of its channels and passes the rest through.

All α live in one :class:`ArchParams` module (one vector per decision, so a
``shared`` group has one α).  BN has no affine parameters during search (DARTS).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import NascSemanticError
from ..ir.graph import IRGraph, Node
from ..ir.ops import OpLibrary
from ..ir.space import Decision, SearchSpace
from ..ir.sym import Sym, collect, extremes, substitute
from .ops_torch import init_weights, make_op, make_primitive

MAX_COMBOS = 4096


@dataclass(frozen=True)
class GateConfig:
    mode: str = "softmax"  # softmax | gumbel | sigmoid
    hard: bool = False  # straight-through one-hot samples (GDAS)


class ArchParams(nn.Module):
    """Architecture parameters: one vector per free decision (choose: one weight per candidate)."""

    def __init__(self, decisions: list[Decision], generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.decisions = {d.id: d for d in decisions}
        self.alpha = nn.ParameterDict()
        for d in decisions:
            n = len(d.labels) if d.kind == "choose" else d.n
            self.alpha[str(d.id)] = nn.Parameter(1e-3 * torch.randn(n, generator=generator, dtype=torch.float64)
                                                 .float())

    def ids(self) -> list[int]:
        return [int(k) for k in self.alpha.keys()]

    def vector(self, d: int) -> torch.Tensor:
        return self.alpha[str(d)]

    def option_probs(self, d: int, tau: float = 1.0) -> torch.Tensor:
        """Distribution over the decision's options (choose: over k-combinations)."""
        dec = self.decisions[d]
        a = self.alpha[str(d)]
        if dec.kind == "oneof":
            return F.softmax(a / tau, dim=-1)
        p = F.softmax(a / tau, dim=-1)
        combos = dec.options
        logits = torch.stack([torch.log(p[list(c)] + 1e-12).sum() for c in combos])
        return F.softmax(logits, dim=-1)

    def edge_weights(self, d: int, tau: float = 1.0) -> torch.Tensor:
        return F.softmax(self.alpha[str(d)] / tau, dim=-1)


class Gates:
    """The weights one forward pass uses: mixing weights and option probabilities per decision."""

    def __init__(self, arch: ArchParams, cfg: GateConfig, tau: float, generator: torch.Generator | None = None,
                 uniforms: dict[int, torch.Tensor] | None = None) -> None:
        self.aux_skip = 0.0  # DARTS-: weight of an auxiliary skip added to every shape-preserving mixed op
        self.mix: dict[int, torch.Tensor] = {}
        self.probs: dict[int, torch.Tensor] = {}
        self.hard_index: dict[int, int] = {}
        for d, dec in arch.decisions.items():
            a = arch.vector(d)
            if dec.kind == "choose":
                self.mix[d] = dec.k * arch.edge_weights(d, tau)
                self.probs[d] = arch.option_probs(d, tau)
                continue
            if cfg.mode == "sigmoid":
                g = torch.sigmoid(a)
                self.mix[d] = g
                self.probs[d] = g / g.sum()
            elif cfg.mode == "gumbel":
                u = uniforms[d] if uniforms is not None else torch.rand(a.shape, generator=generator)
                u = u.clamp(1e-9, 1 - 1e-9).to(a.dtype)
                soft = F.softmax((a - torch.log(-torch.log(u))) / tau, dim=-1)
                if cfg.hard:
                    idx = int(soft.argmax())
                    hard = torch.zeros_like(soft)
                    hard[idx] = 1.0
                    self.mix[d] = hard - soft.detach() + soft
                    self.hard_index[d] = idx
                else:
                    self.mix[d] = soft
                self.probs[d] = F.softmax(a / tau, dim=-1)
            else:
                p = F.softmax(a / tau, dim=-1)
                self.mix[d] = p
                self.probs[d] = p


def fit_channels(x: torch.Tensor, ch: int) -> torch.Tensor:
    """Slice or zero-pad the channel dimension (dim 1) to `ch`."""
    c = x.shape[1]
    if c == ch:
        return x
    if c > ch:
        return x[:, :ch]
    pad = x.new_zeros((x.shape[0], ch - c, *x.shape[2:]))
    return torch.cat([x, pad], dim=1)


def max_dim(d: Any) -> Any:
    return extremes(d)[1] if isinstance(d, Sym) else d


def max_shape(shape: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(max_dim(d) for d in shape)


# ---------------------------------------------------------------- param_choice nodes
class _SymPrim(nn.Module):
    """One primitive of a structure group, at its largest size, with per-combo widths and kernels."""

    kmasks: torch.Tensor
    cmasks: torch.Tensor

    def __init__(self, op: str, attrs_per_combo: list[dict[str, Any]], in_shapes: list[tuple[Any, ...]],
                 out_ch: list[int | None], affine: bool) -> None:
        super().__init__()
        big = dict(attrs_per_combo[0])
        for key in ("C", "n", "k"):
            if key in big:
                big[key] = max(a[key] for a in attrs_per_combo)
        self.op = op
        self.in_ch = [s[1] if len(s) > 1 else None for s in in_shapes]
        self.mod = make_primitive(op, in_shapes, big, affine)
        ks = [a.get("k") for a in attrs_per_combo]
        self.kmax = big.get("k")
        self.vary_k = op in ("conv", "dwconv") and len(set(ks)) > 1
        if self.vary_k:
            masks = []
            kmax = int(big["k"])
            for k in (int(v or 0) for v in ks):  # every combo of a conv has a kernel size
                m = torch.zeros(kmax, kmax)
                o = (kmax - k) // 2
                m[o:o + k, o:o + k] = 1.0
                masks.append(m)
            self.register_buffer("kmasks", torch.stack(masks), persistent=False)
        widths = [c for c in out_ch if c is not None]
        self.vary_out = len(set(widths)) > 1
        if self.vary_out:
            cmax = max(widths)
            self.register_buffer("cmasks", (torch.arange(cmax)[None, :] < torch.tensor(widths)[:, None]).float(),
                                 persistent=False)

    def forward(self, p: torch.Tensor, *xs: torch.Tensor) -> torch.Tensor:
        xs = tuple(fit_channels(x, c) if c is not None and x.dim() > 1 else x for x, c in zip(xs, self.in_ch))
        if self.vary_k:
            conv = self.mod
            assert isinstance(conv, nn.Conv2d)
            kmask = torch.einsum("c,chw->hw", p, self.kmasks)
            out = F.conv2d(xs[0], conv.weight * kmask, conv.bias, conv.stride, conv.padding, conv.dilation,
                           conv.groups)
        else:
            out = self.mod(*xs)
        if self.vary_out:
            mask = p @ self.cmasks
            shape = (1, -1) + (1,) * (out.dim() - 2)
            out = out * mask.view(shape)
        return out


class _Group(nn.Module):
    """Combinations of decisions that share one expansion structure."""

    def __init__(self, lib: OpLibrary, exps: list, in_shapes_per_combo: list, affine: bool) -> None:
        super().__init__()
        first = exps[0]
        self.wiring = [tuple(n.inputs) for n in first.nodes]
        self.out = first.output
        prims = []
        for j, n in enumerate(first.nodes):
            attrs = [dict(e.nodes[j].attrs) for e in exps]
            shapes_c = []
            for e, ins in zip(exps, in_shapes_per_combo):
                shapes_c.append([e.nodes[i].shape if i >= 0 else ins[-1 - i] for i in n.inputs])
            in_shapes = [tuple(max(s[i][t] if isinstance(s[i][t], int) else 1 for s in shapes_c)
                               if isinstance(shapes_c[0][i][t], int) else shapes_c[0][i][t]
                               for t in range(len(shapes_c[0][i]))) for i in range(len(n.inputs))]
            out_ch = [e.nodes[j].shape[1] if len(e.nodes[j].shape) > 1 else None for e in exps]
            prims.append(_SymPrim(n.op, attrs, in_shapes, out_ch, affine))
        self.prims = nn.ModuleList(prims)

    def forward(self, p: torch.Tensor, *xs: torch.Tensor) -> torch.Tensor:
        vals: list[torch.Tensor] = []
        for prim, ins in zip(self.prims, self.wiring):
            vals.append(prim(p, *[vals[i] if i >= 0 else xs[-1 - i] for i in ins]))
        return vals[self.out] if self.out >= 0 else xs[-1 - self.out]


class SymOp(nn.Module):
    """A param_choice node: structure groups of its decision combinations, mixed by probability."""

    def __init__(self, lib: OpLibrary, graph: IRGraph, node: Node, sizes: dict[int, int], affine: bool) -> None:
        super().__init__()
        deps: dict[int, int] = {}
        in_shapes = [graph.node(i).shape for i in node.inputs]
        collect(node.attrs, deps)
        collect(in_shapes, deps)
        self.deps = sorted(deps)
        combos = list(itertools.product(*(range(sizes[d]) for d in self.deps)))
        if len(combos) > MAX_COMBOS:
            raise NascSemanticError(f"'{node.op}' depends on {len(combos)} decision combinations; the supernet "
                                    f"supports at most {MAX_COMBOS} per op", node.span)
        opdef = lib.get(node.op or "")
        if opdef.module_fn is not None:
            raise NascSemanticError(f"custom op '{node.op}' cannot take decision-dependent arguments in a supernet; "
                                    "wrap it in a choice of ops instead", node.span)
        groups: dict[Any, list[int]] = {}
        exps, ins_c = [], []
        for idx, combo in enumerate(combos):
            a = dict(zip(self.deps, combo))
            shapes = substitute(in_shapes, a)
            attrs = substitute(dict(node.attrs), a)
            exp = lib.expand(node.op or "", shapes, attrs) if opdef.composite else _single(lib, node.op or "",
                                                                                            shapes, attrs)
            key = (exp.output, tuple((n.op, n.inputs, tuple((k, v) for k, v in n.attrs if k not in ("C", "n", "k")))
                                     for n in exp.nodes))
            groups.setdefault(key, []).append(idx)
            exps.append(exp)
            ins_c.append(shapes)
        spatial = {tuple(s[2:]) for e in exps for s in [e.nodes[e.output].shape] if e.output >= 0}
        if len(spatial) > 1:
            raise NascSemanticError(f"'{node.op}' changes spatial size with a decision; the supernet needs equal "
                                    "spatial sizes across candidates", node.span)
        self.group_members = [torch.tensor(m) for m in groups.values()]
        self.groups = nn.ModuleList(_Group(lib, [exps[i] for i in m], [ins_c[i] for i in m], affine)
                                    for m in groups.values())
        self.out_ch = max_dim(node.shape[1]) if len(node.shape) > 1 else None
        self.sizes = [sizes[d] for d in self.deps]

    def forward(self, gates: Gates, *xs: torch.Tensor) -> torch.Tensor:
        joint = None
        for d in self.deps:
            p = gates.probs[d]
            joint = p if joint is None else torch.outer(joint, p).reshape(-1)
        assert joint is not None
        out = None
        for members, group in zip(self.group_members, self.groups):
            pg = joint[members]
            mass = pg.sum()
            y = group(pg / mass.clamp_min(1e-12), *xs)
            if self.out_ch is not None and y.dim() > 1:
                y = fit_channels(y, self.out_ch)
            y = y if len(self.groups) == 1 else mass * y
            out = y if out is None else out + y
        assert out is not None
        return out


def _single(lib: OpLibrary, op: str, shapes: list, attrs: dict[str, Any]):
    from ..ir.ops import Builder

    b = Builder(lib, shapes)
    return b.finish(b.op(op, *b.inputs, **attrs))


# ---------------------------------------------------------------- the supernet
class OpNode(nn.Module):
    def __init__(self, mod: nn.Module, in_ch: list[int | None]) -> None:
        super().__init__()
        self.mod = mod
        self.in_ch = in_ch

    def forward(self, gates: Gates, *xs: torch.Tensor) -> torch.Tensor:
        xs = tuple(fit_channels(x, c) if c is not None and x.dim() > 1 else x for x, c in zip(xs, self.in_ch))
        return self.mod(*xs)


class Supernet(nn.Module):
    """The differentiable supernet of a space; weights w in ``self.nodes``, α in ``self.arch``."""

    def __init__(self, space: SearchSpace, lib: OpLibrary, partial_channels: int = 1,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.space = space
        graph = space.graph
        self.graph = graph
        free = [d for d in space.decisions if d.free and d.active_if != frozenset()]
        self.free = free
        self.arch = ArchParams(free, generator)
        sizes = {d.id: d.n for d in space.decisions}
        self.nodes = nn.ModuleDict()
        self.adapters = nn.ModuleDict()
        self.partial: dict[int, tuple[int, int]] = {}  # mixed node -> (input node, K)
        self.partial_refused: dict[int, str] = {}  # mixed node -> why it runs on all channels
        live = graph.live()
        pc_inputs = self._partial_channel_plan(partial_channels) if partial_channels > 1 else {}
        for n in graph:
            if n.id not in live or n.kind not in ("op", "param_choice"):
                continue
            in_shapes = [max_shape(graph.node(i).shape) for i in n.inputs]
            if n.id in pc_inputs:
                k = pc_inputs[n.id]
                in_shapes = [(s[0], s[1] // k, *s[2:]) for s in in_shapes]
                attrs = dict(n.attrs)
                if "C" in attrs:
                    attrs["C"] = attrs["C"] // k
                self.nodes[str(n.id)] = OpNode(make_op(lib, n.op or "", in_shapes, attrs, affine=False),
                                               [s[1] for s in in_shapes])
            elif n.kind == "op":
                self.nodes[str(n.id)] = OpNode(make_op(lib, n.op or "", in_shapes, dict(n.attrs), affine=False),
                                               [s[1] if len(s) > 1 else None for s in in_shapes])
            else:
                self.nodes[str(n.id)] = SymOp(lib, graph, n, sizes, affine=False)
        for n in graph:
            if n.kind == "mixed" and n.id in live:
                out_ch = max_dim(n.shape[1]) if len(n.shape) > 1 else None
                for pos, src in enumerate(n.inputs):
                    ch = graph.node(src).shape[1] if len(graph.node(src).shape) > 1 else None
                    if n.id in self.partial:
                        continue
                    if isinstance(ch, int) and out_ch is not None and ch < out_ch:
                        self.adapters[f"{n.id}_{pos}"] = nn.Conv2d(ch, out_ch, 1, bias=False)
        self._order = [n.id for n in graph if n.id in live]
        self.aux_sources = self._aux_plan()
        self._free_ids = {d.id for d in free}
        init_weights(self)

    def _partial_channel_plan(self, k: int) -> dict[int, int]:
        """Candidate op nodes to build at 1/K width, for mixed nodes whose candidates all read one tensor.

        A mixed node that cannot be split keeps all its channels; the reason is kept in
        ``partial_refused`` so a search that asked for partial channels can say why it got none.
        """
        plan: dict[int, int] = {}
        g = self.graph
        for n in g:
            if n.kind != "mixed":
                continue
            cands = [g.node(i) for i in n.inputs]
            sources = {_candidate_source(g, c) for c in cands}
            if len(sources) != 1:
                self.partial_refused[n.id] = "its candidates read different tensors"
                continue
            (src,) = sources
            x = g.node(src)
            if len(x.shape) != 4:
                self.partial_refused[n.id] = "its input is not an image tensor [B, C, H, W]"
                continue
            if not isinstance(x.shape[1], int):
                self.partial_refused[n.id] = "its input's channel count is a decision"
                continue
            if x.shape[1] % k:
                self.partial_refused[n.id] = f"its input's {x.shape[1]} channels do not split into {k} parts"
                continue
            ok = all(c.id == src or (c.kind == "op" and len(g.consumers(c.id)) == 1 and
                                     (dict(c.attrs).get("C", x.shape[1]) == x.shape[1]) and
                                     (dict(c.attrs).get("C", x.shape[1]) // k) % (2 if c.op == "factorized_reduce"
                                                                                    else 1) == 0)
                     for c in cands)
            if not ok:
                self.partial_refused[n.id] = "a candidate changes the channel count or cannot run on 1/K of them"
                continue
            for c in cands:
                if c.id != src:
                    plan[c.id] = k
            self.partial[n.id] = (src, k)
        return plan

    def _aux_plan(self) -> dict[int, int]:
        """Mixed nodes whose candidates all read one tensor of the same shape (DARTS- auxiliary skip)."""
        g = self.graph
        out: dict[int, int] = {}
        for n in g:
            if n.kind != "mixed" or n.id in self.partial:
                continue
            srcs = {_candidate_source(g, g.node(i)) for i in n.inputs}
            if len(srcs) == 1:
                (src,) = srcs
                if tuple(map(str, g.node(src).shape)) == tuple(map(str, n.shape)):
                    out[n.id] = src
        return out

    def skip_share(self) -> float:
        """Share of op decisions whose argmax is an identity (skip) candidate -- the collapse signal.

        A skip candidate's output is its input tensor itself, which other candidates also read,
        while every other candidate is an op node feeding only this mixed node.
        """
        total = skips = 0
        g = self.graph
        for n in g:
            if n.kind != "mixed" or n.decision is None or n.decision not in self._free_ids:
                continue
            total += 1
            pos = n.select.index(int(self.arch.vector(n.decision).argmax()))
            src = g.node(n.inputs[pos])
            if src.kind not in ("op", "param_choice") or len(g.consumers(src.id)) > 1:
                skips += 1
        return skips / total if total else 0.0

    def weights(self) -> list[nn.Parameter]:
        arch_ids = {id(p) for p in self.arch.parameters()}
        return [p for p in self.parameters() if id(p) not in arch_ids]

    def forward(self, x: torch.Tensor, gates: Gates) -> torch.Tensor:
        g = self.graph
        needed = self._needed(gates)
        vals: dict[int, torch.Tensor] = {g.inputs[0]: x}
        outs = []
        pc_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for nid in self._order:
            if nid not in needed:
                continue
            n = g.node(nid)
            if n.kind == "input":
                continue
            if n.kind == "output":
                outs.append(vals[n.inputs[0]])
                continue
            key = str(nid)
            if key in self.nodes:
                ins = [vals[i] for i in n.inputs]
                part = self._partial_source(nid)
                if part is not None:
                    src, k = part
                    if src not in pc_cache:
                        xs = vals[src]
                        c = xs.shape[1] // k
                        pc_cache[src] = (xs[:, :c], xs[:, c:])
                    ins = [pc_cache[src][0]]
                vals[nid] = self.nodes[key](gates, *ins)
                continue
            vals[nid] = self._choice(n, vals, gates, pc_cache)
        return outs[0]

    def _partial_source(self, nid: int) -> tuple[int, int] | None:
        n = self.graph.node(nid)
        if n.kind != "op" or len(n.inputs) != 1:
            return None
        for c, _ in self.graph.consumers(nid):
            if c in self.partial and self.graph.node(nid).inputs[0] == self.partial[c][0]:
                return self.partial[c]
        return None

    def _needed(self, gates: Gates) -> set[int]:
        """Nodes the outputs need; under hard sampling only the sampled candidate of a mixed node."""
        g = self.graph
        need: set[int] = set()
        stack = list(g.outputs)
        while stack:
            nid = stack.pop()
            if nid in need:
                continue
            need.add(nid)
            n = g.node(nid)
            ins = list(n.inputs)
            if n.kind == "mixed" and n.decision in gates.hard_index:
                ins = [ins[n.select.index(gates.hard_index[n.decision])]]
            stack.extend(ins)
        return need

    def _choice(self, n: Node, vals: dict[int, torch.Tensor], gates: Gates,
                pc_cache: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        d = n.decision
        assert d is not None
        out_ch = max_dim(n.shape[1]) if len(n.shape) > 1 else None
        if d not in self._free_ids:  # an inactive or pinned decision: its option is fixed
            dec = self.space.decisions[d]
            opt = dec.fixed if dec.fixed is not None else 0
            positions = _selected_positions(n, dec, opt)
            return cast(torch.Tensor, sum(vals[n.inputs[p]] for p in positions))
        if n.kind == "mixed":
            w = gates.mix[d]
            sampled = gates.hard_index.get(d)
            total = None
            for pos, src in enumerate(n.inputs):
                if src not in vals or (sampled is not None and n.select[pos] != sampled):
                    # not sampled; a skip's input may be computed anyway, but its zero-valued
                    # term would still pass gradient to its α (only the sampled one's should)
                    continue
                y = vals[src]
                if n.id in self.partial and src == self.partial[n.id][0]:
                    xs = vals[src]
                    y = xs[:, : xs.shape[1] // self.partial[n.id][1]]  # 'skip' on the partial channels
                if f"{n.id}_{pos}" in self.adapters:
                    y = self.adapters[f"{n.id}_{pos}"](y)
                elif out_ch is not None and y.dim() > 1 and n.id not in self.partial:
                    y = fit_channels(y, out_ch)
                term = w[n.select[pos]] * y
                total = term if total is None else total + term
            assert total is not None
            if gates.aux_skip and n.id in self.aux_sources:
                total = total + gates.aux_skip * vals[self.aux_sources[n.id]]
            if n.id in self.partial:
                src, k = self.partial[n.id]
                rest = pc_cache[src][1] if src in pc_cache else vals[src][:, vals[src].shape[1] // k:]
                if rest.shape[2:] != total.shape[2:]:
                    rest = F.max_pool2d(rest, 2, 2)
                total = _channel_shuffle(torch.cat([total, rest], dim=1), k)
            return total
        if n.kind == "input_choice":
            w = gates.mix[d]
            reduce = dict(n.attrs).get("reduce", "pick")
            terms = [w[pos] * (fit_channels(vals[src], out_ch) if out_ch is not None and vals[src].dim() > 1
                               else vals[src]) for pos, src in enumerate(n.inputs)]
            out = terms[0]
            for t in terms[1:]:
                out = out + t
            if reduce == "mean":
                out = out / dict(n.attrs)["k"]
            if reduce == "concat":
                raise NascSemanticError("concat of a 'choose' is not supported by the supernet", n.span)
            return out
        # repeat_gate
        p = gates.probs[d]
        acc: torch.Tensor | None = None
        for pos, src in enumerate(n.inputs):
            y = vals[src]
            if out_ch is not None and y.dim() > 1:
                y = fit_channels(y, out_ch)
            weight = p[sorted(n.select[pos])].sum()
            acc = weight * y if acc is None else acc + weight * y
        assert acc is not None
        return acc


def _selected_positions(n: Node, dec: Decision, option: int) -> list[int]:
    if n.kind == "mixed":
        return [n.select.index(option)]
    if n.kind == "repeat_gate":
        return [next(p for p, s in enumerate(n.select) if option in s)]
    if dec.kind == "choose":
        return list(dec.options[option])
    return [option]


def _candidate_source(g: IRGraph, c: Node) -> int:
    """The tensor a mixed candidate reads: its op's input, or itself for 'skip'.

    A candidate op node feeds only its mixed node; a node with other consumers is the
    shared input passed through unchanged (the skip candidate).
    """
    if c.kind in ("op", "param_choice") and len(c.inputs) == 1 and len(g.consumers(c.id)) == 1:
        return c.inputs[0]
    return c.id


def _channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


__all__ = ["ArchParams", "GateConfig", "Gates", "Supernet", "count_params"]
