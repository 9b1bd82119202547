"""Build-host tools for TVM builds: cache folder, cross compiler, the libcuda stub, the worker.

The libcuda stub: TVM stores CUDA *source* in the artifact
unless ``libtvm_runtime_cuda.so`` can be loaded at build time, which needs
``libcuda.so.1``.  A 9-symbol stub whose functions all return CUDA_ERROR_NO_DEVICE (100)
is enough for it to load; TVM then calls nvcc and embeds a fatbin with SASS for the
target's SM.  The stub is compiled once with gcc into the cache folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, NamedTuple

from ..base import BuildError
from ..hostinfo import host_triple

STUB_SYMBOLS = ("cuDeviceGetName", "cuFuncSetAttribute", "cuGetErrorName", "cuGetErrorString",
                "cuLaunchKernelEx", "cuModuleGetFunction", "cuModuleLoadData", "cuModuleUnload",
                "cuTensorMapEncodeTiled")
STUB_SOURCE = ("/* nasc: build-time stand-in for libcuda.so.1; every call fails with CUDA_ERROR_NO_DEVICE. */\n"
               "typedef int CUresult;\n"
               + "".join(f"CUresult {s}(void) {{ return 100; }}\n" for s in STUB_SYMBOLS))


class LinkPlan(NamedTuple):
    """How the host code gets linked: the library file name, the cross compiler (None: TVM's
    default, i.e. the native g++ for .so or no linking for .tar) and a sentence for the manifest."""

    lib_name: str
    compiler: str | None
    note: str


def link_plan(target_triple: str) -> LinkPlan:
    """A ready .so when this host can link for ``target_triple``, else a .tar the device links."""
    if target_triple.split("-")[0] == host_triple().split("-")[0]:
        return LinkPlan("model.so", None, "native host compiler")
    name = f"{target_triple}-g++"
    if shutil.which(name):
        return LinkPlan("model.so", name, f"cross compiler {name}")
    return LinkPlan("model.tar", None,
                    f"no {name} on this machine: exported as .tar, which the device links at first load "
                    "(needs g++ there); run backends/tvm/install_cross_toolchain.sh for a ready .so")


def cuda_stub_dir(cache: Path) -> tuple[Path | None, str]:
    """Folder holding the stub ``libcuda.so.1`` (built on first use), or None and why not."""
    folder = cache / "cuda-stub"
    lib = folder / "libcuda.so.1"
    if lib.is_file():
        return folder, "cached"
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return None, "no C compiler to build the libcuda stub"
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / "stub.c"
    src.write_text(STUB_SOURCE)
    tmp = folder / f".libcuda.{os.getpid()}.so"
    proc = subprocess.run([gcc, "-shared", "-fPIC", "-o", str(tmp), str(src)], capture_output=True, text=True)
    if proc.returncode != 0:
        return None, f"building the libcuda stub failed: {proc.stderr.strip()[:300]}"
    tmp.replace(lib)
    return folder, "built"


def run_worker(spec: Mapping[str, Any], env_extra: Mapping[str, str], timeout_s: float) -> dict[str, Any]:
    """Run the compile worker on ``spec``; return its result or raise BuildError with its stderr."""
    with tempfile.TemporaryDirectory(prefix="nasc-tvm-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        result_path = Path(tmp) / "result.json"
        spec_path.write_text(json.dumps({**spec, "result": str(result_path)}))
        env = {**os.environ, **env_extra}
        try:
            proc = subprocess.run([sys.executable, "-m", "nasc.backends.tvm.compile_worker", str(spec_path)],
                                  capture_output=True, text=True, env=env, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise BuildError(f"TVM compile did not finish in {timeout_s:.0f} s") from None
        if proc.returncode != 0 or not result_path.is_file():
            lines = [ln for ln in proc.stderr.strip().splitlines() if "Warning" not in ln]
            raise BuildError(f"TVM compile failed (exit {proc.returncode}):\n" + "\n".join(lines[-12:]))
        return json.loads(result_path.read_text())
