"""What form the CUDA device code inside a TVM artifact has, read two independent ways.

Why both: TVM silently stores CUDA *source* (compiled on the device at first load) when
``libtvm_runtime_cuda.so`` cannot load at build time, and a Jetson user needs to know
which they got.  The built module says it (a ``cuda`` import that is ``runnable`` holds
a compiled fatbin; one that is not is the source fallback), and the exported file says it
again (fatbin headers carry the SM version of each embedded cubin/PTX; source shows
``__global__``).  This module needs no TVM, so tests can inspect any artifact.
"""

from __future__ import annotations

import struct
import tarfile
from pathlib import Path
from typing import Any, Iterator

FATBIN_MAGIC = struct.pack("<I", 0xBA55ED50)
ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 183
EM_X86_64 = 62
FATBIN_KINDS = {1: "ptx", 2: "cubin"}


def elf_machine(data: bytes) -> int | None:
    """``e_machine`` of an ELF image (183 = aarch64, 62 = x86-64), None if not ELF."""
    if len(data) < 20 or data[:4] != ELF_MAGIC:
        return None
    little = data[5] == 1
    return struct.unpack_from("<H" if little else ">H", data, 18)[0]


def _blobs(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.suffix == ".tar":
        with tarfile.open(path) as tf:
            for member in tf.getmembers():
                f = tf.extractfile(member) if member.isfile() else None
                if f is not None:
                    yield member.name, f.read()
    else:
        yield path.name, path.read_bytes()


def fatbin_entries(data: bytes) -> list[dict[str, Any]]:
    """Entries of every fatbin container in ``data``: ``{"kind": "cubin"|"ptx", "sm": 87}``.

    Layout (reverse-engineered, stable across CUDA 11-13): a 16-byte container header
    (magic, version u16, header size u16, payload size u64) followed by entries whose
    header starts with kind u16, version u16, header size u32, padded payload size u64,
    with the SM version as u32 at offset 28."""
    entries: list[dict[str, Any]] = []
    start = data.find(FATBIN_MAGIC)
    while start >= 0 and start + 16 <= len(data):
        _, _, hsize, size = struct.unpack_from("<IHHQ", data, start)
        pos, end = start + hsize, min(start + hsize + size, len(data))
        while pos + 32 <= end:
            kind, _, ehsize, padded = struct.unpack_from("<HHIQ", data, pos)
            sm = struct.unpack_from("<I", data, pos + 28)[0]
            if ehsize < 32 or kind not in FATBIN_KINDS:
                break
            entries.append({"kind": FATBIN_KINDS[kind], "sm": int(sm)})
            pos += ehsize + padded
        start = data.find(FATBIN_MAGIC, max(end, start + 4))
    return entries


def inspect_file(path: Path) -> dict[str, Any]:
    """Host ELF machine(s), fatbin entries and whether CUDA source is embedded."""
    machines: set[int] = set()
    entries: list[dict[str, Any]] = []
    has_source = False
    for _, blob in _blobs(Path(path)):
        m = elf_machine(blob)
        if m is not None:
            machines.add(m)
        entries.extend(fatbin_entries(blob))
        has_source = has_source or b"__global__" in blob
    return {"host_elf_machines": sorted(machines), "fatbin": entries, "cuda_source_embedded": has_source}


def module_device_code(rt_mod: Any) -> dict[str, Any]:
    """Walk a built TVM module's imports; report device modules and whether they are compiled."""
    found: list[dict[str, Any]] = []

    def walk(mod: Any) -> None:
        kind = str(mod.kind)
        if kind in ("cuda", "rocm", "vulkan", "opencl", "metal"):
            found.append({"kind": kind, "runnable": bool(mod.is_runnable())})
        for sub in mod.imports:
            walk(sub)

    walk(rt_mod)
    if not found:
        return {"form": "none", "modules": []}
    form = "binary" if all(m["runnable"] for m in found) else "source"
    return {"form": form, "modules": found}
