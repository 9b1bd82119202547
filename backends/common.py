"""Small checks every backend's ``build`` starts with."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from nasc.errors import NascError

from .base import BuildOptions, Target
from .manifest import MANIFEST


def check_out_dir(out_dir: Path | str) -> Path:
    """Refuse an ``out_dir`` that cannot become an artifact folder, changing nothing: a file,
    a non-empty folder that is not an artifact, or a place this process cannot write.

    Called by ``nasc build`` before any work, so a bad ``--out`` costs no build time."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NascError(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise NascError(f"--out {out} is a non-empty folder that is not a nasc artifact; refusing to overwrite")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NascError(f"--out {out}: {existing} is a file, not a folder")
    try:  # a real write: permission bits do not tell for root, read-only mounts or full disks
        fd, probe = tempfile.mkstemp(prefix=".nasc-write-test.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise NascError(f"--out {out}: cannot write in {existing} ({e.strerror or e})") from None
    return out


def prepare_out_dir(out_dir: Path | str) -> Path:
    """Create ``out_dir``; an old artifact there is replaced, any other non-empty folder is refused
    (a build must never delete files it did not write)."""
    out = check_out_dir(out_dir)
    if out.exists():
        for e in list(out.iterdir()):
            shutil.rmtree(e) if e.is_dir() and not e.is_symlink() else e.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NascError(f"--out {out}: cannot create the folder ({e.strerror or e})") from None
    return out


def check_request(backend: str, precisions: tuple[str, ...], target: Target, options: BuildOptions,
                  example_inputs: Mapping[str, np.ndarray]) -> None:
    if options.precision not in precisions:
        raise NascError(f"backend '{backend}' supports {', '.join(precisions)}, not {options.precision}")
    if backend not in target.backends and backend != "auto":
        raise NascError(f"backend '{backend}' does not serve target '{target.name}' "
                        f"(its backends: {', '.join(target.backends)})")
    if not example_inputs:
        raise NascError("example_inputs is empty; name every model input, e.g. {'x': array}")
    for name, value in example_inputs.items():
        if not isinstance(value, np.ndarray):
            raise NascError(f"example input '{name}' is a {type(value).__name__}, expected a numpy array")


def cache_root(configured: str | None) -> Path:
    """Where build caches live (tuning databases, TensorRT timing caches, the libcuda stub):
    ``BuildOptions.cache_dir``, else ``$NASC_CACHE_DIR``, else ``~/.cache/nasc``."""
    root = Path(configured or os.environ.get("NASC_CACHE_DIR") or Path.home() / ".cache" / "nasc")
    root.mkdir(parents=True, exist_ok=True)
    return root
