"""The cost model reproduces published networks and the NAS-Bench-201 benchmark's own counts."""

from __future__ import annotations

import csv
import itertools
import random

from nasc import api
from nasc.ir.cost import arch_cost

from .conftest import EXAMPLES, nb201_csv

NB201_EDGES = ["e01", "e02", "e12", "e03", "e13", "e23"]


def nb201_assignment(space, arch_str: str) -> dict[str, int]:
    ops = [tok.split("~")[0] for part in arch_str.strip("|").split("|+|") for tok in part.split("|")]
    return {f"nb201_cell.{e}": space.decision(f"nb201_cell.{e}").labels.index(o) for e, o in zip(NB201_EDGES, ops)}


def test_mobilenet_v2_matches_torchvision() -> None:
    space = api.load(EXAMPLES / "mobilenet_v2.nas").elaborate()
    cost = arch_cost(space.graph.prune(), space.ops)
    assert cost.params == 3_504_872  # torchvision.models.mobilenet_v2()
    assert 300e6 < cost.macs < 301e6  # the published ~300M multiply-adds


def test_resnet18_matches_torchvision() -> None:
    space = api.load(EXAMPLES / "resnet18.nas").elaborate()
    cost = arch_cost(space.graph.prune(), space.ops)
    assert cost.params == 11_689_512  # torchvision.models.resnet18()
    assert cost.macs == 1_814_073_344  # the published 1.8 GMACs


def test_nb201_params_and_flops_match_the_benchmark() -> None:
    """500 random NAS-Bench-201 architectures: params and FLOPs within 0.5% of the benchmark's."""
    rows = list(csv.DictReader(nb201_csv().open()))
    compiled = api.load(EXAMPLES / "nb201.nas")
    space = compiled.elaborate()
    rng = random.Random(201)
    worst = 0.0
    for row in rng.sample(rows, 500):
        arch = compiled.elaborate(pins=api.pins_from_assignment(nb201_assignment(space, row["arch_str"])))
        cost = arch_cost(arch.graph.prune(), compiled.loader.ops)
        params = float(row["cifar10_params_M"]) * 1e6
        flops = float(row["cifar10_flops_M"]) * 1e6
        worst = max(worst, abs(cost.params - params) / params, abs(cost.macs - flops) / flops)
    assert worst < 0.005


def _brute_force(compiled, space):
    """Every assignment of every decision, elaborated concretely: (distinct archs, params range)."""
    free = [d for d in space.decisions if d.free]
    seen = set()
    params = []
    for combo in itertools.product(*(range(d.n) for d in free)):
        assign = {d.path: o for d, o in zip(free, combo)}
        if any(o in d.excluded for d, o in zip(free, combo)):
            continue
        active = api.active_assignment(space, assign)
        key = tuple(sorted(active.items()))
        if key in seen:
            continue
        seen.add(key)
        arch = compiled.elaborate(space.name, api.pins_from_assignment(assign))
        params.append(arch_cost(arch.graph.prune(), compiled.loader.ops).params)
    return len(seen), min(params), max(params)


SMALL = """
block cell(C)(x) {
    a = x |> choice [conv: relu_conv_bn(C, 3), pool: max_pool(3), skip: skip]
    src = choice [x, a]
    b = src |> choice [c1: relu_conv_bn(C, 1), none: zero]
    return a + b
}
space small {
    input x: f32[B, 1, 8, 8]
    C = choice [4, 8]
    h = x |> conv(C, 3) |> bn
    depth = choice [1, 2]
    repeat depth { h = h |> cell(C) }
    output y = h |> gap |> linear(10)
}
"""


def test_exact_size_and_bounds_agree_with_brute_force() -> None:
    compiled = api.load_text(SMALL, "small.nas")
    space = compiled.elaborate()
    record = api.summarize(space)
    count, lo, hi = _brute_force(compiled, space)
    assert record["size"] == count == 2 * (12 + 12 * 12)
    assert record["params"] == [lo, hi]


def test_peak_memory_counts_expanded_composites() -> None:
    """mbconv's 6x expansion is the peak of a one-block net, not its input or output."""
    text = """arch one {
        input x: f32[1, 16, 8, 8]
        output y = x |> mbconv(16, k = 3, expand = 6)
    }"""
    arch = api.load_text(text, "one.nas").elaborate()
    peak = arch_cost(arch.graph.prune(), arch.ops).peak_memory
    act = 16 * 8 * 8 * 4
    assert peak >= 6 * act + 6 * act  # two 96-channel tensors live at once (conv -> bn)
    assert peak < 20 * act
