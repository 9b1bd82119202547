"""Datasets with deterministic splits: ``sklearn:digits`` and ``sklearn:digits32`` (built in),
``npz:PATH``, ``folder:PATH``.

A split is a pure function of the dataset and the seed, and so is the batch
order of every epoch (a generator seeded with ``seed`` and the epoch number), so
a search resumed from a checkpoint sees exactly the batches it would have seen.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import NascError


class DataError(NascError):
    """A dataset that cannot be found or read."""


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # float32 [N, C, H, W]
    y: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def batches(self, batch: int, seed: int, epoch: int, shuffle: bool = True):
        """Deterministic mini-batches for (seed, epoch)."""
        n = len(self)
        if shuffle:
            g = torch.Generator().manual_seed(seed * 100_003 + epoch)
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            yield self.x[idx], self.y[idx]


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Split
    val: Split
    test: Split
    classes: int
    input_shape: tuple[int, ...]  # without batch


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float32)[:, None, :, :] / 16.0
    return x, d.target.astype(np.int64)


DIGITS32_SIDE = 32


def _digits32() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 8x8 digits upsampled to 3 x 32 x 32 (each pixel a 4x4 block, the grey
    level copied into three channels).

    Why: NAS-Bench-201's network (``examples/nb201.nas``) takes CIFAR-shaped 3 x 32 x 32
    inputs, and the recorded device latencies are of exactly that network; this makes it
    searchable here in minutes, with nothing downloaded.  Nearest-neighbour upsampling adds
    no information, so accuracies are those of the 8x8 digits, not of CIFAR-10.
    """
    x, y = _digits()
    scale = DIGITS32_SIDE // x.shape[-1]
    big = np.repeat(np.repeat(x, scale, axis=2), scale, axis=3)
    return np.ascontiguousarray(np.repeat(big, 3, axis=1)), y


BUILT_IN = {"sklearn:digits": _digits, "sklearn:digits32": _digits32}
"""The datasets nasc ships (by way of scikit-learn), by name."""


def _read_arrays(p: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (or one ``.npy``) file, never unpickling anything.

    A dataset is a file someone handed over: ``allow_pickle=False`` refuses object arrays and
    pickles (which could run code), and every way the file can be unreadable is a
    :class:`DataError` naming it.
    """
    try:
        loaded = np.load(p, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {"": loaded}
        with loaded as f:
            return {k: f[k] for k in f.files}
    except ValueError as err:
        what = "pickled data or object arrays, which nasc never loads" if "pickle" in str(err) else str(err)
        raise DataError(f"{p}: cannot read the dataset: {what}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise DataError(f"{p}: not a readable .npz/.npy file ({err.__class__.__name__}: {err})") from None


def _check_samples(p: Path, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shapes, label range and finiteness: a bad dataset fails here, not as a loss of 0.000."""
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"{p}: x must be (N, C, H, W) or (N, H, W) and y (N,) with the same N; got x "
                        f"{list(x.shape)}, y {list(y.shape)}")
    if len(y) == 0:
        raise DataError(f"{p}: the dataset has no samples")
    if not np.issubdtype(y.dtype, np.integer) and not np.all(np.equal(np.mod(y, 1), 0)):
        raise DataError(f"{p}: labels y must be integers (class indices)")
    if int(y.min()) < 0:
        raise DataError(f"{p}: labels y must be class indices >= 0, found {int(y.min())}")
    if not np.isfinite(x).all():
        raise DataError(f"{p}: x holds NaN or infinite values")
    return x, y


def _npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"dataset file not found: {p}")
    f = _read_arrays(p)
    if "x" not in f or "y" not in f:
        raise DataError(f"{p} must hold arrays 'x' (N, C, H, W) and 'y' (N,); it has {sorted(f)}")
    try:
        x, y = f["x"].astype(np.float32), f["y"]
    except (TypeError, ValueError) as err:
        raise DataError(f"{p}: x must be numeric ({err})") from None
    x, y = _check_samples(p, x, y)
    return x, y.astype(np.int64)


def _folder(path: str) -> tuple[np.ndarray, np.ndarray]:
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{root} has no class folders")
    xs, ys = [], []
    for label, cls in enumerate(classes):
        for f in sorted((root / cls).iterdir()):
            if f.suffix == ".npy":
                arr = _read_arrays(f)[""].astype(np.float32)
            else:
                try:
                    from PIL import Image
                except ImportError:
                    raise DataError("folder datasets with images need Pillow (pip install pillow); "
                                    ".npy files need nothing") from None
                arr = np.asarray(Image.open(f), dtype=np.float32) / 255.0
                arr = arr.transpose(2, 0, 1) if arr.ndim == 3 else arr
            xs.append(arr if arr.ndim == 3 else arr[None])
            ys.append(label)
    shapes = {a.shape for a in xs}
    if len(shapes) != 1:
        raise DataError(f"{root}: all samples must have one shape, found {sorted(shapes)[:3]}")
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def load_dataset(spec: str, split: dict[str, float], seed: int) -> Dataset:
    if spec in BUILT_IN:
        x, y = BUILT_IN[spec]()
    elif spec.startswith("npz:"):
        x, y = _npz(spec[4:])
    elif spec.startswith("folder:"):
        x, y = _folder(spec[7:])
    else:
        raise DataError(f"unknown dataset '{spec}'; use {', '.join(BUILT_IN)}, npz:PATH or folder:PATH")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_train = int(round(split["train"] * len(y)))
    n_val = int(round(split["val"] * len(y)))
    parts = order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]
    for name, part in zip(("train", "val", "test"), parts):
        if len(part) == 0:
            raise DataError(f"the {name} split of {spec} is empty ({len(y)} samples, split {dict(split)}); "
                            "give it a larger share")

    def mk(idx: np.ndarray) -> Split:
        return Split(torch.from_numpy(x[idx]), torch.from_numpy(y[idx]))

    return Dataset(spec, mk(parts[0]), mk(parts[1]), mk(parts[2]), int(y.max()) + 1, tuple(x.shape[1:]))


def dataset_fingerprint(data: Dataset) -> str:
    """sha256 of a dataset as a run used it: every split's samples and labels, in order.

    The split is a function of the seed, so the same file with another seed or other shares
    is another fingerprint -- which is the point: a report names the data its accuracies were
    measured on, and two runs agree only if they saw the same samples in the same splits."""
    h = hashlib.sha256(f"{data.classes}|{list(data.input_shape)}".encode())
    for name, split in (("train", data.train), ("val", data.val), ("test", data.test)):
        x, y = split.x.contiguous().numpy(), split.y.contiguous().numpy()
        h.update(f"|{name}|{x.dtype}{list(x.shape)}|{y.dtype}{list(y.shape)}|".encode())
        h.update(x.tobytes())
        h.update(y.tobytes())
    return h.hexdigest()
