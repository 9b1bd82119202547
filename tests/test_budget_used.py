"""The "budget used" rule: a hard budget's band [0.85 B, B] is held, or the reason recorded.

The tiny fixture space has six architectures (params by h, w): conv/big 823, conv/small
277, pool/big and skip/big 671, pool/small and skip/small 125.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nasc import api, experiment
from nasc.lower.supernet import Supernet
from nasc.search.budget_use import FLOOR
from nasc.search.discretize import ConstraintChecker, select
from nasc.search.objectives import Objective
from nasc.search.run import search

from .conftest import EXAMPLES, ROOT

TINY = (ROOT / "tests" / "fixtures" / "search" / "tiny.nas").read_text()


def _tiny(bound: int, h: list[float], w: list[float], metric: str = "params"):
    """The tiny space under ``METRIC <= bound``, a supernet with the given α, and its checker."""
    compiled = api.load_text(TINY.replace("params <= 400", f"{metric} <= {bound}"), f"tiny_{metric}{bound}.nas")
    space = compiled.elaborate()
    net = Supernet(space, space.ops)
    with torch.no_grad():
        net.arch.vector(space.decision("h").id).copy_(torch.tensor(h))
        net.arch.vector(space.decision("w").id).copy_(torch.tensor(w))
    checker = ConstraintChecker(space, space.ops, lambda a: compiled.elaborate(pins=api.pins_from_assignment(a)))
    return space, net, checker


def _params(space, checker: ConstraintChecker, assignment: dict[str, int]) -> float:
    (budget,) = space.constraints
    value = checker.additive_value(budget, assignment)
    assert value is not None
    return value


# α: conv/big is the most likely (823: over the bound), then conv/small (277: feasible, far below the band),
# then the big conv after a pool or a skip (671: in the band of params <= 700).
PREFER_CONV_BIG = ([3.0, 0.0, 0.0], [2.0, 0.0])


def test_the_most_likely_arch_in_the_band_wins_over_a_more_likely_one_below_it() -> None:
    space, net, checker = _tiny(700, *PREFER_CONV_BIG)
    chosen = select(net, checker)
    params = _params(space, checker, chosen.assignment)
    assert FLOOR * 700 <= params <= 700 and params == 671
    assert chosen.assignment["w"] == space.decision("w").labels.index("big")
    assert chosen.rule == "in band" and chosen.tried == 3  # conv/big refused, conv/small below the band
    (use,) = chosen.uses
    assert use.held and use.reason is None and use.used == pytest.approx(671 / 700)
    assert use.to_record() == {"bound": 700.0, "used": round(671 / 700, 4), "band": [FLOOR * 700, 700.0],
                               "band_held": True, "reason": None}


def test_when_no_assignment_tried_lands_in_the_band_the_closest_is_kept_and_the_reason_recorded() -> None:
    space, net, checker = _tiny(700, *PREFER_CONV_BIG)
    chosen = select(net, checker, budget=2)  # only conv/big (infeasible) and conv/small (277) are tried
    assert _params(space, checker, chosen.assignment) == 277
    assert chosen.rule == "closest to the band" and chosen.tried == 2
    (use,) = chosen.uses
    assert not use.held and use.reachable and use.used == pytest.approx(277 / 700)
    assert use.reason == ("no assignment among the 2 most likely by α lands in the band of every hard budget "
                          "(from 85% of the bound up to it); the closest feasible one found uses 39.6% of 700")


def test_the_closest_feasible_one_is_the_nearest_to_the_band_not_the_first() -> None:
    # α: conv/small (277) first.  Under params <= 900 conv/big (823) is in the band [765, 900]; under
    # params <= 800 it is over the bound and nothing lands in [680, 800], so the closest feasible arch
    # (671, 83.9% of the bound) wins over the more likely 277 and 125
    space, net, checker = _tiny(900, [3.0, 0.0, 0.0], [0.0, 2.0])
    chosen = select(net, checker)
    assert chosen.rule == "in band" and _params(space, checker, chosen.assignment) == 823
    space, net, checker = _tiny(800, [3.0, 0.0, 0.0], [0.0, 2.0])
    chosen = select(net, checker)
    assert chosen.rule == "closest to the band" and chosen.tried == 6
    assert _params(space, checker, chosen.assignment) == 671


def test_a_budget_above_the_largest_arch_reports_that_it_cannot_be_used() -> None:
    space, net, checker = _tiny(2000, *PREFER_CONV_BIG)
    chosen = select(net, checker)
    assert chosen.rule == "most likely" and chosen.tried == 1  # an unreachable band does not steer the choice
    assert _params(space, checker, chosen.assignment) == 823
    (use,) = chosen.uses
    assert not use.held and not use.reachable and use.largest == 823
    assert use.reason == ("cannot use the budget: the space's largest architecture has params 823, only 41.1% "
                          "of 2000 (the band starts at 85%)")


def test_a_peak_memory_budget_is_judged_on_the_elaborated_arch() -> None:
    """Peak memory is not additive: each candidate's exact peak comes from its elaborated graph (small w
    peaks at 512 bytes, big w at 1,280), and with no range known the band counts as reachable."""
    space, net, checker = _tiny(1300, [0.0, 0.0, 0.0], [0.0, 2.0], "peak_memory")  # α: the small conv
    chosen = select(net, checker)
    assert chosen.rule == "in band" and chosen.assignment["w"] == space.decision("w").labels.index("big")
    (use,) = chosen.uses
    assert use.value == 1280 and use.largest is None and use.held
    space, net, checker = _tiny(1000, [0.0, 0.0, 0.0], [0.0, 2.0], "peak_memory")  # nothing in [850, 1000]
    chosen = select(net, checker)
    (use,) = chosen.uses
    assert chosen.rule == "closest to the band" and use.value == 512 and use.reachable and not use.held
    assert use.reason is not None and use.reason.startswith("no assignment among the 6 most likely")


def test_the_search_pulls_expected_cost_up_toward_a_reachable_band_only() -> None:
    """A hard budget penalizes E[c] below 0.85 B, so α moves toward larger options; not when out of reach."""
    cfg = experiment.resolve(None, [])
    for bound, pulls in ((700, True), (2000, False)):
        space, net, _ = _tiny(bound, [0.0, 0.0, 0.0], [0.0, 3.0])  # α: the small conv, far below any band
        objective = Objective(space, space.ops, cfg)
        probs = {d: net.arch.option_probs(d) for d in net.arch.ids()}
        loss, expected = objective.cost_loss(probs)
        assert expected["params"] < FLOOR * 700
        if not pulls:
            assert float(loss.detach()) == 0.0
            continue
        assert float(loss.detach()) == pytest.approx(FLOOR - expected["params"] / bound)
        loss.backward()
        w = net.arch.vector(space.decision("w").id)
        assert w.grad is not None and w.grad[0] < 0 < w.grad[1]  # a step raises the big conv's α


def test_the_summary_says_how_much_of_each_hard_budget_is_used_and_why_not_more(tmp_path: Path) -> None:
    """digits_tiny's params <= 20K is above its largest arch (8,218): summary.json says so."""
    smoke = api.load(EXAMPLES / "digits_tiny.nas").module.experiments["smoke"]
    cfg = experiment.resolve(smoke, ["search.epochs=1", "search.batch=256"])
    res = search(api.load(EXAMPLES / "digits_tiny.nas"), cfg, tmp_path)
    (check,) = res.summary["constraints"]
    assert check["bound"] == 20000 and check["band"] == [FLOOR * 20000, 20000]
    assert check["used"] == pytest.approx(res.summary["params"] / 20000, abs=1e-4) and not check["band_held"]
    assert check["reason"].startswith("cannot use the budget: the space's largest architecture has params 8,218")
    assert res.summary["discretization"]["rule"] == "most likely"
    assert json.loads((tmp_path / "summary.json").read_text())["constraints"] == [check]


def test_a_latency_weight_makes_the_budgets_ceilings() -> None:
    """Under a latency weight (a sweep's λ) the band neither pulls α up nor steers the choice: the
    most likely feasible arch is taken, and the summary says why the budget is not filled."""
    from nasc.search.budget_use import fills_budgets

    cfg = experiment.resolve(None, ["search.latency_weight=0.5"])
    assert not fills_budgets(cfg) and fills_budgets(experiment.resolve(None, []))
    space, net, checker = _tiny(700, *PREFER_CONV_BIG)
    chosen = select(net, checker, fill=fills_budgets(cfg))
    assert _params(space, checker, chosen.assignment) == 277  # conv/small, below the band
    assert chosen.rule == "most likely (a latency weight: budgets are ceilings)" and chosen.tried == 2
    (use,) = chosen.uses
    assert not use.held and use.reason is not None and use.reason.startswith("not filled: the search has a latency")
    # the measuring loop's rule alike: 60% of a latency budget wastes it only without a weight
    from nasc.search.budget_use import wastes

    assert wastes(0.6, 1.0, experiment.resolve(None, [])) and not wastes(0.6, 1.0, cfg)
    assert not wastes(0.9, 1.0, experiment.resolve(None, []))
    space, net, _ = _tiny(700, [0.0, 0.0, 0.0], [0.0, 3.0])
    objective = Objective(space, space.ops, cfg)
    probs = {d: net.arch.option_probs(d) for d in net.arch.ids()}
    _, expected = objective.cost_loss(probs)
    assert expected["params"] < FLOOR * 700 and objective.floors == [None]
