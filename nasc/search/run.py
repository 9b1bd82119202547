"""`nasc search`: the search loop, its log, checkpoints and outputs.

Order of one epoch (and why): the temperature and the DARTS- auxiliary-skip weight
are functions of the epoch; then, per mini-batch, an α step on a validation batch
(after `warmup` epochs) followed by a w step on a training batch -- DARTS'
alternation.  At the end of the epoch the log line is written and a checkpoint
saved atomically (write, then rename) as safetensors plus JSON -- never pickle, because a
checkpoint is a file people hand over -- so a search killed at any point resumes
from the last finished epoch and, because every random stream is a function of
(seed, epoch) or restored from the checkpoint, ends with the same architecture.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F

from ..api import Compiled, pins_from_assignment, render_arch
from ..errors import NascError, NascSemanticError
from ..fsio import atomic_write, write_json
from ..ir.notation import space_hash
from ..ir.cost import arch_cost
from ..latency.model import prediction_label, prior_for
from ..latency.resolve import LatencyResolver, model_identity
from ..lower.supernet import GateConfig, Gates, Supernet
from ..progress import tick
from ..safestate import StateError, load_state, save_state
from .bilevel import Bilevel
from .data import Dataset, load_dataset
from .budget_use import fills_budgets
from .discretize import ConstraintChecker, holds, select
from .objectives import Objective

ALGOS = {"darts": GateConfig("softmax"), "pcdarts": GateConfig("softmax"), "snas": GateConfig("gumbel", False),
         "gdas": GateConfig("gumbel", True), "fairdarts": GateConfig("sigmoid")}


@dataclass
class SearchResult:
    out: Path
    assignment: dict[str, int]
    summary: dict[str, Any]


def tau_at(s: dict[str, Any], epoch: int) -> float:
    """Temperature schedule from tau_start to tau_end over the epochs (linear or exponential)."""
    if s["algo"] not in ("gdas", "snas"):
        return 1.0
    frac = epoch / max(1, s["epochs"] - 1)
    if s["tau_schedule"] == "exponential":
        return s["tau_start"] * (s["tau_end"] / s["tau_start"]) ** frac
    return s["tau_start"] + (s["tau_end"] - s["tau_start"]) * frac


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _check_input(space, data: Dataset) -> None:
    g = space.graph
    shape = g.node(g.inputs[0]).shape
    want = tuple(shape[1:])
    if tuple(data.input_shape) != want:
        raise NascSemanticError(f"the dataset's samples are {list(data.input_shape)} but the space's input is "
                                f"{list(want)}", g.node(g.inputs[0]).span)
    out = g.node(g.outputs[0]).shape
    if len(out) != 2 or out[1] != data.classes:
        raise NascSemanticError(f"the space outputs {list(out[1:])} values per sample but the dataset has "
                                f"{data.classes} classes", g.node(g.outputs[0]).span)


def _check_partial(net: Supernet, s: dict[str, Any]) -> None:
    """Partial channels were asked for (K > 1) but no mixed op can use them: say why, rather than run DARTS."""
    k = s["partial_channels"]
    if k <= 1 or net.partial:
        return
    head = f"algo \"{s['algo']}\" with partial_channels = {k}"
    if not net.partial_refused:
        raise NascError(f"{head}: space '{net.space.name}' has no choice of ops to run on partial channels")
    by_reason: dict[str, list[str]] = {}
    for n, why in sorted(net.partial_refused.items()):
        decision = net.graph.node(n).decision
        assert decision is not None  # only choice nodes are refused
        by_reason.setdefault(why, []).append(f"'{net.space.decisions[decision].path}'")
    reasons = "; ".join(f"{why} ({', '.join(paths[:3])}{f' and {len(paths) - 3} more' if len(paths) > 3 else ''})"
                        for why, paths in by_reason.items())
    first = net.graph.node(min(net.partial_refused)).span
    raise NascError(f"{head}: no choice of ops in space '{net.space.name}' can run on 1/{k} of its channels, "
                    f"so the search would be plain DARTS: {reasons}", first)


def _probs(net: Supernet) -> dict[int, torch.Tensor]:
    return {d: net.arch.option_probs(d) for d in net.arch.ids()}


def evaluate(net: Supernet, split, batch: int, gate: GateConfig) -> tuple[float, float]:
    net.eval()
    loss = correct = 0.0
    with torch.no_grad():
        g = Gates(net.arch, GateConfig("softmax") if gate.mode == "gumbel" else gate, 1.0)
        for x, y in split.batches(batch, 0, 0, shuffle=False):
            logits = net(x, g)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += float((logits.argmax(1) == y).sum())
    net.train()
    n = max(1, len(split))
    return loss / n, correct / n


CHECKPOINT = "checkpoint.safetensors"


AFTER_SEARCH = ("train", "accuracy_tolerance")
"""Experiment keys only the stages after the search read (retraining, the passes' accuracy
check): changing one neither changes a search nor invalidates its checkpoint."""


def search_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """The experiment's settings a search depends on (every key but :data:`AFTER_SEARCH`)."""
    return {k: v for k, v in cfg.items() if k not in AFTER_SEARCH}


def search_fingerprint(space: Any, cfg: dict[str, Any], latency_id: str = "") -> str:
    """What a checkpoint belongs to: the elaborated space and every setting that shapes the search.

    Resuming from a checkpoint of another space or other settings would continue a different
    search and silently mix the two; the fingerprint makes that a clear error.  The space's
    constraints count (the space hash leaves them out, and a budget's bound shapes the
    objective), and so does ``latency_id`` (:func:`nasc.latency.resolve.model_identity`), which
    names the latency models when they are not the plain priors: a model refitted since the
    checkpoint was written is another search.
    """
    settings = {k: v for k, v in search_settings(cfg).items() if k != "budget"}  # a resumed search may get more time
    parts: list[Any] = [space_hash(space), settings, [c.describe() for c in space.constraints]]
    parts += [latency_id] if latency_id else []
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def latency_targets(space: Any, target: str | None) -> list[str | None]:
    """The targets whose latency models a search of ``space`` uses: its own and its budgets'."""
    return [target] + [c.target for c in space.constraints if c.metric == "latency"]


def load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any]:
    """A checkpoint's state, read without unpickling anything, checked against this search."""
    try:
        state = load_state(path)
    except StateError as err:
        raise NascError(f"cannot resume from {path}: {err.message}; delete it to start the search afresh") from None
    if not isinstance(state, dict) or not {"net", "opt", "noise", "torch_rng", "epoch", "records"} <= set(state):
        raise NascError(f"cannot resume from {path}: it is not a search checkpoint")
    if state.get("fingerprint") != fingerprint:
        raise NascError(f"cannot resume from {path}: it belongs to another space or other search settings "
                        "(the space, dataset, split, seed and search keys must be the ones it was written with)")
    return state


def checkpoint_matches(out: Path, space: Any, cfg: dict[str, Any], latency_id: str = "") -> bool:
    """Whether ``out`` holds a readable checkpoint of this very search (what `nasc compile` resumes)."""
    try:
        load_checkpoint(out / CHECKPOINT, search_fingerprint(space, cfg, latency_id))
    except NascError:
        return False
    return True


def _progress(stream: TextIO, epoch: int, epochs: int, rec: dict[str, Any]) -> None:
    width = 20
    done = int(width * (epoch + 1) / epochs)
    bar = "=" * done + " " * (width - done)
    stream.write(f"epoch {epoch + 1:3d}/{epochs} [{bar}] train {rec['train_loss']:.3f}/{rec['train_acc']:.3f}  "
                 f"val {rec['val_loss']:.3f}/{rec['val_acc']:.3f}  skip {rec['skip_share']:.2f}  "
                 f"{rec['seconds']:.1f}s\n")
    stream.flush()


def search(compiled: Compiled, cfg: dict[str, Any], out: Path, space_name: str | None = None,
           resume: bool = False, target: str | None = None, progress: TextIO | None = None,
           experiment_ref: str | None = None, latency: LatencyResolver = prior_for,
           alternatives: int = 0) -> SearchResult:
    """One search of a space, written to ``out``; ``latency`` gives each target's latency model
    (:mod:`nasc.latency.resolve`), which the objective and the discretization share.
    ``alternatives``: the summary also lists that many next most likely assignments in every
    budget's band (``discretization.alternatives``), for a measuring loop to check."""
    s = cfg["search"]
    if s["algo"] not in ALGOS:
        raise NascError(f"unknown search algorithm '{s['algo']}'")
    gate = ALGOS[s["algo"]]
    seed = int(cfg["seed"])
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    log_path = out / "search.jsonl"
    if resume and not ckpt_path.exists():
        raise NascError(f"nothing to resume: {ckpt_path} does not exist")
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    _seed_all(seed)
    data = load_dataset(cfg["dataset"], cfg["split"], seed)
    space = compiled.elaborate(space_name)
    _check_input(space, data)
    lib = compiled.loader.ops
    net = _supernet(space, lib, s, seed)
    objective = Objective(space, lib, cfg, target, latency)
    steps = math.ceil(len(data.train) / s["batch"])
    opt = Bilevel(net, cfg, steps, gate)
    start = 0
    records: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    elapsed_before = 0.0
    noise = torch.Generator().manual_seed(seed + 1)
    fingerprint = search_fingerprint(space, cfg, model_identity(latency, latency_targets(space, target)))
    if resume:
        state = load_checkpoint(ckpt_path, fingerprint)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        noise.set_state(state["noise"])
        torch.set_rng_state(state["torch_rng"])
        start = state["epoch"] + 1
        records = state["records"]
        elapsed_before = state["seconds"]
        objective._lat0 = state.get("lat0")
    atomic_write(log_path, "".join(json.dumps(r) + "\n" for r in records))
    wall = cfg["budget"]["wallclock"]
    stopped_early = None
    tick(progress, "search epoch", start, s["epochs"])
    for epoch in range(start, s["epochs"]):
        t0 = time.perf_counter()
        tau = tau_at(s, epoch)
        aux = s["aux_skip"] * (1 - epoch / max(1, s["epochs"])) if s["aux_skip"] else 0.0
        tl = ta = 0.0
        nb = 0
        cos: list[float] = []
        cost_losses: list[float] = []
        val_iter = _cycle(data.val, s["batch"], seed, epoch)
        for xt, yt in data.train.batches(s["batch"], seed, epoch):
            if epoch >= s["warmup"]:
                xv, yv = next(val_iter)
                uniforms = {d: torch.rand(net.arch.vector(d).shape, generator=noise) for d in net.arch.ids()} \
                    if gate.mode == "gumbel" else None

                def cost_fn(g: Gates) -> torch.Tensor:
                    loss, _ = objective.cost_loss(g.probs)
                    alphas = {d: net.arch.vector(d) for d in net.arch.ids()}
                    return loss + objective.regularizers(alphas, gate.mode)

                st = opt.arch_step(xt, yt, xv, yv, tau, uniforms, cost_fn, aux)
                if st.cosine is not None:
                    cos.append(st.cosine)
                cost_losses.append(st.cost_loss)
            with torch.no_grad():
                uniforms = {d: torch.rand(net.arch.vector(d).shape, generator=noise) for d in net.arch.ids()} \
                    if gate.mode == "gumbel" else None
                g = opt.gates(tau, uniforms, aux)
            loss, acc = opt.weight_step(xt, yt, g)
            tl += loss
            ta += acc
            nb += 1
        opt.sched.step()
        val_loss, val_acc = evaluate(net, data.val, 256, gate)
        with torch.no_grad():
            _, expected = objective.cost_loss(_probs(net))
        rec = {"epoch": epoch, "train_loss": tl / max(1, nb), "train_acc": ta / max(1, nb), "val_loss": val_loss,
               "val_acc": val_acc, "tau": tau, "aux_skip": aux, "w_lr": opt.lr,
               "skip_share": net.skip_share(), "alpha_entropy": _entropy(net),
               "grad_cosine": float(np.mean(cos)) if cos else None,
               "cost_penalty": float(np.mean(cost_losses)) if cost_losses else 0.0,
               "expected": {"params": expected["params"], "macs": expected["macs"],
                            "latency_s": expected["latency"], "latency_source": prediction_label(objective.latency_model),
                            "activation_bytes_proxy": expected["peak_memory"]},
               "alpha": _alpha_record(net),
               "seconds": time.perf_counter() - t0}
        warn = None
        if rec["skip_share"] > s["skip_warn"]:
            warn = f"skip connections win {rec['skip_share']:.0%} of op decisions (collapse risk)"
            rec["warning"] = warn
        records.append(rec)
        with log_path.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        if progress is not None:
            _progress(progress, epoch, s["epochs"], rec)
            tick(progress, "search epoch", epoch + 1, s["epochs"])
            if warn:
                progress.write(f"warning: {warn}\n")
        save_state({"fingerprint": fingerprint, "net": net.state_dict(), "opt": opt.state_dict(),
                    "noise": noise.get_state(), "torch_rng": torch.get_rng_state(), "epoch": epoch,
                    "records": records, "seconds": elapsed_before + time.perf_counter() - t_start,
                    "lat0": objective._lat0}, ckpt_path)
        if warn and s["early_stop"]:
            stopped_early = epoch
            break
        if wall and elapsed_before + time.perf_counter() - t_start > wall:
            stopped_early = epoch
            if progress is not None:
                progress.write(f"stopping: the wallclock budget of {wall:g}s is spent\n")
            break
    return _finish(compiled, space, net, lib, cfg, out, records, elapsed_before + time.perf_counter() - t_start,
                   stopped_early, experiment_ref, latency, alternatives)


def _supernet(space: Any, lib: Any, s: dict[str, Any], seed: int) -> Supernet:
    """The supernet of a search (seeded: a checkpoint's state fits the same construction)."""
    net = Supernet(space, lib, partial_channels=s["partial_channels"], generator=torch.Generator().manual_seed(seed))
    _check_partial(net, s)
    return net


def rediscretize(compiled: Compiled, cfg: dict[str, Any], out: Path, space_name: str | None,
                 trained_with: LatencyResolver, latency: LatencyResolver, target: str | None = None,
                 experiment_ref: str | None = None, alternatives: int = 0) -> SearchResult:
    """Discretize a finished search in ``out`` again, with another latency model.

    A measuring loop learns, after a search, the true latency of the architecture it chose
    and of some alternatives; choosing again from the same α with that knowledge costs no
    training.  ``trained_with`` is the model the search ran with (its checkpoint's
    fingerprint names it); ``latency`` the one to choose with.  Rewrites ``arch.nas``,
    ``pinned.nas`` and ``summary.json``."""
    space = compiled.elaborate(space_name)
    lib = compiled.loader.ops
    fingerprint = search_fingerprint(space, cfg, model_identity(trained_with, latency_targets(space, target)))
    state = load_checkpoint(out / CHECKPOINT, fingerprint)
    net = _supernet(space, lib, cfg["search"], int(cfg["seed"]))
    net.load_state_dict(state["net"])
    before = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    return _finish(compiled, space, net, lib, cfg, out, state["records"], state["seconds"],
                   before.get("stopped_early_at"), experiment_ref, latency, alternatives)


def _cycle(split, batch: int, seed: int, epoch: int):
    k = 0
    while True:
        yield from split.batches(batch, seed + 7919, epoch * 1000 + k)
        k += 1


def _alpha_record(net: Supernet) -> dict[str, list[float]]:
    """Per decision: option probabilities (one-of) or edge weights (choose)."""
    out = {}
    with torch.no_grad():
        for d in net.arch.ids():
            dec = net.space.decisions[d]
            p = net.arch.option_probs(d) if dec.kind == "oneof" else net.arch.edge_weights(d)
            out[dec.path] = [round(float(v), 5) for v in p]
    return out


def _entropy(net: Supernet) -> float:
    ents = []
    for d in net.arch.ids():
        p = net.arch.option_probs(d).detach()
        ents.append(float(-(p * torch.log(p + 1e-12)).sum()))
    return float(np.mean(ents)) if ents else 0.0


def _finish(compiled: Compiled, space, net: Supernet, lib, cfg: dict[str, Any], out: Path,
            records: list[dict[str, Any]], seconds: float, stopped_early: int | None,
            experiment_ref: str | None, latency: LatencyResolver, alternatives: int = 0) -> SearchResult:
    def elaborate(assignment: dict[str, int]):
        return compiled.elaborate(space.name, pins_from_assignment(assignment))

    checker = ConstraintChecker(space, lib, elaborate, latency)
    chosen = select(net, checker, budget=max(1, cfg["search"]["beam"]) * 1000, alternatives=alternatives,
                    fill=fills_budgets(cfg))
    raw, tried, uses = chosen.assignment, chosen.tried, chosen.uses
    arch = elaborate(raw)
    search_line = (f"search: algo={cfg['search']['algo']} order={cfg['search']['order']} seed={cfg['seed']} "
                   f"epochs={len(records)} dataset={cfg['dataset']}")
    frozen = render_arch(compiled, space, arch, f"found by `nasc search` on {compiled.module.name} :: {space.name}",
                         f"{space.name}_found", out, extra=(search_line,), experiment_ref=experiment_ref)
    text, assignment = frozen.text, frozen.assignment
    cost = arch_cost(frozen.arch.graph, lib)
    atomic_write(out / "arch.nas", text)
    atomic_write(out / "pinned.nas", frozen.pinned)
    checks = []
    for c in space.constraints:
        if c.scope != "" or c.metric not in ("params", "flops", "macs", "peak_memory", "latency"):
            continue
        band = next((u.to_record() for u in uses if u.constraint is c), {})  # hard budgets: how much is used
        if c.metric == "peak_memory":
            checks.append({"constraint": c.describe(), "value": cost.peak_memory, "source": "exact cost model",
                           "holds": holds(cost.peak_memory, c), **band})
            continue
        value, source = checker.value(c, raw) or (None, "")
        if c.metric == "latency":
            source += "; not measured (nasc build + nasc measure measure it)"
        checks.append({"constraint": c.describe(), "value": value, "source": source,
                       "holds": holds(value, c) if value is not None else None, **band})
    summary = {"seconds": seconds, "seed": cfg["seed"], "arch_sha256": hashlib.sha256(text.encode()).hexdigest(),
               "decisions": {p: space.decision(p).option_label(o) for p, o in sorted(assignment.items())},
               "params": cost.params, "macs": cost.macs, "peak_memory": cost.peak_memory,
               "epochs": len(records), "stopped_early_at": stopped_early, "constraints": checks,
               "discretization": {"assignments_tried": tried, "rule": chosen.rule,
                                  **({"alternatives": list(chosen.alternatives)} if alternatives else {})},
               "final": records[-1] if records else None}
    write_json(out / "summary.json", summary)
    return SearchResult(out, assignment, summary)


