"""The int8 calibration sample: a seeded random draw from the experiment's training split.

Why one sampler: ``nasc opt`` (the quantize pass) and ``nasc build --precision int8`` both
calibrate on the arch's experiment, and two rules (the first N samples in one, a seeded random
N in the other) gave the same arch different quantization ranges.  A random draw is taken so
the sample covers every class whatever order the dataset is stored in; the seed makes it
repeatable.  Only the training split is used: the test split is kept for accuracy reports.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .search.data import Dataset, load_dataset


def calibration_dataset(cfg: dict[str, Any], input_shape: Sequence[int]) -> Dataset | None:
    """The experiment's dataset when its samples fit an input of ``input_shape`` (without the
    batch axis); None when they do not, so the caller falls back to inputs it labels as random."""
    data = load_dataset(cfg["dataset"], cfg["split"], int(cfg["seed"]))
    return data if tuple(data.input_shape) == tuple(input_shape) else None


def calibration_sample(data: Dataset, n: int, seed: int) -> torch.Tensor:
    """``n`` inputs of the training split (all of them when it has fewer), drawn without
    replacement by a generator seeded with ``seed``."""
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))[:n]
    return data.train.x[order]


def calibration_origin(dataset: str, seed: int) -> str:
    """Where the sample came from, for reports and manifests (``N samples of`` + this)."""
    return f"the {dataset} training split (seed {seed})"
