"""Search-step cost: the nasc supernet vs a textbook DARTS network of the same space.

Both networks are built for examples/darts.nas (C and layers reduced so a CPU can
run it; same values for both) and take the same batch.  For each configuration we
time a weight step (forward + backward + SGD) and an architecture step (forward +
backward to α), medians over repeats in rotating order, and measure activation
memory as the bytes of tensors autograd saves for backward (the memory DARTS-style
supernets are limited by; parameters excluded).  Configurations: textbook DARTS;
nasc DARTS (softmax gates); nasc PC-DARTS (K = 4 partial channels); nasc GDAS
(hard Gumbel samples, only the sampled op runs).  Results go to JSON with ratios
to the textbook network.

Targets: nasc DARTS no slower than textbook DARTS; partial channels at least 2x
less activation memory.

    python benchmarks/search_step.py [--C 8] [--layers 5] [--batch 16] [--repeats 7]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import verdict, write_json  # noqa: E402
import reference_darts  # noqa: E402

from nasc import api  # noqa: E402
from nasc.lower.supernet import GateConfig, Gates, Supernet  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def saved_bytes(fn) -> int:
    """Bytes of activations autograd keeps for backward while `fn` runs (unique storages)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
        except RuntimeError:
            pass
        return t

    params = set()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values()) - sum(params)


def param_storages(module: torch.nn.Module) -> set[int]:
    return {p.untyped_storage().data_ptr() for p in module.parameters()}


class Config:
    def __init__(self, name: str, net: torch.nn.Module, forward, weights, alphas) -> None:
        self.name, self.net, self.forward, self.weights, self.alphas = name, net, forward, weights, alphas
        self.w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9)

    def w_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.w_opt.zero_grad(set_to_none=True)
        F.cross_entropy(self.forward(x, False), y).backward()
        self.w_opt.step()

    def a_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        torch.autograd.grad(F.cross_entropy(self.forward(x, True), y), self.alphas)

    def activation_bytes(self, x: torch.Tensor) -> int:
        params = param_storages(self.net)
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            st = t.untyped_storage()
            if st.data_ptr() not in params:
                seen[st.data_ptr()] = st.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = self.forward(x, True).sum()
        del loss
        return sum(seen.values())


def build(c: int, layers: int) -> list[Config]:
    text = (ROOT / "examples" / "darts.nas").read_text()
    compiled = api.load_text(text.replace("C = 16, layers = 8", f"C = {c}, layers = {layers}"), "darts_small.nas")
    space = compiled.elaborate()
    configs = []
    torch.manual_seed(0)
    ref = reference_darts.Network(c, layers)
    configs.append(Config("textbook DARTS", ref, lambda x, _a: ref(x), ref.weights(),
                          [ref.alphas_normal, ref.alphas_reduce]))
    for name, gate, k in (("nasc DARTS", GateConfig("softmax"), 1), ("nasc PC-DARTS K=4", GateConfig("softmax"), 4),
                          ("nasc GDAS", GateConfig("gumbel", True), 1)):
        torch.manual_seed(0)
        net = Supernet(space, space.ops, partial_channels=k)
        gen = torch.Generator().manual_seed(0)

        def fwd(x: torch.Tensor, _arch: bool, net: Supernet = net, gate: GateConfig = gate,
                gen: torch.Generator = gen) -> torch.Tensor:
            return net(x, Gates(net.arch, gate, 1.0, generator=gen))

        configs.append(Config(name, net, fwd, net.weights(), list(net.arch.parameters())))
    return configs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "search_step.json"))
    args = ap.parse_args()
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    configs = build(args.C, args.layers)
    times: dict[str, dict[str, list[float]]] = {c.name: {"w_step": [], "a_step": []} for c in configs}
    for c in configs:  # warm-up
        c.w_step(x, y)
        c.a_step(x, y)
    for r in range(args.repeats):
        order = configs[r % len(configs):] + configs[:r % len(configs)]  # rotate to spread machine noise
        for c in order:
            t0 = time.perf_counter()
            c.w_step(x, y)
            t1 = time.perf_counter()
            c.a_step(x, y)
            t2 = time.perf_counter()
            times[c.name]["w_step"].append(t1 - t0)
            times[c.name]["a_step"].append(t2 - t1)
    rows = []
    for c in configs:
        rows.append({"config": c.name, "w_step_ms": 1e3 * statistics.median(times[c.name]["w_step"]),
                     "a_step_ms": 1e3 * statistics.median(times[c.name]["a_step"]),
                     "activation_MB": c.activation_bytes(x) / 1e6,
                     "weights": sum(p.numel() for p in c.weights)})
    base = rows[0]
    for r in rows:
        r["w_step_ratio_to_textbook"] = r["w_step_ms"] / base["w_step_ms"]
        r["a_step_ratio_to_textbook"] = r["a_step_ms"] / base["a_step_ms"]
        r["activation_ratio_to_textbook"] = r["activation_MB"] / base["activation_MB"]
    nasc_darts = next(r for r in rows if r["config"] == "nasc DARTS")
    pc = next(r for r in rows if r["config"].startswith("nasc PC-DARTS"))
    targets = {"nasc DARTS no slower than textbook (w step, 10% noise allowance)":
               nasc_darts["w_step_ratio_to_textbook"] <= 1.10,
               "partial channels >= 2x less activation memory than nasc DARTS":
               nasc_darts["activation_MB"] / pc["activation_MB"] >= 2.0}
    doc = {"benchmark": "search_step", "space": "examples/darts.nas", "C": args.C, "layers": args.layers,
           "batch": args.batch, "repeats": args.repeats, "threads": torch.get_num_threads(),
           "torch": torch.__version__, "machine": platform.machine(), "protocol":
           "median over repeats, rotating order, one process; activation memory = bytes saved for backward",
           "rows": rows, "targets": targets}
    write_json(doc, args.out)
    for r in rows:
        print(f"{r['config']:20s} w-step {r['w_step_ms']:8.1f} ms ({r['w_step_ratio_to_textbook']:.2f}x)  "
              f"a-step {r['a_step_ms']:8.1f} ms ({r['a_step_ratio_to_textbook']:.2f}x)  "
              f"activations {r['activation_MB']:7.1f} MB ({r['activation_ratio_to_textbook']:.2f}x)")
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
