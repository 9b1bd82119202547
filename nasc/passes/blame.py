"""Which pass of a pipeline lost test accuracy: the IR after each pass, run by the torch executor.

Why the torch executor: it runs any prefix of a pipeline (an IR that is folded but not yet
quantized has no artifact), and with ``simulate_quant=True`` it rounds exactly as the Q/DQ
model does, so the first prefix whose accuracy falls below the floor names the pass that
lost it.  ``nasc compile`` asks only when the built artifact missed its tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .base import PassContext, parse_pipeline, pass_text
from .driver import Prepared, accuracy_torch
from .optir import OptIR


@dataclass
class _KeepEach:
    """An instrument that keeps the IR after every pass (it never changes one)."""

    irs: list[tuple[str, OptIR]] = field(default_factory=list)

    def before(self, index: int, p: Any, ir: OptIR) -> None:
        pass

    def after(self, index: int, p: Any, ir: OptIR, seconds: float) -> None:
        self.irs.append((pass_text(p), ir))


def accuracy_after_each_pass(prep: Prepared, pipeline: str) -> list[tuple[str, float]]:
    """``(pass text, test accuracy of the IR after it)`` for every pass, in pipeline order;
    the accuracy is a fraction (0..1) on the experiment's test split."""
    from .execute import OptNet
    from .registry import default_registry

    if prep.data is None:
        return []
    keep = _KeepEach()
    parse_pipeline(pipeline, default_registry()).run(prep.ir, PassContext(prep.lib, prep.calibration,
                                                                          int(prep.cfg["seed"])), [keep])
    x, y = prep.data.test.x, prep.data.test.y
    return [(text, accuracy_torch(OptNet(ir, prep.lib, simulate_quant=True), x, y)) for text, ir in keep.irs]


def first_loss(steps: list[tuple[str, float]], floor: float) -> tuple[str, float] | None:
    """The first pass after which accuracy is below ``floor`` (None: every prefix holds it)."""
    return next(((text, acc) for text, acc in steps if acc < floor), None)
