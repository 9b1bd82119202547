"""Calibration observers: the float range each activation's int8 parameters must cover.

* ``minmax`` -- the extreme values seen (no clipping; exact for ReLU-bounded tensors).
* ``percentile`` -- the p-th percentile of |x| (two-sided for signed tensors): clips
  rare outliers so the common values get more of the 256 levels.
* ``entropy`` -- the threshold minimising KL(P || Q) between the calibration histogram
  and its quantized version (TensorRT's calibrator; 2048 bins, the zero bin flattened).

The histogram observers need the range first, so calibration runs the model twice
(``passes == 2``); min-max needs one pass.  All work on float64 numpy histograms, so
results do not depend on the order batches arrive in beyond float32 summation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

BINS = 2048


@dataclass
class MinMax:
    passes: int = 1
    lo: float = float("inf")
    hi: float = float("-inf")

    def observe(self, x: torch.Tensor, pass_index: int) -> None:
        if pass_index == 0:
            x = x.detach().float()
            self.lo = min(self.lo, float(x.min()))
            self.hi = max(self.hi, float(x.max()))

    def range(self) -> tuple[float, float]:
        return self.lo, self.hi


@dataclass
class _Histogram(MinMax):
    """|x| histogram over [0, max|x|] filled in the second pass."""

    passes: int = 2
    hist: np.ndarray = field(default_factory=lambda: np.zeros(BINS, dtype=np.float64))

    @property
    def amax(self) -> float:
        return max(abs(self.lo), abs(self.hi), 1e-12)

    def observe(self, x: torch.Tensor, pass_index: int) -> None:
        if pass_index == 0:
            super().observe(x, 0)
            return
        a = x.detach().float().abs().reshape(-1).numpy()
        h, _ = np.histogram(a, bins=BINS, range=(0.0, self.amax))
        self.hist += h

    def _clip(self, t: float) -> tuple[float, float]:
        return max(self.lo, -t), min(self.hi, t)


@dataclass
class Percentile(_Histogram):
    percentile: float = 99.99

    def range(self) -> tuple[float, float]:
        total = self.hist.sum()
        if total == 0:
            return self.lo, self.hi
        cdf = np.cumsum(self.hist) / total
        idx = int(np.searchsorted(cdf, self.percentile / 100.0))
        t = (idx + 1) * self.amax / BINS
        return self._clip(t)


@dataclass
class Entropy(_Histogram):
    start: int = 128  # the smallest threshold considered, in bins
    step: int = 4

    def range(self) -> tuple[float, float]:
        if self.hist.sum() == 0:
            return self.lo, self.hi
        levels = 255 if self.lo >= 0 else 128  # levels on the side being fitted
        t_bins = kl_threshold(self.hist, levels, self.start, self.step)
        return self._clip(t_bins * self.amax / BINS)


def kl_threshold(hist: np.ndarray, levels: int, start: int, step: int) -> int:
    """Number of histogram bins to keep that minimises KL(reference || quantized).

    The reference P is the kept bins with the clipped outliers added to the last one;
    Q spreads each of ``levels`` merged bins evenly over the bins that are non-empty in P,
    and both are smoothed (zero bins get a little mass) so an empty bin does not make the
    divergence infinite -- the MXNet/TensorRT formulation."""
    n = len(hist)
    hist = hist.astype(np.float64).copy()
    # Zero is exact in every int8 grid, so the spike of exact zeros after a ReLU carries no
    # quantization error; left in, it dominates the divergence and drives the threshold far
    # too low (NVIDIA's pytorch-quantization flattens it the same way).
    hist[0] = hist[1]
    best_i, best_kl = n, float("inf")
    for i in range(max(start, levels), n + 1, step):
        ref = hist[:i].astype(np.float64).copy()
        ref[-1] += hist[i:].sum()  # outliers clip into the last kept bin
        nz = ref != 0
        starts = (np.arange(levels) * i) // levels
        sums = np.add.reduceat(hist[:i].astype(np.float64), starts)
        counts = np.add.reduceat(nz.astype(np.float64), starts)
        lengths = np.diff(np.append(starts, i))
        avg = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        q = np.repeat(avg, lengths) * nz
        p_s, q_s = _smooth(ref), _smooth(q)
        if p_s is None or q_s is None:
            continue
        kl = float(np.sum(p_s * np.log(p_s / q_s)))
        if kl < best_kl:
            best_kl, best_i = kl, i
    return best_i


def _smooth(d: np.ndarray, eps: float = 1e-4) -> np.ndarray | None:
    """Normalise, moving ``eps`` of mass onto each empty bin (None if all bins are empty)."""
    total = d.sum()
    if total <= 0:
        return None
    p = d / total
    zeros = p == 0
    n_zero, n_nonzero = int(zeros.sum()), int((~zeros).sum())
    if n_zero == 0:
        return p
    take = eps * n_zero / n_nonzero
    if take >= p[~zeros].min():
        return None
    out = p.copy()
    out[zeros] = eps
    out[~zeros] -= take
    return out


def make_observer(kind: str, percentile: float) -> MinMax:
    if kind == "minmax":
        return MinMax()
    if kind == "percentile":
        return Percentile(percentile=percentile)
    if kind == "entropy":
        return Entropy()
    raise ValueError(f"unknown observer {kind!r}")
