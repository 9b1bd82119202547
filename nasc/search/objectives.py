"""Differentiable objectives on α: expected costs, budget penalties and regularizers.

Expected costs are exact expectations under independent per-decision
distributions: a metric is a sum of per-node values gated by liveness, grouped
into factors over small decision scopes (:func:`nasc.ir.analysis.cost_factors`),
and each factor's expectation is one einsum of its table with the scope's
probability vectors.  Hard budgets add ``penalty * max(0, E[c]/B - 1)`` during
search and are enforced exactly at discretization; soft budgets add
``weight * max(0, E[c]/B - 1)`` only.  A hard budget is also there to be *used*
(:mod:`.budget_use`): it adds ``penalty * max(0, 0.85 - E[c]/B)`` as well, so α
itself moves toward the band the discretized architecture must land in -- without it
the most likely architectures sit far below a generous bound and discretization has
to dig deep into the ranking to find one in the band.  The term is left out when
even the space's largest architecture falls short of the band (nothing to move to).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..ir.analysis import cost_factors, factor_bounds
from ..ir.cost import node_cost
from ..ir.ops import OpLibrary
from ..ir.space import ConstraintSpec, SearchSpace
from ..ir.sym import lift
from .budget_use import FLOOR, fills_budgets, reaches_band
from ..latency.model import LatencyModel, prior_for
from ..latency.resolve import LatencyResolver

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def node_values(space: SearchSpace, lib: OpLibrary, metric: str, latency: LatencyModel | None = None
                ) -> dict[int, Any]:
    """Per-node contribution to a metric (Syms where decisions matter)."""
    out: dict[int, Any] = {}
    g = space.graph
    for n in g:
        if metric in ("params", "macs", "flops"):
            p, m = node_cost(lib, g, n)
            out[n.id] = p if metric == "params" else m
        elif metric == "latency":
            out[n.id] = (latency or prior_for(None)).node_latency(lib, g, n)
        elif metric == "peak_memory":
            # additive proxy (sum of op outputs); the exact peak is checked at discretization
            out[n.id] = lift(lambda s: 4 * float(np.prod([d if isinstance(d, int) else 1 for d in s])), n.shape) \
                if n.kind in ("op", "param_choice") else 0
        else:
            raise KeyError(metric)
    return out


class ExpectedCost(nn.Module):
    """E_α[metric] as a differentiable function of the option probabilities."""

    def __init__(self, space: SearchSpace, lib: OpLibrary, metric: str, latency: LatencyModel | None = None
                 ) -> None:
        super().__init__()
        self.metric = metric
        constant, factors = cost_factors(space, node_values(space, lib, metric, latency))
        self.constant = float(constant)
        self._space, self._factors = space, factors
        sizes = {d.id: d.n for d in space.decisions}
        self.scopes: list[tuple[int, ...]] = []
        for i, f in enumerate(factors):
            shape = [sizes[d] for d in f.scope]
            table = np.zeros(shape, dtype=np.float64)
            for idx in itertools.product(*(range(s) for s in shape)):
                table[idx] = float(f.table[idx])
            self.register_buffer(f"t{i}", torch.from_numpy(table).float(), persistent=False)
            self.scopes.append(f.scope)

    def largest(self) -> float:
        """The metric's maximum over the space (computed on demand: elimination is not free on big spaces)."""
        return float(factor_bounds(self._space, self.constant, self._factors)[1])

    def forward(self, probs: dict[int, torch.Tensor]) -> torch.Tensor:
        total = torch.tensor(self.constant)
        for i, scope in enumerate(self.scopes):
            table = getattr(self, f"t{i}")
            sub = LETTERS[: len(scope)]
            expr = sub + "," + ",".join(sub) + "->"
            total = total + torch.einsum(expr, table.to(probs[scope[0]].dtype), *[probs[d] for d in scope])
        return total


@dataclass(frozen=True)
class Budget:
    spec: ConstraintSpec
    cost: ExpectedCost


METRIC_OF = {"params": "params", "flops": "macs", "macs": "macs", "latency": "latency",
             "peak_memory": "peak_memory"}


def _budget_key(b: ConstraintSpec) -> str:
    return f"latency@{b.target}" if b.metric == "latency" and b.target else METRIC_OF[b.metric]


def _band_reachable(b: ConstraintSpec, cost: nn.Module) -> bool:
    """Whether a hard budget's band is worth pulling α toward: some architecture of the space reaches it."""
    assert isinstance(cost, ExpectedCost)
    return b.hard and b.bound is not None and b.bound > 0 and reaches_band(cost.largest(), b)


class Objective(nn.Module):
    """All α-only terms of the architecture loss, with their parts reported for the log."""

    def __init__(self, space: SearchSpace, lib: OpLibrary, cfg: dict[str, Any], target: str | None = None,
                 latency: LatencyResolver = prior_for) -> None:
        """``latency`` gives each target's model (:mod:`nasc.latency.resolve`): the prior, or
        whatever the latency store's records support."""
        super().__init__()
        s = cfg["search"]
        self.penalty = s["penalty"]
        self.latency_weight = s["latency_weight"]
        self.latency_model = latency(target)
        self.costs = nn.ModuleDict()
        for metric in ("params", "macs", "latency", "peak_memory"):
            self.costs[metric] = ExpectedCost(space, lib, metric, self.latency_model)
        self.budgets: list[ConstraintSpec] = [c for c in space.constraints
                                              if c.metric in METRIC_OF and c.scope == "" and c.op in ("<=", "<")]
        # a latency budget is predicted with its own target's model ("on jetson-orin-nano")
        for b in self.budgets:
            key = _budget_key(b)
            if key not in self.costs:
                self.costs[key] = ExpectedCost(space, lib, "latency", latency(b.target))
        self.reg = {k: s[k] for k in ("l1", "beta_reg", "zero_one")}
        self._lat0: float | None = None
        # per budget, the share of its bound E[c] is pulled up to (hard budgets whose band the space reaches);
        # none under a latency weight, which says cheaper is better: the budgets are ceilings then
        self.floors = [FLOOR if fills_budgets(cfg) and _band_reachable(b, self.costs[_budget_key(b)]) else None
                       for b in self.budgets]

    def expected(self, probs: dict[int, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {m: c(probs) for m, c in self.costs.items()}

    def cost_loss(self, probs: dict[int, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        exp = self.expected(probs)
        loss = torch.zeros(())
        for b, floor in zip(self.budgets, self.floors):
            value = exp[_budget_key(b)]
            assert b.bound is not None
            over = F.relu(value / b.bound - 1.0)
            loss = loss + (self.penalty if b.hard else b.weight) * over
            if floor is not None:
                loss = loss + self.penalty * F.relu(floor - value / b.bound)
        if self.latency_weight:
            lat = exp["latency"]
            if self._lat0 is None:
                self._lat0 = float(lat.detach()) or 1.0
            loss = loss + self.latency_weight * lat / self._lat0
        return loss, {m: float(v.detach()) for m, v in exp.items() if "@" not in m}

    def regularizers(self, alphas: dict[int, torch.Tensor], mode: str) -> torch.Tensor:
        loss = torch.zeros(())
        if not alphas:
            return loss
        if self.reg["beta_reg"]:
            # beta-DARTS: penalize the log-sum-exp of each alpha vector (keeps alphas from saturating)
            loss = loss + self.reg["beta_reg"] * torch.stack([torch.logsumexp(a, 0) for a in alphas.values()]).mean()
        if mode == "sigmoid":
            gates = torch.cat([torch.sigmoid(a) for a in alphas.values()])
            if self.reg["l1"]:
                loss = loss + self.reg["l1"] * gates.abs().mean()
            if self.reg["zero_one"]:
                # FairDARTS zero-one loss: push every gate to 0 or 1
                loss = loss - self.reg["zero_one"] * ((gates - 0.5) ** 2).mean()
        elif self.reg["l1"]:
            loss = loss + self.reg["l1"] * torch.cat([F.softmax(a, 0) for a in alphas.values()]).abs().mean()
        return loss
