"""``fuse{target=cpu}``: record the kernel units of the target in the IR.

What a unit is -- the rule families, the single-consumer and latest-producer conditions,
the rules per target -- is :mod:`nasc.passes.kernels`, shared with the passes that decide
per unit before fusion has run.  This pass plans the units with the target's rules and
stores them as ``OptIR.kernels``; the units' signatures (:mod:`nasc.passes.signature`)
are the latency-table keys.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

from ...errors import did_you_mean
from ...targets import TARGET_NAMES
from ..base import PassContext, PassResult
from ..kernels import plan_kernels, rules_for
from ..optir import OptIR
from ..side_tables import Kernel


@dataclass(frozen=True)
class Fuse:
    """Group primitives into kernel units with stable signatures (latency-table keys)."""

    name: ClassVar[str] = "fuse"
    target: str = "cpu"

    def __post_init__(self) -> None:
        if self.target not in TARGET_NAMES:
            raise ValueError(f"unknown target '{self.target}'{did_you_mean(self.target, TARGET_NAMES)}; "
                             f"targets: {', '.join(TARGET_NAMES)}")

    def run(self, ir: OptIR, ctx: PassContext) -> PassResult:
        groups = plan_kernels(ir, ctx.lib, rules_for(self.target))
        kernels = tuple(Kernel(i, rule, members) for i, (rule, members) in enumerate(groups))
        out = ir.evolve(kernels=kernels)
        fused = sum(len(k.nodes) for k in kernels if len(k.nodes) > 1)
        return PassResult(out, {"kernels": len(kernels), "rules": dict(sorted(Counter(k.rule for k in kernels).items())),
                                "nodes_in_multi_op_kernels": fused, "target": self.target})
