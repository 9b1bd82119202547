"""The library's entry points: load, elaborate, check, freeze.

The CLI is a thin shell over these functions; tests and other stages call them
directly.  Each call makes its own :class:`~nasc.frontend.resolve.Loader`, so no
state is shared between calls.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import NascSemanticError, UsageError
from .frontend import ast as A
from .frontend.elaborate import Elaborator, Pin
from .frontend.resolve import Loader
from .frontend.values import LoadedModule, SpaceRef
from .gcpause import collector_paused
from .ir.analysis import dnf_eval, space_size
from .ir.cost import arch_cost, space_costs
from .ir.ops import OpLibrary
from .ir.space import FALSE, SearchSpace


def op_library() -> OpLibrary:
    """An empty op library for a module of custom ops (``ops = nasc.op_library()``)."""
    return OpLibrary()


@dataclass
class Compiled:
    """A loaded file with the loader that read it (diagnostics need its sources)."""

    loader: Loader
    module: LoadedModule

    def space_names(self) -> list[str]:
        return [n for n, v in self.module.names.items() if isinstance(v, SpaceRef) and v.module is self.module]

    def elaborate(self, name: str | None = None, pins: dict[str, Pin] | None = None) -> SearchSpace:
        name = name or self.default_space()
        with collector_paused():
            return Elaborator(self.loader, pins).elaborate(self.module, name)

    def default_space(self) -> str:
        names = self.space_names()
        if not names:
            raise UsageError(f"{self.module.name} defines no space or arch")
        return names[-1] if len(names) > 1 and _all_extend_last(self.module, names) else names[0]


def _all_extend_last(mod: LoadedModule, names: list[str]) -> bool:
    return False


def decided(compiled: Compiled, name: str | None, verb: str) -> SearchSpace:
    """Elaborate an arch that must have no free decisions (to train, optimize or build it)."""
    arch = compiled.elaborate(name)
    if arch.free:
        raise NascSemanticError(f"'{arch.name}' still has {len(arch.free)} free decisions; {verb} an arch "
                                "(nasc freeze or nasc search produce one)")
    return arch


def load(path: str | Path, loader: Loader | None = None) -> Compiled:
    loader = loader or Loader.from_env()
    return Compiled(loader, loader.load_file(path))


def load_text(text: str, name: str = "<input>", loader: Loader | None = None) -> Compiled:
    loader = loader or Loader.from_env()
    return Compiled(loader, loader.load_text(text, name))


def summarize(space: SearchSpace) -> dict[str, Any]:
    """The `nasc check --json` record of one space."""
    lib = space.ops
    with collector_paused():
        size = space_size(space)
        costs = space_costs(space, lib)
    free = space.free
    out: dict[str, Any] = {
        "name": space.name,
        "kind": space.kind,
        "decisions": len(free),
        "size": size,
        "size_log10": round(math.log10(size), 4) if size > 0 else None,
        "params": list(costs["params"]),
        "macs": list(costs["macs"]),
        "constraints": [c.describe() for c in space.constraints],
    }
    if not free:
        out["peak_memory"] = arch_cost(space.graph.prune(), lib).peak_memory
    return out


def pins_from_assignment(assignment: dict[str, int]) -> dict[str, Pin]:
    return {p: Pin(p, option=o) for p, o in assignment.items()}


def random_assignment(space: SearchSpace, seed: int) -> dict[str, int]:
    """A uniformly random option per free decision (excluded options avoided)."""
    rng = random.Random(seed)
    out: dict[str, int] = {}
    for d in space.decisions:
        if d.fixed is not None:
            continue
        allowed = [o for o in range(d.n) if o not in d.excluded] or list(range(d.n))
        out[d.path] = rng.choice(allowed)
    return out


def active_assignment(space: SearchSpace, assignment: dict[str, int]) -> dict[str, int]:
    """Restrict a full assignment to the decisions that are active under it."""
    by_id = {}
    for d in space.decisions:
        if d.fixed is not None:
            by_id[d.id] = d.fixed
        elif d.path in assignment:
            by_id[d.id] = assignment[d.path]
    out = {}
    for d in space.decisions:
        if d.fixed is not None or d.path not in assignment or d.active_if == FALSE:
            continue
        needed = {v for t in d.active_if for v, _ in t}
        if not needed <= set(by_id):
            missing = sorted(space.decisions[v].path for v in needed - set(by_id))
            raise NascSemanticError(f"decision '{missing[0]}' is not fixed")
        if dnf_eval(d.active_if, by_id):
            out[d.path] = assignment[d.path]
    return out


@dataclass
class Frozen:
    """A fully decided architecture: its IR, the assignment, and its two texts."""

    space: SearchSpace  # the free elaboration (decision table, activity)
    arch: SearchSpace  # the decided elaboration (pruned IR)
    assignment: dict[str, int]  # active decisions only, path -> option
    text: str
    pinned: str


def parse_fixes(fixes: list[str]) -> dict[str, Pin]:
    """`path=value` strings from the command line -> pins (values parsed as .nas expressions)."""
    from .frontend.parse import Parser

    out: dict[str, Pin] = {}
    parser = Parser()
    for raw in fixes:
        if "=" not in raw:
            raise UsageError(f"--fix takes path=value, got '{raw}'")
        path, value = (x.strip() for x in raw.split("=", 1))
        mod = parser.parse(f"space cli {{ fix {path} = {value} }}", f"--fix {raw}")
        stmt = mod.items[0].body[0]  # type: ignore[union-attr]
        assert isinstance(stmt, A.Fix)
        out[stmt.path.text()] = Pin(stmt.path.text(), stmt.value)
    return out


def freeze(compiled: Compiled, name: str | None = None, fixes: Sequence[str] = (), seed: int | None = None,
           arch_name: str | None = None, out_dir: Path | None = None) -> Frozen:
    """Pin every active decision (from `fixes`, then a random draw) and print the arch."""
    space = compiled.elaborate(name)
    pins: dict[str, Pin] = {}
    if seed is not None:
        pins.update(pins_from_assignment(random_assignment(space, seed)))
    pins.update(parse_fixes(list(fixes)))
    arch = compiled.elaborate(space.name, pins)
    if arch.free:
        d = arch.free[0]
        raise UsageError(f"decision '{d.path}' is not fixed; pass --fix {d.path}=VALUE (one of: "
                         f"{', '.join(d.labels)}) or --random SEED")
    exp = _experiment_ref(compiled)
    return render_arch(compiled, space, arch, f"frozen from {compiled.module.name} :: {space.name}",
                       arch_name or f"{space.name}_arch", out_dir or Path.cwd(),
                       experiment_ref=f"{compiled.module.name} :: {exp}" if exp else None)


def render_arch(compiled: Compiled, space: SearchSpace, arch: SearchSpace, title: str, arch_name: str,
                out_dir: Path, extra: tuple[str, ...] = (), experiment_ref: str | None = None) -> Frozen:
    """The texts of a decided elaboration: canonical arch (header: provenance, exact costs,
    exporter strings, sorted fix lines of the active decisions) and the pinned form."""
    from .frontend.archtext import arch_text, pinned_text
    from .ir.notation import darts_genotype, fix_lines, nb201_string, space_hash

    chosen = {d.path: d.fixed for d in arch.decisions if d.fixed is not None}
    assignment = active_assignment(space, chosen)
    arch.graph = arch.graph.prune()
    lib = compiled.loader.ops
    cost = arch_cost(arch.graph, lib)
    header = [f"nasc arch v1 -- {title}", f"space sha256: {space_hash(space)}", *extra,
              f"params: {cost.params:,}  macs: {cost.macs:,}  peak activation memory: {cost.peak_memory:,} B "
              "(exact, batch 1, fp32)"]
    nb = nb201_string(space, assignment)
    if nb:
        header.append(f"nb201: {nb}")
    gen = darts_genotype(space, assignment)
    if gen:
        header.append(f"genotype: {gen}")
    if experiment_ref:
        header.append(f"experiment: {experiment_ref}")
    header += fix_lines(space, assignment)
    text = arch_text(arch, lib, arch_name, header)
    src = compiled.module.path or Path(compiled.module.name)
    pinned = pinned_text(space, assignment, src, out_dir, f"{arch_name}_pinned", header[:2])
    return Frozen(space, arch, assignment, text, pinned)


def _experiment_ref(compiled: Compiled) -> str | None:
    exps = compiled.module.experiments
    if not exps:
        return None
    name = next(iter(exps))
    return name or "<unnamed>"
