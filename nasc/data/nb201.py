"""NAS-Bench-201's tables and its architecture strings, in the terms of ``examples/nb201.nas``.

The benchmark names an architecture by a string such as
``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|``:
one group per cell node (separated by ``+``), one ``op~j`` per edge from node j.  The
example space labels its edge decisions ``nb201_cell.e{j}{i}`` with the benchmark's op
names, so a string maps to an assignment without any table of our own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import table

if TYPE_CHECKING:
    from ..ir.space import SearchSpace

EDGES = ("e01", "e02", "e12", "e03", "e13", "e23")
"""Edge names in the order the benchmark's string lists them (node 1, node 2, node 3)."""
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
ACC = "nb201/nb201_acc.csv"
LATENCY = "nb201/nb201_latency.csv"


def edge_ops(arch_str: str) -> dict[str, str]:
    """``{edge: op}`` of a benchmark architecture string; ValueError when it is not one."""
    groups = arch_str.strip().strip("|").split("|+|")
    tokens = [(i + 1, tok) for i, g in enumerate(groups) for tok in g.split("|")]
    if len(groups) != 3 or len(tokens) != len(EDGES):
        raise ValueError(f"not a NAS-Bench-201 architecture string: {arch_str!r}")
    out = {}
    for edge, (node, tok) in zip(EDGES, tokens):
        op, _, src = tok.partition("~")
        if op not in OPS or src != edge[1] or node != int(edge[2]):
            raise ValueError(f"not a NAS-Bench-201 architecture string: {arch_str!r} (at {tok!r})")
        out[edge] = op
    return out


def arch_str(ops: dict[str, str]) -> str:
    """The benchmark's string for ``{edge: op}`` (the inverse of :func:`edge_ops`)."""
    node = lambda i: "|".join(f"{ops[e]}~{e[1]}" for e in EDGES if e[2] == str(i))  # noqa: E731
    return f"|{node(1)}|+|{node(2)}|+|{node(3)}|"


def assignment(space: "SearchSpace", arch: str) -> dict[str, int]:
    """The decision assignment of ``examples/nb201.nas`` (or a space labelled like it) for a
    benchmark string: ``{"nb201_cell.e01": option index, ...}``."""
    ops = edge_ops(arch)
    return {f"nb201_cell.{e}": space.decision(f"nb201_cell.{e}").labels.index(op) for e, op in ops.items()}


FLOPS_ROUNDING = 5
"""The benchmark states FLOPs in millions to 5 decimals: +-5 multiply-accumulates."""


def cost_mismatch(row: dict[str, str], params: int, macs: int, classes: int, dataset: str = "cifar10") -> str | None:
    """Why nasc's (params, MACs) of an architecture disagree with the benchmark's row, or None.

    Params must be equal (the table states them to the unit).  The benchmark's "FLOPs" count
    multiply-accumulates plus one per output of the final linear layer (its bias), so the
    reference is ``macs + classes``, within the table's rounding.
    """
    ref_params = round(float(row[f"{dataset}_params_M"]) * 1e6)
    ref_flops = float(row[f"{dataset}_flops_M"]) * 1e6
    if params != ref_params:
        return f"params {params:,} != {ref_params:,}"
    if abs(macs + classes - ref_flops) > FLOPS_ROUNDING:
        return f"MACs + {classes} = {macs + classes:,} != {ref_flops:,.0f} (+-{FLOPS_ROUNDING})"
    return None


def accuracy_rows() -> list[dict[str, str]]:
    """The accuracy / FLOPs / params table, one row per architecture (see nb201/README.md)."""
    return table(ACC)


def latency_rows() -> list[dict[str, str]]:
    """The recorded device latencies, one row per architecture (see nb201/README.md)."""
    return table(LATENCY)
