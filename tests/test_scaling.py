"""`nasc check` time grows near-linearly with the size of the space, and stays exact.

Each space is large enough that a quadratic step in elaboration or analysis (a scan of
every factor for each decision eliminated, a rule re-evaluated with every candidate for
each candidate) takes far longer than the bound, yet small enough to check in about a
second.  The bounds are on this process's CPU time (the check runs in-process), so other
work on the machine -- a parallel test worker, a build -- does not fail them;
`benchmarks/check_scaling.py` measures the growth itself.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nasc.cli import main

N = 2_000  # sequential decisions
BOUND_S = 3.0


def _widths(n: int) -> tuple[str, int, tuple[int, int]]:
    """n layers, each with a width choice flowing into the next layer's input channels."""
    text = (f"space s {{\n    input x: f32[B, 3, 8, 8]\n    h = x\n    repeat {n} {{\n"
            "        C = choice [8, 16]\n        h = h |> conv(C, 3) |> bn |> relu\n    }\n"
            "    output y = h |> gap |> linear(2)\n}\n")

    def params(c: int) -> int:  # every width c: conv 3->c, then c->c, bn 2c each, linear 2c + 2
        return 3 * c * 9 + (n - 1) * c * c * 9 + n * 2 * c + 2 * c + 2
    return text, 2 ** n, (params(8), params(16))


SPACES = {
    # an op choice per layer: relu_conv_bn(8, 3) has 8*8*9 + 2*8 = 592 parameters
    "op-choices": ("block cell(C)(x) {\n    return x |> choice [conv3: relu_conv_bn(C, 3), skip: skip]\n}\n"
                   f"space s {{\n    input x: f32[B, 8, 8, 8]\n    h = x\n    repeat {N} {{ h = h |> cell(8) }}\n"
                   "    output y = h |> gap |> linear(10)\n}\n",
                   2 ** N, (90, 90 + N * 592)),
    # three ops per decision: half as many decisions in the same time
    "width-choices": _widths(N // 2),
    # one choice of 10,000 widths: conv(C, 1) on 1 channel has C parameters, linear(2) 2C + 2
    "one-wide-choice": ("space s {\n    input x: f32[B, 1, 8, 8]\n    C = choice 1..10000\n"
                        "    output y = x |> conv(C, 1) |> gap |> linear(2)\n}\n",
                        10_000, (3 * 1 + 2, 3 * 10_000 + 2)),
}


@pytest.mark.parametrize("name", sorted(SPACES))
def test_check_of_a_large_space_is_fast_and_exact(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    text, size, (lo, hi) = SPACES[name]
    path = tmp_path / f"{name}.nas"
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    start = time.process_time()
    rc = main(["check", path.name])
    elapsed = time.process_time() - start
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f" {size:,} architectures" in out
    assert f"params {lo:,} .. {hi:,}" in out
    assert elapsed < BOUND_S, f"check took {elapsed:.1f} CPU s"
