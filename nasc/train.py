"""`nasc train`: retrain a discretized architecture from scratch and report test accuracy.

The model is the arch's reference module (:class:`nasc.lower.arch.ArchNet`, BN with
affine parameters), trained on the train and validation splits together with SGD,
momentum, weight decay and a cosine schedule, and evaluated once on the held-out
test split (which the search never saw).  Each epoch's mean training loss and learning rate
go to ``train.jsonl`` beside ``metrics.json``, so a report can draw the curve from the run
itself.  Weights are saved as safetensors carrying their own sha256 (:mod:`nasc.weights`),
so a damaged copy is refused wherever it is loaded.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import torch
import torch.nn.functional as F

from .api import Compiled, decided
from .errors import NascSemanticError
from .fsio import atomic_write
from .ir.cost import arch_cost
from .lower.arch import ArchNet
from .progress import tick
from .search.data import Split, load_dataset
from .weights import save_weights


TRAIN_LOG = "train.jsonl"
"""One line per retraining epoch: ``epoch``, ``train_loss`` (mean over the epoch), ``lr``, ``seconds``."""


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    model: ArchNet


def accuracy(model: torch.nn.Module, split: Split, batch: int = 512) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in split.batches(batch, 0, 0, shuffle=False):
            correct += int((model(x).argmax(1) == y).sum())
    model.train()
    return correct / max(1, len(split))


def train(compiled: Compiled, cfg: dict[str, Any], out: Path, name: str | None = None,
          progress: TextIO | None = None) -> TrainResult:
    t0 = time.perf_counter()
    arch = decided(compiled, name, "train")
    graph = arch.graph.prune()
    lib = compiled.loader.ops
    seed = int(cfg["seed"])
    torch.manual_seed(seed)
    data = load_dataset(cfg["dataset"], cfg["split"], seed)
    shape = graph.node(graph.inputs[0]).shape
    if tuple(shape[1:]) != tuple(data.input_shape):
        raise NascSemanticError(f"the dataset's samples are {list(data.input_shape)} but the arch's input is "
                                f"{list(shape[1:])}", graph.node(graph.inputs[0]).span)
    model = ArchNet(graph, lib)
    t = cfg["train"]
    train_split = Split(torch.cat([data.train.x, data.val.x]), torch.cat([data.train.y, data.val.y]))
    opt = torch.optim.SGD(model.parameters(), lr=t["lr"], momentum=t["momentum"], weight_decay=t["wd"],
                          nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, t["epochs"]))
    epochs: list[dict[str, Any]] = []
    tick(progress, "retrain epoch", 0, t["epochs"])
    for epoch in range(t["epochs"]):
        total = 0.0
        started, lr = time.perf_counter(), sched.get_last_lr()[0]
        for x, y in train_split.batches(t["batch"], seed, epoch):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
            opt.step()
            total += float(loss.detach()) * len(y)
        sched.step()
        epochs.append({"epoch": epoch, "train_loss": total / len(train_split), "lr": lr,
                       "seconds": time.perf_counter() - started})
        if progress is not None:
            progress.write(f"train epoch {epoch + 1:3d}/{t['epochs']}  loss {total / len(train_split):.4f}\n")
            tick(progress, "retrain epoch", epoch + 1, t["epochs"])
    cost = arch_cost(graph, lib)
    metrics = {"test_accuracy": accuracy(model, data.test), "train_accuracy": accuracy(model, train_split),
               "params": cost.params, "macs": cost.macs, "epochs": t["epochs"],
               "seconds": time.perf_counter() - t0, "seed": seed, "dataset": cfg["dataset"],
               "test_samples": len(data.test)}
    out.mkdir(parents=True, exist_ok=True)
    save_weights(out / "weights.safetensors", model.state_dict(), {"arch": arch.name, "format": "nasc-archnet-v1"})
    atomic_write(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    atomic_write(out / TRAIN_LOG, "".join(json.dumps(e) + "\n" for e in epochs))
    return TrainResult(metrics, model)
