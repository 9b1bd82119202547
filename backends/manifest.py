"""``manifest.json``: the contract between a build and everything after it.

Every build ends in :func:`write_manifest`, which hashes every file it left in the
artifact directory; ``nasc measure DIR`` and device-side scripts start from
:func:`load_artifact`.  Library versions come from package metadata (not imports), so
writing a manifest never drags TVM into a process that did not need it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any, Iterable, Mapping

from nasc.errors import NascError

from .base import Artifact, BuildOptions, Target

MANIFEST = "manifest.json"
FORMAT = "nasc-artifact/1"
CORE_DISTS = ("torch", "numpy", "onnx", "onnxruntime", "apache-tvm", "apache-tvm-ffi", "tensorrt", "nasc")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def library_versions(dists: Iterable[str] = CORE_DISTS) -> dict[str, str]:
    """Installed versions of the named distributions (absent ones are omitted)."""
    out: dict[str, str] = {"python": platform.python_version()}
    for name in dists:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except the manifest, keyed by posix relative path."""
    files: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            files[p.relative_to(root).as_posix()] = sha256_file(p)
    return files


def write_manifest(out_dir: Path, *, backend: str, target: Target, precision: str, entry: str,
                   inputs: Mapping[str, tuple[tuple[int, ...], str]], output_names: Iterable[str],
                   options: BuildOptions, versions: Mapping[str, str],
                   notes: Iterable[str] = (), details: Mapping[str, Any] | None = None) -> Artifact:
    """Hash the directory, write ``manifest.json`` and return the matching :class:`Artifact`."""
    out_dir = Path(out_dir)
    files = hash_tree(out_dir)
    if entry not in files:
        raise NascError(f"internal: entry file {entry!r} missing from artifact {out_dir}")
    shapes = {k: tuple(int(d) for d in s) for k, (s, _) in inputs.items()}
    dtypes = {k: str(dt) for k, (_, dt) in inputs.items()}
    manifest = {
        "format": FORMAT,
        "backend": backend,
        "target": target.to_dict(),
        "precision": precision,
        "entry": entry,
        "files": files,
        "input_shapes": {k: list(v) for k, v in shapes.items()},
        "input_dtypes": dtypes,
        "output_names": list(output_names),
        "versions": dict(versions),
        "seed": options.seed,
        "weights": options.weights,
        "options": options.to_dict(),
        "notes": list(notes),
        "details": dict(details or {}),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return artifact_from_manifest(out_dir, manifest)


def read_manifest(art_dir: Path) -> dict[str, Any]:
    path = Path(art_dir) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NascError(f"{art_dir} is not a nasc artifact (no {MANIFEST})") from None
    except json.JSONDecodeError as e:
        raise NascError(f"{path}: invalid JSON ({e})") from None
    if data.get("format") != FORMAT:
        raise NascError(f"{path}: unknown manifest format {data.get('format')!r} (expected {FORMAT})")
    return data


def update_manifest(art_dir: Path, **fields: Any) -> dict[str, Any]:
    """Add top-level fields (e.g. ``selection`` from ``--backend auto``) to an existing manifest."""
    data = read_manifest(art_dir)
    data.update(fields)
    (Path(art_dir) / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")
    return data


def artifact_from_manifest(art_dir: Path, m: Mapping[str, Any]) -> Artifact:
    target = m["target"]
    return Artifact(
        dir=Path(art_dir),
        target=target["name"] if isinstance(target, Mapping) else str(target),
        backend=m["backend"],
        precision=m["precision"],
        files=dict(m["files"]),
        entry=m["entry"],
        input_shapes={k: tuple(v) for k, v in m["input_shapes"].items()},
        input_dtypes=dict(m.get("input_dtypes", {})),
        output_names=tuple(m.get("output_names", ())),
        notes=tuple(m.get("notes", ())),
        details=dict(m.get("details", {})),
    )


def load_artifact(art_dir: Path | str) -> Artifact:
    return artifact_from_manifest(Path(art_dir), read_manifest(Path(art_dir)))


def verify_files(artifact: Artifact) -> list[str]:
    """Names of files whose sha256 no longer matches the manifest (missing ones included)."""
    bad = []
    for name, digest in artifact.files.items():
        p = artifact.dir / name
        if not p.is_file() or sha256_file(p) != digest:
            bad.append(name)
    return bad
