"""Micro-models: one kernel signature as a standalone model that runs exactly that kernel.

A latency table is keyed by kernel signatures, and the store keeps the signature text, so
a kernel can be measured (and re-measured on another machine) from its text alone.  The
text says everything the kernel computes -- ops, integer attributes, how members read
each other and the kernel's inputs, the input shapes, the precision -- so parsing it back
gives a small :class:`~nasc.passes.optir.OptIR`: one graph input per kernel input, the
members, one output.  Planning that IR's kernels must give back exactly one unit with
the same signature (:func:`micro_ir` checks it), which is what makes the micro-model
*that* kernel and not a neighbour of it.  Weights are seeded random, or given (a test
copies an architecture's own to compare outputs).

The model is built fp32 and the backend is asked for the precision, as a whole-model
``nasc build --precision`` does; the signature's own dtype is the precision it was
enumerated for (:data:`nasc.latency.space_kernels.PIPELINES`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import NascError
from ..ir.graph import Node
from ..ir.ops import OpLibrary
from ..passes.from_arch import bound_attrs
from ..passes.kernels import plan_kernels
from ..passes.optir import OptIR
from ..passes.side_tables import DTYPES, Kernel
from ..passes.signature import kernel_signature


class SignatureError(NascError):
    """A kernel signature that does not parse, or does not describe one kernel."""


@dataclass(frozen=True)
class Member:
    """One op of a parsed signature: what it is and what it reads (``("i", n)`` kernel input
    n, ``("%", j)`` member j)."""

    op: str
    attrs: tuple[tuple[str, Any], ...]
    reads: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ParsedSignature:
    dtype: str
    members: tuple[Member, ...]
    inputs: tuple[tuple[Any, ...], ...]  # shapes of i0, i1, ...
    output: tuple[Any, ...]


_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)'
                    r'|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<ref>%\d+)|(?P<punct>[{}()\[\],=;|]))')


class _Reader:
    """Tokens of a signature text, read left to right."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise SignatureError(f"kernel signature: unexpected text at column {pos + 1}: {text[pos:pos + 20]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> str:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else ""

    def take(self, expect: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise SignatureError(f"kernel signature ends early: {self.text!r}")
        tok = self.tokens[self.i]
        if expect is not None and tok[1] != expect:
            raise SignatureError(f"kernel signature: expected {expect!r}, got {tok[1]!r} in {self.text!r}")
        self.i += 1
        return tok

    def value(self) -> Any:
        kind, tok = self.take()
        if tok == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
                if self.peek() == ",":
                    self.take(",")
            self.take("]")
            return tuple(items)
        if kind == "str":
            return json.loads(tok)
        if kind == "num":
            return float(tok) if any(c in tok for c in ".eE") else int(tok)
        if tok in ("true", "false"):
            return tok == "true"
        if kind == "name":
            return tok  # a symbolic dimension (the batch, B)
        raise SignatureError(f"kernel signature: expected a value, got {tok!r} in {self.text!r}")


def parse_signature(text: str) -> ParsedSignature:
    """The parts of a :func:`~nasc.passes.signature.kernel_signature` text."""
    r = _Reader(text)
    dtype = r.take()[1]
    if dtype not in DTYPES:
        raise SignatureError(f"kernel signature: unknown precision {dtype!r} (expected one of {', '.join(DTYPES)})")
    r.take("|")
    members = []
    while True:
        kind, op = r.take()
        if kind != "name":
            raise SignatureError(f"kernel signature: expected an op name, got {op!r} in {text!r}")
        attrs = []
        if r.peek() == "{":
            r.take("{")
            while r.peek() != "}":
                key = r.take()[1]
                r.take("=")
                attrs.append((key, r.value()))
                if r.peek() == ",":
                    r.take(",")
            r.take("}")
        r.take("(")
        reads = []
        while r.peek() != ")":
            kind, ref = r.take()
            if kind == "ref":
                reads.append(("%", int(ref[1:])))
            elif kind == "name" and re.fullmatch(r"i\d+", ref):
                reads.append(("i", int(ref[1:])))
            else:
                raise SignatureError(f"kernel signature: expected i<n> or %<n>, got {ref!r} in {text!r}")
            if r.peek() == ",":
                r.take(",")
        r.take(")")
        members.append(Member(op, tuple(attrs), tuple(reads)))
        if r.peek() != ";":
            break
        r.take(";")
    r.take("|")
    r.take("in")
    inputs: dict[int, tuple[Any, ...]] = {}
    while r.peek() != "|":
        name = r.take()[1]
        r.take("=")
        inputs[int(name[1:])] = tuple(r.value())
    r.take("|")
    r.take("out")
    output = tuple(r.value())
    if sorted(inputs) != list(range(len(inputs))):
        raise SignatureError(f"kernel signature: inputs must be i0..i{len(inputs) - 1}, got {sorted(inputs)}")
    return ParsedSignature(dtype, tuple(members), tuple(inputs[i] for i in range(len(inputs))), output)


def micro_ir(signature: str, lib: OpLibrary, weights: Sequence[Mapping[str, Any]] | None = None,
             seed: int = 0) -> OptIR:
    """The standalone IR of one kernel: its inputs, its members (weights: ``weights[j]`` for
    member j, else seeded random), its output -- checked to plan as that one kernel."""
    import torch

    from ..lower.ops_torch import concrete_shape, make_primitive

    parsed = parse_signature(signature)
    n_in = len(parsed.inputs)
    nodes = [Node(i, "input", None, (), (), shape, name=f"i{i}") for i, shape in enumerate(parsed.inputs)]
    params: dict[int, dict[str, Any]] = {}
    with torch.random.fork_rng(devices=[]):  # seeded weights, the caller's random state untouched
        torch.manual_seed(seed)
        for j, m in enumerate(parsed.members):
            if any(i >= (n_in if kind == "i" else j) for kind, i in m.reads):
                raise SignatureError(f"kernel signature: member %{j} reads a value the kernel does not have "
                                     "before it")
            ins = tuple(i if kind == "i" else n_in + i for kind, i in m.reads)
            in_shapes = [nodes[i].shape for i in ins]
            try:
                if bound_attrs(lib, m.op, dict(m.attrs)) != m.attrs:
                    raise SignatureError(f"kernel signature: member %{j} ({m.op}) lists its attributes as "
                                         f"{dict(m.attrs)}; a signature lists them all, in the op's order")
                shape = lib.shape(m.op, in_shapes, dict(m.attrs))
            except SignatureError:
                raise
            except Exception as err:  # an op or attribute the library does not know
                raise SignatureError(f"kernel signature: member %{j} ({m.op}): {err}") from None
            nodes.append(Node(n_in + j, "op", m.op, m.attrs, ins, tuple(shape)))
            module = make_primitive(m.op, [concrete_shape(s) for s in in_shapes], dict(m.attrs))
            state = dict(weights[j]) if weights is not None else {
                k: v for k, v in module.state_dict().items() if k != "num_batches_tracked"}
            if state:
                params[n_in + j] = {k: torch.as_tensor(v).float() for k, v in state.items()}
    last = len(nodes) - 1
    nodes.append(Node(last + 1, "output", None, (), (last,), nodes[last].shape, name="y"))
    ir = OptIR("kernel", tuple(nodes), tuple(range(n_in)), (last + 1,), {}, params)
    _check_one_kernel(ir, lib, signature, parsed)
    return ir


def _check_one_kernel(ir: OptIR, lib: OpLibrary, signature: str, parsed: ParsedSignature) -> None:
    groups = plan_kernels(ir, lib)
    members = tuple(n.id for n in ir.ops())
    if len(groups) != 1 or groups[0][1] != members:
        raise SignatureError(f"kernel signature {signature!r} does not describe one kernel: alone, its ops "
                             f"form {len(groups)} units")
    planned = ir.evolve(kernels=(Kernel(0, groups[0][0], members),))
    again = kernel_signature(planned, planned.kernels[0])  # type: ignore[index]
    expected = f"fp32{signature[len(parsed.dtype):]}"
    if again != expected:
        raise SignatureError(f"kernel signature {signature!r} reads back as {again!r}")


@dataclass(frozen=True)
class MicroModel:
    """A kernel as something a backend builds: the torch module, named inputs, output name."""

    module: Any  # torch.nn.Module (OptNet of the micro IR)
    example_inputs: dict[str, Any]  # name -> numpy array (batch 1)
    output_names: tuple[str, ...]
    ir: OptIR


def micro_model(signature: str, lib: OpLibrary, batch: int = 1, seed: int = 0) -> MicroModel:
    from ..lower.inputs import example_inputs
    from ..passes.execute import OptNet

    ir = micro_ir(signature, lib, seed=seed)
    net = OptNet(ir, lib).eval()
    return MicroModel(net, example_inputs(net, batch, seed), tuple(net.output_names), ir)


__all__ = ["Member", "MicroModel", "ParsedSignature", "SignatureError", "micro_ir", "micro_model", "parse_signature"]
