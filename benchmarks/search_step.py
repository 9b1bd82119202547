"""Search-step cost: the nasc supernet vs a textbook DARTS network of the same space.

Both networks are built for examples/darts.nas (C and layers reduced so a CPU can
run it; same values for both) and take the same batch.  For each configuration we
time a weight step (forward + backward + SGD) and an architecture step (forward +
backward to α), medians over repeats in rotating order, and measure activation
memory as the bytes of tensors autograd saves for backward (the memory DARTS-style
supernets are limited by; parameters excluded).  Configurations: textbook DARTS;
nasc DARTS (softmax gates); nasc PC-DARTS (K = 4 partial channels); nasc GDAS
(hard Gumbel samples, only the sampled op runs).  Results go to JSON with ratios
to the textbook network (``X_over_textbook`` = X / textbook: above 1 is slower or
larger).  All configurations share one process: they are the same runtime (torch),
and rotating their order every repeat spreads the machine's noise over all of them.
Steps are timed in CPU time with one intra-op thread (``--threads``): on a shared 2-core
host a 2-thread torch region stalls whenever one of its threads is descheduled, which
makes wall times measure the other jobs; CPU time of one thread is the work itself.
Wall times are reported next to them.

Targets: nasc DARTS no slower than textbook DARTS (w step, ``w_step_over_textbook <=
1.10``, a 10% noise allowance; each row's ``w_step_cpu_spread``, (max - min) / median
over repeats, shows the noise actually seen); partial channels at least 2x less activation
memory (``darts_activation_over_pc_darts >= 2``).

    python benchmarks/search_step.py [--C 8] [--layers 5] [--batch 16] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import (RATIO_CONVENTION, ROOT, at_least, at_most, clocks, elapsed, result_path,  # noqa: E402
                    verdict, write_json)
import reference_darts  # noqa: E402

from nasc import api  # noqa: E402
from nasc.lower.supernet import GateConfig, Gates, Supernet  # noqa: E402


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
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--out", default=result_path("search_step"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    configs = build(args.C, args.layers)
    times: dict[str, dict[str, list[tuple[float, float]]]] = {c.name: {"w_step": [], "a_step": []} for c in configs}
    for c in configs:  # warm-up
        c.w_step(x, y)
        c.a_step(x, y)
    for r in range(args.repeats):
        order = configs[r % len(configs):] + configs[:r % len(configs)]  # rotate to spread machine noise
        for c in order:
            t0 = clocks()
            c.w_step(x, y)
            t1 = clocks()
            c.a_step(x, y)
            t2 = clocks()
            times[c.name]["w_step"].append(elapsed(t0, t1))
            times[c.name]["a_step"].append(elapsed(t1, t2))
    rows = []
    for c in configs:
        row: dict[str, object] = {"config": c.name}
        for step in ("w_step", "a_step"):
            cpu = [1e3 * t for _, t in times[c.name][step]]
            row[f"{step}_cpu_ms"] = statistics.median(cpu)
            row[f"{step}_cpu_spread"] = (max(cpu) - min(cpu)) / statistics.median(cpu)
            row[f"{step}_wall_ms"] = 1e3 * statistics.median(w for w, _ in times[c.name][step])
        rows.append({**row, "activation_MB": c.activation_bytes(x) / 1e6,
                     "weights": sum(p.numel() for p in c.weights)})
    base = rows[0]
    for r in rows:
        for key, name in (("w_step_cpu_ms", "w_step"), ("a_step_cpu_ms", "a_step"), ("activation_MB", "activation")):
            r[f"{name}_over_textbook"] = r[key] / base[key]
    nasc_darts = next(r for r in rows if r["config"] == "nasc DARTS")
    pc = next(r for r in rows if r["config"].startswith("nasc PC-DARTS"))
    ratios = {"darts_activation_over_pc_darts": nasc_darts["activation_MB"] / pc["activation_MB"]}
    targets = {"nasc DARTS w step over textbook DARTS (10% noise allowance)":
               at_most(nasc_darts["w_step_over_textbook"], 1.10, "w_step_over_textbook"),
               "nasc DARTS activation memory over PC-DARTS K=4 (partial channels save >= 2x)":
               at_least(ratios["darts_activation_over_pc_darts"], 2.0, "darts_activation_over_pc_darts")}
    doc = {"benchmark": "search_step", "space": "examples/darts.nas", "C": args.C, "layers": args.layers,
           "batch": args.batch, "repeats": args.repeats, "threads": torch.get_num_threads(),
           "torch": torch.__version__, "protocol":
           "median over repeats, rotating order, one process; step times in CPU ms (user + system, one "
           "intra-op thread) and wall ms; activation memory = bytes saved for backward",
           "ratio_convention": RATIO_CONVENTION, "rows": rows, "ratios": ratios}
    write_json(doc, args.out, targets)
    for r in rows:
        print(f"{r['config']:20s} w-step {r['w_step_cpu_ms']:8.1f} CPU ms ({r['w_step_over_textbook']:.2f}x)  "
              f"a-step {r['a_step_cpu_ms']:8.1f} CPU ms ({r['a_step_over_textbook']:.2f}x)  "
              f"activations {r['activation_MB']:7.1f} MB ({r['activation_over_textbook']:.2f}x)")
    return verdict(targets)


if __name__ == "__main__":
    raise SystemExit(main())
