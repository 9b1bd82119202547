"""Which edges of a NAS-Bench-201 cell a runtime executes, and the features latency is fit on.

An NB201 cell has four nodes; edge ``eji`` carries node j into node i (0 <= j < i <= 3) and
node i is the sum of its incoming edges.  Architectures are handled here as integer arrays
of shape (n, 6): one op index (into :data:`nasc.data.nb201.OPS`) per edge, in the order of
:data:`nasc.data.nb201.EDGES`.

Why counts and not one coefficient per op per edge: every edge of the cell has the same
input and output shape (C channels, stride 1), so an op costs the same wherever it sits.
What differs between positions is only *whether it runs*, and that depends on the runtime:

* ``eager`` (PyTorch-style execution, the HELP measurements on the Titan Xp and the Xeon
  Gold 6226): every edge runs, ``none`` included (it is ``x * 0``, a real kernel).  The
  latency is close to an intercept plus a cost per op, counted over all six edges.
* ``folding`` (the TFLite-style runtime of HW-NAS-Bench's Raspberry Pi 4 numbers): the
  converter folds the ``x * 0`` of ``none`` edges, and with them part of the work whose
  only use was that product.  Fitted on 100 architectures, counts over every edge leave 29%
  of the Pi's latencies outside +-10%, counts over the edges :func:`executed_edges` says
  run leave 21% (docs/recorded_latency.md has the rest of the numbers).

One more feature pays on every device: whether the cell runs *no* convolution at all.
Such cells are cheaper than the per-op sum predicts, by several percent on the Xeon.
"""

from __future__ import annotations

import numpy as np

from ..data.nb201 import EDGES, OPS

NONE, SKIP, CONV1, CONV3, POOL = (OPS.index(op) for op in
                                  ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"))
RUNTIMES = ("eager", "folding")
"""How a recorded device executes a cell (see the module docstring)."""
FEATURES = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3", "no_conv")
"""Feature columns: executed edges per op (``none`` is the intercept's share), and 1.0 for
a cell that executes no convolution."""
_SRC = np.array([int(e[1]) for e in EDGES])
_DST = np.array([int(e[2]) for e in EDGES])


def _edge(ops: np.ndarray, name: str) -> np.ndarray:
    return ops[:, EDGES.index(name)]


def _forward(ops: np.ndarray) -> np.ndarray:
    """(n, 4) booleans: node reached from the input by a path avoiding ``none``."""
    reached = np.zeros((len(ops), 4), dtype=bool)
    reached[:, 0] = True
    for k in np.argsort(_DST, kind="stable"):  # edges into node 1, then 2, then 3
        reached[:, _DST[k]] |= reached[:, _SRC[k]] & (ops[:, k] != NONE)
    return reached


def _backward(ops: np.ndarray) -> np.ndarray:
    """(n, 4) booleans: node reaches the output by a path avoiding ``none``."""
    reaches = np.zeros((len(ops), 4), dtype=bool)
    reaches[:, 3] = True
    for k in np.argsort(_DST, kind="stable")[::-1]:  # edges into node 3, then 2, then 1
        reaches[:, _SRC[k]] |= reaches[:, _DST[k]] & (ops[:, k] != NONE)
    return reaches


def reaches_output(ops: np.ndarray) -> np.ndarray:
    """Per architecture: whether some input -> output path avoids ``none``.

    The 341 architectures where none does compute a constant: their accuracy is chance and
    their recorded latency says more about what a runtime folds than about the cell, so
    they are neither fitted nor predicted.
    """
    return _forward(ops)[:, 3]


def live_edges(ops: np.ndarray) -> np.ndarray:
    """(n, 6) booleans: the edge is not ``none`` and lies on an input -> output path avoiding ``none``.

    Kept for comparison (docs/recorded_latency.md): pruning every edge off such a path is
    the obvious model of a folding runtime, but the Pi still runs convolutions whose input
    is a constant zero, and counting only live edges predicts its latency worse than
    counting all of them.
    """
    return (ops != NONE) & _forward(ops)[:, _SRC] & _backward(ops)[:, _DST]


def executed_edges(ops: np.ndarray, runtime: str) -> np.ndarray:
    """(n, 6) booleans: the edge's op runs on a device with this runtime.

    ``folding`` is the rule the Raspberry Pi 4 table follows, read off single-edge
    differences: an architecture against the same one with a 1x1 instead of a 3x3
    convolution on one edge steps by ~13 ms when that edge runs and by ~0 when it is
    folded.  Of the 18,537 such pairs (every edge, every context of the other five), 16,982
    step clearly (> 8 ms or < 2 ms) and the rule agrees with 16,945; the 37 others are noise
    of the table (half of them are edges into the output, which run by construction).  Pooling
    edges follow it too: a pooling instead of a skip adds 2.6 ms (median) where the rule
    says the edge runs and 0.0 ms where it says it is folded.

    Node 2 is *dead* when ``e23`` is ``none``; node 1 is *unread* when ``e13`` is ``none``.

    * Edges into the cell output (``e03``, ``e13``, ``e23``) always run, even when their
      input is a constant zero: the runtime does not fold convolutions.
    * ``e12`` runs unless node 2 is dead and ``e02`` is not ``none``.
    * ``e02`` runs unless node 2 is dead and the ``e12`` term is not a folded zero.  It is
      one when it is ``none`` (except after a convolution on ``e01`` with node 1 unread),
      or a ``skip_connect`` from node 1 when ``e01`` is ``none``.
    * ``e01`` runs when node 1 is read: by ``e13``, by a live node 2, or by a dead node 2
      whose ``e02`` is ``none`` and whose ``e12`` is not a pooling.

    In words: a dead sum of two terms is removed whole, but when one of its two terms was
    a folded ``x * 0``, the other term still runs.  (A multiply after a convolution merges
    into it, which is presumably why ``conv(x) * 0`` does not count as a folded zero.)
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")
    ran = ops != NONE
    if runtime == "eager":
        return ran
    e01, e02, e12, e13, e23 = (_edge(ops, e) for e in ("e01", "e02", "e12", "e13", "e23"))
    node2_live = e23 != NONE
    node1_conv_unread = ((e01 == CONV1) | (e01 == CONV3)) & (e13 == NONE)
    e12_zero = ((e12 == NONE) & ~node1_conv_unread) | ((e12 == SKIP) & (e01 == NONE))
    runs = {
        "e12": node2_live | (e02 == NONE),
        "e02": node2_live | e12_zero,
        "e01": (e13 != NONE) | node2_live | ((e02 == NONE) & (e12 != POOL)),
    }
    out = ran.copy()
    for name, mask in runs.items():
        out[:, EDGES.index(name)] &= mask
    return out


def count_features(ops: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n, len(FEATURES)) floats: per op, the edges in ``mask`` carrying it; then no-conv."""
    kept = np.where(mask, ops, NONE)
    counts = [(kept == OPS.index(op)).sum(axis=1) for op in FEATURES[:4]]
    no_conv = ~((kept == CONV1) | (kept == CONV3)).any(axis=1)
    return np.stack(counts + [no_conv], axis=1).astype(float)


def features(ops: np.ndarray, runtime: str) -> np.ndarray:
    """The features of :data:`FEATURES` for a device with this runtime."""
    return count_features(ops, executed_edges(ops, runtime))


def per_edge_onehot(ops: np.ndarray) -> np.ndarray:
    """(n, 24) floats: one indicator per (edge, op other than ``none``) -- the per-edge
    additive baseline the recorded predictor is judged against."""
    cols = [(ops[:, k] == o) for k in range(len(EDGES)) for o in range(len(OPS)) if o != NONE]
    return np.stack(cols, axis=1).astype(float)
