"""Facts about the build/measure host, read from the OS without importing heavy libraries.

Why a separate module: target selection (``nasc targets``), ORT quantisation
(``reduce_range`` only on x86 without VNNI) and GPU test skips all need these facts, and
none of them should pay for ``import tvm``.  Results are computed on each call (cheap)
rather than cached in module globals.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CPUINFO = Path("/proc/cpuinfo")


def host_triple() -> str:
    """GNU triple of this machine (``x86_64-linux-gnu``), not TVM's conda-flavoured guess."""
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    system = platform.system().lower()
    return f"{machine}-{system}-gnu" if system == "linux" else f"{machine}-{system}"


def cpu_flags() -> frozenset[str]:
    """CPU feature flags from /proc/cpuinfo (``flags`` on x86, ``Features`` on arm)."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_model_name() -> str:
    try:
        text = CPUINFO.read_text()
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return platform.processor() or "unknown"


def has_vnni() -> bool:
    """x86 8-bit dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX).

    Without them, ORT's u8s8 int8 kernels can saturate, which is why int8 QDQ needs
    ``reduce_range=True`` there (25x smaller error on a MobileNet, docs/toolchain.md §1)."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextmanager
def kept_affinity() -> Iterator[None]:
    """Restore this process's CPU affinity on exit.

    Why: TVM's CPU thread pool pins the thread that configures or first runs it to one core.
    Measured here: a process with cores {0, 1} had {0} after timing a TVM artifact in
    process.  Everything that process ran afterwards shared one core, and every child it
    started inherited the mask.  That included TVM builds, whose target says ``num-cores``
    from the affinity: they then looked for another tuning database and built untuned."""
    saved = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        yield
    finally:
        if saved is not None:
            os.sched_setaffinity(0, saved)


def libcuda_loadable() -> bool:
    """True when the CUDA driver library loads, i.e. a usable NVIDIA driver is installed."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def local_gpu_arch() -> str | None:
    """``sm_XY`` of GPU 0 from ``nvidia-smi``, or None when there is no NVIDIA GPU."""
    smi = shutil.which("nvidia-smi")
    if smi is None or not libcuda_loadable():
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.strip().splitlines()[0].strip() if out.strip() else ""
    if not first or "." not in first:
        return None
    major, minor = first.split(".", 1)
    return f"sm_{major}{minor}"


def nvcc_version() -> str | None:
    """``X.Y`` from ``nvcc --version`` (the CUDA release device code is compiled with), or None."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return None
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"release (\d+\.\d+)", out)
    return match.group(1) if match else None
