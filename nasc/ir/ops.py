"""The op library: every op's meta parameters, shape rule and cost rule, declared once.

Primitives (conv, bn, relu, ...) carry a shape rule and a cost rule.  Composites
(relu_conv_bn, sep_conv, mbconv, ...) carry an *expansion* into primitives; their
shape and cost are derived from it, and the same expansion is what the torch
lowering and the fusion pass execute -- so the exact counts the cost model reports
are, by construction, the counts of the modules that get trained and deployed.

Counting conventions (chosen so the examples reproduce published networks):
``conv`` has no bias unless ``bias = true``; ``linear`` has one; ``bn`` counts 2*C
parameters (running statistics are buffers); MACs count conv and linear layers only
(the NAS-Bench-201 "FLOPs" convention).  Convolutions and pools pad
``dilation * (k - 1) // 2`` on each side ("same" at stride 1, PyTorch style).

A library is an ordinary object: :func:`builtin_library` makes the standard one and
:meth:`OpLibrary.extend` derives one with custom ops, so nothing here is global.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

Dim = int | str  # a str is a symbolic dimension such as the batch "B"
Shape = tuple[Dim, ...]

REQUIRED = object()  # marks a meta parameter without default


class OpError(Exception):
    """A shape or argument error inside an op rule; the elaborator adds the span."""


@dataclass(frozen=True)
class OpParam:
    name: str
    default: Any = REQUIRED
    kind: str = "int"  # int | float | bool | str | any

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Cost:
    """Exact per-sample counts for one op application."""

    params: int = 0
    macs: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.params + other.params, self.macs + other.macs)


@dataclass(frozen=True)
class PrimNode:
    """One primitive inside a composite's expansion; inputs < 0 name the composite's inputs."""

    op: str
    attrs: tuple[tuple[str, Any], ...]
    inputs: tuple[int, ...]
    shape: Shape


@dataclass(frozen=True)
class Expansion:
    nodes: tuple[PrimNode, ...]
    output: int  # index into nodes, or -1-i for the composite's i-th input (identity)


ShapeFn = Callable[[Sequence[Shape], Mapping[str, Any]], Shape]
CostFn = Callable[[Sequence[Shape], Shape, Mapping[str, Any]], Cost]
ExpandFn = Callable[["Builder", Sequence["Ref"], Mapping[str, Any]], "Ref"]


@dataclass(frozen=True)
class OpDef:
    """An op: meta parameters, tensor arity, rules and typed flags (never name tests)."""

    name: str
    params: tuple[OpParam, ...] = ()
    arity: int = 1  # number of tensor inputs; -1: variadic (a list)
    shape_fn: ShapeFn | None = None
    cost_fn: CostFn | None = None
    expand_fn: ExpandFn | None = None
    flags: frozenset[str] = frozenset()
    doc: str = ""
    module_fn: Callable[..., Any] | None = None  # custom ops: torch module factory

    @property
    def composite(self) -> bool:
        return self.expand_fn is not None

    def param(self, name: str) -> OpParam | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


@dataclass(frozen=True)
class Ref:
    """A value inside an expansion being built (an index or a composite input)."""

    index: int
    shape: Shape


class Builder:
    """Builds an :class:`Expansion`, checking shapes with the primitives' rules as it goes."""

    def __init__(self, lib: "OpLibrary", in_shapes: Sequence[Shape]) -> None:
        self.lib = lib
        self.nodes: list[PrimNode] = []
        self.inputs = [Ref(-1 - i, s) for i, s in enumerate(in_shapes)]

    def op(self, name: str, *inputs: Ref, **attrs: Any) -> Ref:
        opdef = self.lib.get(name)
        full = self.lib.bind(opdef, attrs)
        shapes = [r.shape for r in inputs]
        if opdef.composite:
            sub = self.lib.expand(name, shapes, full)
            mapping = {-1 - i: r.index for i, r in enumerate(inputs)}
            base = len(self.nodes)
            for n in sub.nodes:
                ins = tuple(mapping[i] if i < 0 else base + i for i in n.inputs)
                self.nodes.append(PrimNode(n.op, n.attrs, ins, n.shape))
            out = mapping[sub.output] if sub.output < 0 else base + sub.output
            shape = sub.nodes[sub.output].shape if sub.output >= 0 else inputs[-1 - sub.output].shape
            return Ref(out, shape)
        assert opdef.shape_fn is not None
        shape = opdef.shape_fn(shapes, full)
        self.nodes.append(PrimNode(name, tuple(sorted(full.items())), tuple(r.index for r in inputs), shape))
        return Ref(len(self.nodes) - 1, shape)

    def finish(self, out: Ref) -> Expansion:
        return Expansion(tuple(self.nodes), out.index)


@dataclass
class OpLibrary:
    """A registry of ops; duplicate names are an error, lookups suggest close names."""

    ops: dict[str, OpDef] = field(default_factory=dict)
    _expansions: dict[Any, Expansion] = field(default_factory=dict, repr=False)

    def add(self, opdef: OpDef) -> OpDef:
        if opdef.name in self.ops:
            raise ValueError(f"op '{opdef.name}' is already registered")
        if opdef.shape_fn is None and opdef.expand_fn is None:
            raise ValueError(f"op '{opdef.name}' needs a shape rule (shape=) or an expansion")
        self.ops[opdef.name] = opdef
        return opdef

    def get(self, name: str) -> OpDef:
        try:
            return self.ops[name]
        except KeyError:
            from ..errors import did_you_mean

            raise OpError(f"unknown op '{name}'{did_you_mean(name, list(self.ops))}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.ops

    def op(self, name: str, *, shape: Callable[..., Any], cost: Callable[..., Any] | None = None,
           arity: int = 1, flags: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a custom op; decorates its torch module factory ``fn(in_shapes, **meta)``.

        ``shape(in_shapes, **meta) -> shape`` is mandatory: the elaborator checks every
        use with it.  ``cost(in_shapes, out_shape, **meta)`` returns ``{"params": n,
        "macs": m}`` (or a :class:`Cost`); without it the op counts as free, which the
        cost model cannot know better.  The factory's parameters after ``in_shapes`` are
        the op's meta parameters (defaults make them optional).
        """
        import inspect

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            sig = list(inspect.signature(fn).parameters.values())[1:]
            params = tuple(OpParam(p.name, REQUIRED if p.default is inspect.Parameter.empty else p.default, "any")
                           for p in sig)

            def shape_fn(s: Sequence[Shape], a: Mapping[str, Any]) -> Shape:
                out = shape(list(s), **a)
                return tuple(out)

            def cost_fn(s: Sequence[Shape], out: Shape, a: Mapping[str, Any]) -> Cost:
                assert cost is not None
                c = cost(list(s), out, **a)
                return c if isinstance(c, Cost) else Cost(int(c.get("params", 0)), int(c.get("macs", 0)))

            self.add(OpDef(name, params, arity, shape_fn, cost_fn if cost is not None else None,
                           flags=frozenset(flags), module_fn=fn,
                           doc=(fn.__doc__ or "").strip()))
            return fn

        return deco

    def merge(self, other: "OpLibrary", origin: str) -> None:
        """Add another library's ops (custom ops imported by a space); clashes are errors."""
        for name, opdef in other.ops.items():
            if name in self.ops and self.ops[name] is not opdef:
                raise OpError(f"op '{name}' from {origin} clashes with an op of the same name")
            self.ops[name] = opdef

    def extend(self) -> "OpLibrary":
        """A copy that custom ops can be added to without touching this library."""
        return OpLibrary(dict(self.ops))

    def bind(self, opdef: OpDef, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """Fill defaults and check names; raises OpError for unknown or missing parameters."""
        out: dict[str, Any] = {}
        known = {p.name for p in opdef.params}
        for key in attrs:
            if key not in known:
                from ..errors import did_you_mean

                raise OpError(f"op '{opdef.name}' has no parameter '{key}'{did_you_mean(key, known)}")
        for p in opdef.params:
            if p.name in attrs:
                out[p.name] = attrs[p.name]
            elif p.required:
                raise OpError(f"op '{opdef.name}' needs parameter '{p.name}'")
            else:
                out[p.name] = p.default
        return out

    # -- rules, with composites derived from their expansions
    def expand(self, name: str, in_shapes: Sequence[Shape], attrs: Mapping[str, Any]) -> Expansion:
        key = (name, tuple(in_shapes), tuple(sorted(attrs.items())))
        hit = self._expansions.get(key)
        if hit is None:
            opdef = self.get(name)
            assert opdef.expand_fn is not None
            b = Builder(self, in_shapes)
            hit = b.finish(opdef.expand_fn(b, b.inputs, attrs))
            self._expansions[key] = hit
        return hit

    def shape(self, name: str, in_shapes: Sequence[Shape], attrs: Mapping[str, Any]) -> Shape:
        opdef = self.get(name)
        _check_arity(opdef, in_shapes)
        if opdef.composite:
            exp = self.expand(name, in_shapes, attrs)
            return exp.nodes[exp.output].shape if exp.output >= 0 else in_shapes[-1 - exp.output]
        assert opdef.shape_fn is not None
        return opdef.shape_fn(in_shapes, attrs)

    def cost(self, name: str, in_shapes: Sequence[Shape], attrs: Mapping[str, Any]) -> Cost:
        opdef = self.get(name)
        if opdef.composite:
            exp = self.expand(name, in_shapes, attrs)
            total = Cost()
            for n in exp.nodes:
                ins = [exp.nodes[i].shape if i >= 0 else in_shapes[-1 - i] for i in n.inputs]
                total = total + self.cost(n.op, ins, dict(n.attrs))
            return total
        out = self.shape(name, in_shapes, attrs)
        if opdef.cost_fn is None:
            return Cost()
        return opdef.cost_fn(in_shapes, out, attrs)


def _check_arity(opdef: OpDef, in_shapes: Sequence[Shape]) -> None:
    if opdef.arity >= 0 and len(in_shapes) != opdef.arity:
        raise OpError(f"op '{opdef.name}' takes {opdef.arity} tensor input"
                      f"{'s' if opdef.arity != 1 else ''}, got {len(in_shapes)}")
    if opdef.arity < 0 and not in_shapes:
        raise OpError(f"op '{opdef.name}' needs at least one tensor")


# ---------------------------------------------------------------- shape helpers
def fmt_shape(shape: Shape) -> str:
    return "f32[" + ", ".join(str(d) for d in shape) + "]"


def _nchw(name: str, shape: Shape) -> tuple[Dim, int, int, int]:
    if len(shape) != 4:
        raise OpError(f"'{name}' expects a 4-d tensor [B, C, H, W], got {fmt_shape(shape)}")
    b, c, h, w = shape
    if not all(isinstance(d, int) for d in (c, h, w)):
        raise OpError(f"'{name}' needs known channel and spatial sizes, got {fmt_shape(shape)}")
    return b, c, h, w  # type: ignore[return-value]


def _pos_int(op: str, name: str, v: Any, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise OpError(f"'{op}' parameter '{name}' must be an integer >= {minimum}, got {v!r}")
    return v


def _out_size(n: int, k: int, stride: int, dilation: int = 1) -> int:
    pad = dilation * (k - 1) // 2
    out = (n + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    if out < 1:
        raise OpError(f"kernel {k} (dilation {dilation}) does not fit a spatial size of {n}")
    return out


def _numel(shape: Shape) -> int:
    return math.prod(d for d in shape[1:] if isinstance(d, int))


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's channel rounding (used by squeeze-excite)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


# ---------------------------------------------------------------- primitive rules
def _conv_shape(s, a):
    b, cin, h, w = _nchw("conv", s[0])
    c = _pos_int("conv", "C", a["C"])
    k = _pos_int("conv", "k", a["k"])
    st = _pos_int("conv", "stride", a["stride"])
    g = _pos_int("conv", "groups", a["groups"])
    d = _pos_int("conv", "dilation", a["dilation"])
    if cin % g or c % g:
        raise OpError(f"conv groups={g} must divide input channels {cin} and output channels {c}")
    return (b, c, _out_size(h, k, st, d), _out_size(w, k, st, d))


def _conv_cost(s, out, a):
    cin = s[0][1]
    per_out = (cin // a["groups"]) * a["k"] * a["k"]
    params = a["C"] * per_out + (a["C"] if a["bias"] else 0)
    return Cost(params, a["C"] * per_out * out[2] * out[3])


def _dwconv_shape(s, a):
    b, cin, h, w = _nchw("dwconv", s[0])
    k = _pos_int("dwconv", "k", a["k"])
    st = _pos_int("dwconv", "stride", a["stride"])
    d = _pos_int("dwconv", "dilation", a["dilation"])
    return (b, cin, _out_size(h, k, st, d), _out_size(w, k, st, d))


def _dwconv_cost(s, out, a):
    cin = s[0][1]
    params = cin * a["k"] * a["k"] + (cin if a["bias"] else 0)
    return Cost(params, cin * a["k"] * a["k"] * out[2] * out[3])


def _same(s, a):
    return s[0]


def _bn_shape(s, a):
    if len(s[0]) not in (2, 4) or not isinstance(s[0][1], int):
        raise OpError(f"'bn' expects [B, C] or [B, C, H, W], got {fmt_shape(s[0])}")
    return s[0]


def _bn_cost(s, out, a):
    return Cost(2 * s[0][1], 0)


def _pool_shape(name):
    def rule(s, a):
        b, c, h, w = _nchw(name, s[0])
        k = _pos_int(name, "k", a["k"])
        st = _pos_int(name, "stride", a["stride"])
        return (b, c, _out_size(h, k, st), _out_size(w, k, st))
    return rule


def _gap_shape(s, a):
    b, c, _, _ = _nchw("gap", s[0])
    return (b, c, 1, 1) if a["keepdim"] else (b, c)


def _flatten_shape(s, a):
    if len(s[0]) < 2:
        raise OpError(f"'flatten' expects at least [B, F], got {fmt_shape(s[0])}")
    return (s[0][0], _numel(s[0]))


def _linear_shape(s, a):
    if len(s[0]) != 2 or not isinstance(s[0][1], int):
        raise OpError(f"'linear' expects [B, F] (use gap or flatten first), got {fmt_shape(s[0])}")
    return (s[0][0], _pos_int("linear", "n", a["n"]))


def _linear_cost(s, out, a):
    f = s[0][1]
    return Cost(f * a["n"] + (a["n"] if a["bias"] else 0), f * a["n"])


def _zero_shape(s, a):
    b, c, h, w = _nchw("zero", s[0])
    st = _pos_int("zero", "stride", a["stride"])
    return (b, c, -(-h // st), -(-w // st))


def _crop_shape(s, a):
    b, c, h, w = _nchw("crop", s[0])
    o = a["offset"]
    if o >= h or o >= w:
        raise OpError(f"crop offset {o} does not fit {fmt_shape(s[0])}")
    return (b, c, h - o, w - o)


def _elementwise(name):
    def rule(s, a):
        first = s[0]
        for other in s[1:]:
            if tuple(other) != tuple(first):
                raise OpError(f"cannot {name} {fmt_shape(first)} and {fmt_shape(other)}")
        return first
    return rule


def _mul_shape(s, a):
    if len(s) != 2:
        raise OpError("'mul' takes two tensors")
    x, g = s
    if tuple(x) == tuple(g):
        return x
    if len(x) == 4 and len(g) == 4 and g[1] == x[1] and g[2] == 1 and g[3] == 1:
        return x  # channel gate, as in squeeze-excite
    raise OpError(f"cannot multiply {fmt_shape(x)} and {fmt_shape(g)}")


def _concat_shape(s, a):
    first = s[0]
    if len(first) < 2:
        raise OpError(f"'concat' joins channels of [B, C, ...] tensors, got {fmt_shape(first)}")
    total = 0
    for other in s:
        if len(other) != len(first) or tuple(other[2:]) != tuple(first[2:]) or other[0] != first[0]:
            raise OpError(f"cannot concat {fmt_shape(first)} and {fmt_shape(other)}: "
                          "all dimensions but channels must agree")
        if not isinstance(other[1], int):
            raise OpError("cannot concat tensors of unknown channel count")
        total += other[1]
    return (first[0], total, *first[2:])


# ---------------------------------------------------------------- composite expansions
def _relu_conv_bn(b: Builder, x, a):
    h = b.op("relu", x[0])
    h = b.op("conv", h, C=a["C"], k=a["k"], stride=a["stride"], dilation=a["dilation"])
    return b.op("bn", h)


def _sep_conv(b: Builder, x, a):
    cin = x[0].shape[1]
    h = b.op("relu", x[0])
    h = b.op("dwconv", h, k=a["k"], stride=a["stride"])
    h = b.op("conv", h, C=cin, k=1)
    h = b.op("bn", h)
    h = b.op("relu", h)
    h = b.op("dwconv", h, k=a["k"], stride=1)
    h = b.op("conv", h, C=a["C"], k=1)
    return b.op("bn", h)


def _dil_conv(b: Builder, x, a):
    h = b.op("relu", x[0])
    h = b.op("dwconv", h, k=a["k"], stride=a["stride"], dilation=a["dilation"])
    h = b.op("conv", h, C=a["C"], k=1)
    return b.op("bn", h)


def _factorized_reduce(b: Builder, x, a):
    c = a["C"]
    if c % 2:
        raise OpError(f"factorized_reduce needs an even channel count, got {c}")
    h = b.op("relu", x[0])
    p = b.op("conv", h, C=c // 2, k=1, stride=2)
    q = b.op("conv", b.op("crop", h, offset=1), C=c // 2, k=1, stride=2)
    if p.shape != q.shape:
        raise OpError(f"factorized_reduce needs even spatial sizes, got {fmt_shape(x[0].shape)}")
    return b.op("bn", b.op("concat", p, q))


def _resnet_basic(b: Builder, x, a):
    c, stride = a["C"], a["stride"]
    h = b.op("relu_conv_bn", x[0], C=c, k=3, stride=stride)
    h = b.op("relu_conv_bn", h, C=c, k=3, stride=1)
    cin = x[0].shape[1]
    if stride == 2:
        sc = b.op("conv", b.op("avg_pool", x[0], k=2, stride=2), C=c, k=1)
    elif stride == 1 and cin != c:
        sc = b.op("relu_conv_bn", x[0], C=c, k=1)
    elif stride == 1:
        sc = x[0]
    else:
        raise OpError(f"resnet_basic supports stride 1 or 2, got {stride}")
    return b.op("add", h, sc)


def _se(b: Builder, x, a):
    cin = x[0].shape[1]
    squeeze = make_divisible(cin * a["r"], 8)
    g = b.op("gap", x[0], keepdim=True)
    g = b.op("conv", g, C=squeeze, k=1, bias=True)
    g = b.op("relu", g)
    g = b.op("conv", g, C=cin, k=1, bias=True)
    g = b.op("hsigmoid", g)
    return b.op("mul", x[0], g)


def _mbconv(b: Builder, x, a):
    cin = x[0].shape[1]
    e = a["expand"]
    if not isinstance(e, (int, float)) or isinstance(e, bool) or e <= 0:
        raise OpError(f"mbconv 'expand' must be a positive number, got {e!r}")
    hidden = int(round(cin * e))
    h = x[0]
    if e != 1:
        h = b.op("relu6", b.op("bn", b.op("conv", h, C=hidden, k=1)))
    h = b.op("relu6", b.op("bn", b.op("dwconv", h, k=a["k"], stride=a["stride"])))
    if a["se"]:
        h = b.op("se", h, r=0.25)
    h = b.op("bn", b.op("conv", h, C=a["C"], k=1))
    if a["stride"] == 1 and cin == a["C"]:
        h = b.op("add", h, x[0])
    return h


def _p(name: str, default: Any = REQUIRED, kind: str = "int") -> OpParam:
    return OpParam(name, default, kind)


def builtin_library() -> OpLibrary:
    """The standard op library (a fresh object each call)."""
    lib = OpLibrary()
    act = frozenset({"act", "param_free", "elementwise"})
    prim = [
        OpDef("conv", (_p("C"), _p("k", 3), _p("stride", 1), _p("groups", 1), _p("dilation", 1),
                       _p("bias", False, "bool")), 1, _conv_shape, _conv_cost, flags=frozenset({"conv"}),
              doc="2-d convolution, 'same' padding, no bias unless bias = true"),
        OpDef("dwconv", (_p("k", 3), _p("stride", 1), _p("dilation", 1), _p("bias", False, "bool")), 1,
              _dwconv_shape, _dwconv_cost, flags=frozenset({"conv", "depthwise"}),
              doc="depthwise convolution (groups = channels)"),
        OpDef("bn", (), 1, _bn_shape, _bn_cost, flags=frozenset({"norm"}), doc="batch norm (2*C parameters)"),
        OpDef("relu", (), 1, _same, flags=act),
        OpDef("relu6", (), 1, _same, flags=act),
        OpDef("hswish", (), 1, _same, flags=act),
        OpDef("hsigmoid", (), 1, _same, flags=act),
        OpDef("sigmoid", (), 1, _same, flags=act),
        OpDef("avg_pool", (_p("k"), _p("stride", 1)), 1, _pool_shape("avg_pool"),
              flags=frozenset({"pool", "param_free"}), doc="average pool, padding excluded from the mean"),
        OpDef("max_pool", (_p("k"), _p("stride", 1)), 1, _pool_shape("max_pool"),
              flags=frozenset({"pool", "param_free"})),
        OpDef("gap", (_p("keepdim", False, "bool"),), 1, _gap_shape, flags=frozenset({"pool", "param_free",
                                                                                     "reduction"}),
              doc="global average pool: [B, C, H, W] -> [B, C]"),
        OpDef("flatten", (), 1, _flatten_shape, flags=frozenset({"param_free"})),
        OpDef("linear", (_p("n"), _p("bias", True, "bool")), 1, _linear_shape, _linear_cost,
              flags=frozenset({"linear"})),
        OpDef("dropout", (_p("p", 0.5, "float"),), 1, _same, flags=frozenset({"param_free"})),
        OpDef("zero", (_p("stride", 1),), 1, _zero_shape, flags=frozenset({"zero", "param_free"}),
              doc="the DARTS 'none' op: zeros (strided like the edge)"),
        OpDef("skip", (), 1, _same, flags=frozenset({"identity", "param_free"}), doc="identity"),
        OpDef("crop", (_p("offset", 1),), 1, _crop_shape, flags=frozenset({"param_free"}),
              doc="drop the first `offset` rows and columns (factorized_reduce's shifted path)"),
        OpDef("add", (), -1, _elementwise("add"), flags=frozenset({"param_free", "elementwise", "merge"})),
        OpDef("mean", (), -1, _elementwise("average"), flags=frozenset({"param_free", "elementwise",
                                                                       "merge"})),
        OpDef("mul", (), 2, _mul_shape, flags=frozenset({"param_free", "elementwise"})),
        OpDef("concat", (), -1, _concat_shape, flags=frozenset({"param_free", "merge"})),
    ]
    comp = [
        OpDef("relu_conv_bn", (_p("C"), _p("k", 3), _p("stride", 1), _p("dilation", 1)), 1,
              expand_fn=_relu_conv_bn, doc="ReLU, conv, BN (DARTS / NB201 ReLUConvBN)"),
        OpDef("sep_conv", (_p("C"), _p("k", 3), _p("stride", 1)), 1, expand_fn=_sep_conv,
              doc="DARTS separable conv: (ReLU, dw k x k, pw 1x1, BN) x 2, stride on the first"),
        OpDef("dil_conv", (_p("C"), _p("k", 3), _p("stride", 1), _p("dilation", 2)), 1,
              expand_fn=_dil_conv, doc="ReLU, dilated depthwise k x k, pointwise, BN"),
        OpDef("factorized_reduce", (_p("C"),), 1, expand_fn=_factorized_reduce,
              doc="DARTS: two offset 1x1 stride-2 convs of C/2, concatenated, BN"),
        OpDef("resnet_basic", (_p("C"), _p("stride", 1)), 1, expand_fn=_resnet_basic,
              doc="NAS-Bench-201 residual block"),
        OpDef("se", (_p("r", 0.25, "float"),), 1, expand_fn=_se,
              doc="squeeze-excite: gap, 1x1 (bias), ReLU, 1x1 (bias), hard sigmoid, scale"),
        OpDef("mbconv", (_p("C"), _p("k", 3), _p("expand", 6, "float"), _p("stride", 1),
                         _p("se", False, "bool")), 1, expand_fn=_mbconv,
              doc="torchvision MobileNetV2 inverted residual (residual iff stride 1 and C_in = C)"),
    ]
    for op in prim + comp:
        lib.add(op)
    return lib
