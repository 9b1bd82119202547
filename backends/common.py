"""Small checks every backend's ``build`` starts with."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping

import numpy as np

from nasc.errors import NascError
from nasc.fsio import check_writable_dir

from .base import BuildOptions, Target
from .manifest import MANIFEST
from .targets import check_target_backend


def check_out_dir(out_dir: Path | str) -> Path:
    """Refuse an ``out_dir`` that cannot become an artifact folder, changing nothing: what
    :func:`~nasc.fsio.check_writable_dir` refuses, or a non-empty folder that is not an artifact.

    Called by ``nasc build`` before any work, so a bad ``--out`` costs no build time."""
    out = Path(out_dir)
    check_writable_dir(out)
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise NascError(f"--out {out} is a non-empty folder that is not a nasc artifact; refusing to overwrite")
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
    check_target_backend(target, backend)
    if not example_inputs:
        raise NascError("example_inputs is empty; name every model input, e.g. {'x': array}")
    for name, value in example_inputs.items():
        if not isinstance(value, np.ndarray):
            raise NascError(f"example input '{name}' is a {type(value).__name__}, expected a numpy array")


def cache_root(configured: str | None) -> Path:
    """Where nasc's caches live (tuning databases, TensorRT timing caches, the libcuda stub, the
    latency store): ``BuildOptions.cache_dir``, else ``$NASC_CACHE_DIR``, else ``nasc`` in the
    user's cache directory (``$XDG_CACHE_HOME``, else ``~/.cache``; a relative ``$XDG_CACHE_HOME``
    is ignored, as the XDG specification says)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    user = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    root = Path(configured or os.environ.get("NASC_CACHE_DIR") or user / "nasc")
    root.mkdir(parents=True, exist_ok=True)
    return root
