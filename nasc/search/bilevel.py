"""The bilevel optimizer: α steps on the validation split, w steps on the training split.

First order uses ∂L_val/∂α at the current w.  Second order is DARTS' finite-difference
hypergradient: with the unrolled weights
``w' = w - ξ (μ·buf + ∇_w L_train(w, α) + λ_wd·w)`` (the w optimizer's momentum and
weight decay, ξ = the current w learning rate),
``∇_α L_val(w', α) - ξ [∇_α L_train(w⁺, α) - ∇_α L_train(w⁻, α)] / 2ε`` with
``w± = w ± ε ∇_{w'} L_val(w', α)`` and ``ε = 0.01 / ‖∇_{w'} L_val‖``.

The α-only terms (budget penalties, regularizers) are differentiated separately;
their gradient's cosine with the task gradient is logged, and with ``pcgrad`` a
conflicting pair (negative cosine) is projected PCGrad-style.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, cast

import torch
import torch.nn.functional as F

from ..lower.supernet import GateConfig, Gates, Supernet


@dataclass
class StepStats:
    val_loss: float = 0.0
    cost_loss: float = 0.0
    cosine: float | None = None


class Bilevel:
    def __init__(self, net: Supernet, cfg: dict[str, Any], steps_per_epoch: int, gate: GateConfig) -> None:
        s = cfg["search"]
        self.net = net
        self.order = s["order"]
        self.gate = gate
        self.pcgrad = s["pcgrad"]
        self.grad_clip = s["grad_clip"]
        self.w_opt = torch.optim.SGD(net.weights(), lr=s["w_lr"], momentum=s["w_momentum"], weight_decay=s["w_wd"])
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.w_opt, T_max=max(1, s["epochs"]),
                                                                eta_min=s["w_lr_min"])
        self.a_opt = torch.optim.Adam(net.arch.parameters(), lr=s["a_lr"], betas=(s["a_beta1"], s["a_beta2"]),
                                      weight_decay=s["a_wd"])
        self.alphas = list(net.arch.parameters())

    # ---------------------------------------------------------------- helpers
    def gates(self, tau: float, uniforms: dict[int, torch.Tensor] | None, aux: float = 0.0) -> Gates:
        g = Gates(self.net.arch, self.gate, tau, uniforms=uniforms)
        g.aux_skip = aux
        return g

    def _loss(self, x: torch.Tensor, y: torch.Tensor, gates: Gates) -> torch.Tensor:
        return F.cross_entropy(self.net(x, gates), y)

    @property
    def lr(self) -> float:
        return float(self.w_opt.param_groups[0]["lr"])

    # ---------------------------------------------------------------- α
    def hypergradient(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor,
                      make_gates: Callable[[], Gates]) -> tuple[list[torch.Tensor], float]:
        """∂L_val/∂α: first order, or DARTS' second-order finite-difference approximation."""
        if self.order == 1:
            loss = self._loss(xv, yv, make_gates())
            return list(torch.autograd.grad(loss, self.alphas, allow_unused=True)), float(loss.detach())
        weights = self.net.weights()
        xi = self.lr
        loss_t = self._loss(xt, yt, make_gates())
        g_w = torch.autograd.grad(loss_t, weights, allow_unused=True)
        momentum = self.w_opt.param_groups[0]["momentum"]
        wd = self.w_opt.param_groups[0]["weight_decay"]
        backup = [w.detach().clone() for w in weights]
        with torch.no_grad():
            for w, g in zip(weights, g_w):
                buf = self.w_opt.state.get(w, {}).get("momentum_buffer")
                step = (g if g is not None else torch.zeros_like(w)) + wd * w
                if buf is not None:
                    step = step + momentum * buf
                w.sub_(xi * step)
        loss_v = self._loss(xv, yv, make_gates())
        grads = torch.autograd.grad(loss_v, self.alphas + weights, allow_unused=True)
        d_alpha = [g if g is not None else torch.zeros_like(a) for g, a in zip(grads[:len(self.alphas)],
                                                                                  self.alphas)]
        d_w = [g if g is not None else torch.zeros_like(w) for g, w in zip(grads[len(self.alphas):], weights)]
        norm = torch.sqrt(cast(torch.Tensor, sum((g * g).sum() for g in d_w)))
        eps = 0.01 / (float(norm) + 1e-12)
        hess = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for w, b, g in zip(weights, backup, d_w):
                    w.copy_(b + sign * eps * g)
            lt = self._loss(xt, yt, make_gates())
            hess.append(torch.autograd.grad(lt, self.alphas, allow_unused=True))
        with torch.no_grad():
            for w, b in zip(weights, backup):
                w.copy_(b)
        out = []
        for a, da, gp, gn in zip(self.alphas, d_alpha, hess[0], hess[1]):
            gp = gp if gp is not None else torch.zeros_like(a)
            gn = gn if gn is not None else torch.zeros_like(a)
            out.append(da - xi * (gp - gn) / (2 * eps))
        return out, float(loss_v.detach())

    def arch_step(self, xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor, tau: float,
                  uniforms: dict[int, torch.Tensor] | None, cost_fn: Callable[[Gates], torch.Tensor],
                  aux: float = 0.0) -> StepStats:
        make = lambda: self.gates(tau, uniforms, aux)  # noqa: E731
        task, val_loss = self.hypergradient(xt, yt, xv, yv, make)
        cost = cost_fn(make())
        cost_grads = torch.autograd.grad(cost, self.alphas, allow_unused=True) if cost.requires_grad else \
            [None] * len(self.alphas)
        tv = torch.cat([(g if g is not None else torch.zeros_like(a)).reshape(-1) for g, a in zip(task, self.alphas)])
        cv = torch.cat([(g if g is not None else torch.zeros_like(a)).reshape(-1)
                        for g, a in zip(cost_grads, self.alphas)])
        cosine = None
        if float(cv.norm()) > 0 and float(tv.norm()) > 0:
            cosine = float(F.cosine_similarity(tv, cv, dim=0))
            if self.pcgrad and cosine < 0:
                tv, cv = tv - (tv @ cv) / (cv @ cv) * cv, cv - (cv @ tv) / (tv @ tv) * tv
        total = tv + cv
        self.a_opt.zero_grad(set_to_none=True)
        offset = 0
        for a in self.alphas:
            n = a.numel()
            a.grad = total[offset:offset + n].view_as(a).to(a.dtype).clone()
            offset += n
        self.a_opt.step()
        return StepStats(val_loss, float(cost.detach()), cosine)

    # ---------------------------------------------------------------- w
    def weight_step(self, x: torch.Tensor, y: torch.Tensor, gates: Gates) -> tuple[float, float]:
        self.w_opt.zero_grad(set_to_none=True)
        logits = self.net(x, gates)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        for a in self.alphas:
            a.grad = None  # α moves only in arch steps
        torch.nn.utils.clip_grad_norm_(self.net.weights(), self.grad_clip)
        self.w_opt.step()
        acc = float((logits.argmax(1) == y).float().mean())
        return float(loss.detach()), acc

    def state_dict(self) -> dict[str, Any]:
        return {"w_opt": self.w_opt.state_dict(), "a_opt": self.a_opt.state_dict(), "sched": self.sched.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.w_opt.load_state_dict(state["w_opt"])
        self.a_opt.load_state_dict(state["a_opt"])
        self.sched.load_state_dict(state["sched"])
