"""Golden before/after IR dumps, one file per pass, on a small fixed arch with seeded weights.

Each golden file holds the dump the pass receives and the dump it returns.  The inputs
are the outputs of the previous stage of ``fold-bn,fuse,mixed-precision,quantize``
(quantize also gets a variant on the float graph).  Regenerate after an intended change
with ``NASC_UPDATE_GOLDEN=1 pytest tests/passes/test_pass_golden.py`` and review the diff.
Quantization scales print with 4 significant digits and compare with a 1e-3 relative
tolerance, so the files do not depend on the last bits of a machine's float arithmetic;
everything else (ops, attributes, shapes, precisions, kernel keys) must match exactly.
"""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from nasc.passes.execute import OptNet
from nasc.passes.optir import from_json
from nasc.passes.verify import verify
from passes_testlib import GOLDEN, UPDATE, example_input, fixed_ir, random_calibration, run

STAGES = [
    ("fold-bn", "", "fold-bn"),
    ("fuse", "fold-bn", "fuse"),
    ("mixed-precision", "fold-bn,fuse", "mixed-precision{dtype=fp16}"),
    ("quantize", "fold-bn,fuse", "quantize{calib=64,reduce_range=true}"),
    ("mixed-precision-then-quantize", "fold-bn,fuse,mixed-precision", "quantize{calib=64,reduce_range=true}"),
]


_FLOAT = re.compile(r"(\d+\.\d*(?:e[-+]?\d+)?|\d+e[-+]?\d+)")


def _same(got: str, want: str) -> bool:
    """Equal text, except that printed floats (quantization scales, 4 significant digits) may
    differ by 1e-3 relative: calibration runs float32 convs whose last bits depend on the
    machine's SIMD width, and a value next to a rounding boundary could print differently."""
    if got == want:
        return True
    a, b = _FLOAT.split(got), _FLOAT.split(want)
    if len(a) != len(b):
        return False
    for i, (x, y) in enumerate(zip(a, b)):
        if i % 2 == 0 and x != y:
            return False
        if i % 2 == 1 and not math.isclose(float(x), float(y), rel_tol=1e-3):
            return False
    return True


def _check(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if UPDATE or not path.exists():
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"golden file {path.name} was missing and has been written; re-run")
    assert _same(text, path.read_text()), f"{path.name} differs (NASC_UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("name,before,step", STAGES, ids=[s[0] for s in STAGES])
def test_golden_before_after(name: str, before: str, step: str) -> None:
    ir, _, graph, lib = fixed_ir()
    calib = random_calibration(graph)
    start = run(ir, lib, before, calib) if before else ir
    after = run(start, lib, step, calib)
    verify(after, lib)
    _check(name, f"# --- before {step} ---\n{start.dump()}# --- after {step} ---\n{after.dump()}")


def test_ir_json_round_trip() -> None:
    """ir.json + the tensors rebuild the same IR: same dump, same outputs."""
    ir, _, graph, lib = fixed_ir()
    out = run(ir, lib, "fold-bn,fuse,mixed-precision,quantize{calib=64,reduce_range=true}", random_calibration(graph))
    doc = json.loads(out.to_json_text())
    back = from_json(doc, out.tensors())
    assert back.dump() == out.dump()
    assert back.to_json_text() == out.to_json_text()
    x = example_input(graph)
    with torch.no_grad():
        assert torch.equal(OptNet(back, lib)(x), OptNet(out, lib)(x))
