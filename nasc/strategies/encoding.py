"""How a NAS-Bench-201 cell becomes a vector for a surrogate model.

Two encodings, both of an (n, 6) array of op indices (``Problem.ops``):

* :func:`onehot` (30 dims): per edge, a one-hot of its five ops.  Every architecture is a
  distinct corner of the cube, and a stationary kernel on it is a weighted count of the
  edges two cells differ on: the natural distance of a categorical space.  It does not know
  that a cell computes what flows along its input -> output paths: a ``none`` on an edge
  into node 3 makes whatever the other edges feeding it do irrelevant, and the one-hot
  cannot say so.
* :func:`paths` (100 dims): per input -> output path of the cell (``e03``; ``e01, e13``;
  ``e02, e23``; ``e01, e12, e23``), a one-hot of the sequence of ops along it when none of
  them is ``none`` (4, 16, 16 and 64 sequences), and zeros when the path is broken.  This is
  the path encoding of White et al. (BANANAS, 2021) laid out per path: two cells are close
  when they compute the same things along the same paths.  A cell whose output is cut off
  from its input has no path and encodes to zeros, one point for all 341 of them.

:func:`encode` concatenates the encodings named (the default of the surrogate strategies,
``onehot+paths``, keeps the edge-level distance and adds the path structure).
docs/strategies.md gives the evidence for the choice.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from ..data.nb201 import EDGES, OPS

NONE = OPS.index("none")
N_OPS = len(OPS)
PATHS = (("e03",), ("e01", "e13"), ("e02", "e23"), ("e01", "e12", "e23"))
"""The input -> output paths of an NB201 cell, as edge sequences."""
_PATH_EDGES = tuple(np.array([EDGES.index(e) for e in path]) for path in PATHS)


def onehot(ops: np.ndarray) -> np.ndarray:
    """(n, 30): per edge (``EDGES`` order), a one-hot of its op (``OPS`` order)."""
    ops = np.asarray(ops, dtype=int)
    out = np.zeros((len(ops), len(EDGES), N_OPS))
    np.put_along_axis(out, ops[:, :, None], 1.0, axis=2)
    return out.reshape(len(ops), -1)


def paths(ops: np.ndarray) -> np.ndarray:
    """(n, 100): per input -> output path, a one-hot of its op sequence unless it has a ``none``."""
    ops = np.asarray(ops, dtype=int)
    blocks = []
    live = N_OPS - 1  # the ops other than none, numbered 0..3
    for edges in _PATH_EDGES:
        seq = ops[:, edges]
        intact = (seq != NONE).all(axis=1)
        digits = np.where(seq > NONE, seq - 1, seq)  # none is OPS[0]: shift the others down
        code = (digits * live ** np.arange(len(edges))[::-1]).sum(axis=1)
        block = np.zeros((len(ops), live ** len(edges)))
        block[np.flatnonzero(intact), code[intact]] = 1.0
        blocks.append(block)
    return np.concatenate(blocks, axis=1)


ENCODINGS: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {"onehot": onehot, "paths": paths}
DEFAULT = "onehot+paths"


def encode(ops: np.ndarray, name: str = DEFAULT) -> np.ndarray:
    """The encodings named by ``name`` (``+``-separated keys of :data:`ENCODINGS`), side by side."""
    parts = name.split("+")
    unknown = [p for p in parts if p not in ENCODINGS]
    if unknown:
        raise ValueError(f"unknown encoding {'+'.join(unknown)!r}; known: {', '.join(ENCODINGS)} (joined by '+')")
    return np.concatenate([ENCODINGS[p](ops) for p in parts], axis=1)
