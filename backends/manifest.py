"""``manifest.json``: the contract between a build and everything after it.

Every build ends in :func:`write_manifest`, which hashes every file it left in the
artifact directory; ``nasc measure DIR`` and device-side scripts start from
:func:`load_artifact`, which checks those hashes before anything is loaded.  Library
versions come from package metadata (not imports), so writing a manifest never drags TVM
into a process that did not need it.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any, Iterable, Mapping

from nasc.errors import NascError
from nasc.fsio import atomic_write

from .base import Artifact, BuildOptions, Target
from .integrity import MANIFEST, check_folder, sha256_file, verify_artifact

FORMAT = "nasc-artifact/1"
BUNDLE_FORMAT = "nasc-bundle/1"
"""A folder of several forms of one model (:mod:`nasc.backends.bundle`), each an artifact."""
CORE_DISTS = ("torch", "numpy", "onnx", "onnxruntime", "apache-tvm", "apache-tvm-ffi", "tensorrt", "nasc")


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
    """sha256 of every file under ``root`` except its manifest, keyed by posix relative path (the
    manifests of a bundle's forms are files of the bundle)."""
    files: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p != root / MANIFEST:
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
    atomic_write(out_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return artifact_from_manifest(out_dir, manifest)


def read_manifest(art_dir: Path | str) -> dict[str, Any]:
    """The parsed manifest of ``art_dir``, its fields' types checked (a NascError otherwise)."""
    art_dir = Path(art_dir)
    path = art_dir / MANIFEST
    if not art_dir.exists():
        raise NascError(f"artifact folder {art_dir} does not exist")
    if not art_dir.is_dir():
        raise NascError(f"{art_dir} is a file; an artifact is a folder with a {MANIFEST} (the --out of nasc build)")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NascError(f"{art_dir} is not a nasc artifact (no {MANIFEST})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise NascError(f"cannot read {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise NascError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise NascError(f"{path}: unknown manifest format {found!r} (expected {FORMAT})")
    _check_fields(path, data)
    return data


def _check_fields(path: Path, m: Mapping[str, Any]) -> None:
    """The fields :func:`artifact_from_manifest` reads, with the types it needs."""
    def fail(field: str, want: str) -> None:
        raise NascError(f"{path}: field '{field}' must be {want}")

    for key in ("backend", "precision", "entry"):
        if not isinstance(m.get(key), str):
            fail(key, "a string")
    target = m.get("target")
    if not (isinstance(target, Mapping) and all(isinstance(target.get(k), str) for k in ("name", "kind"))):
        fail("target", "a target record with a 'name' and a 'kind'")
    files = m.get("files")
    if not isinstance(files, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        fail("files", "an object of file name -> sha256")
    shapes = m.get("input_shapes")
    if not isinstance(shapes, Mapping) or not all(
            isinstance(v, list) and all(isinstance(d, int) and d >= 0 for d in v) for v in shapes.values()):
        fail("input_shapes", "an object of input name -> list of sizes")
    for key, kind in (("input_dtypes", Mapping), ("output_names", list), ("notes", list), ("details", Mapping)):
        if key in m and not isinstance(m[key], kind):
            fail(key, "an object" if kind is Mapping else "a list")


def update_manifest(art_dir: Path, **fields: Any) -> dict[str, Any]:
    """Add top-level fields (e.g. ``selection`` from ``--backend auto``) to an existing manifest."""
    data = read_manifest(art_dir)
    data.update(fields)
    atomic_write(Path(art_dir) / MANIFEST, json.dumps(data, indent=2) + "\n")
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


def load_artifact(art_dir: Path | str, *, verify: bool = True) -> Artifact:
    """The artifact in ``art_dir``, checked against its manifest before anyone loads it:
    layout always, sha256 of every file unless ``verify=False`` (see :mod:`.integrity`).
    A bundle gives its primary form, after the bundle's own files are checked the same way."""
    folder = primary_form(Path(art_dir), verify=verify)
    art = artifact_from_manifest(folder, read_manifest(folder))
    return verify_artifact(art, contents=verify)


def bundle_manifest(art_dir: Path) -> dict[str, Any] | None:
    """The manifest of a bundle folder (fields checked); None when ``art_dir`` is not a bundle."""
    try:
        data = json.loads((art_dir / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # read_manifest says what is wrong with it
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        return None
    forms, files = data.get("forms"), data.get("files")
    if not (isinstance(data.get("primary"), str) and isinstance(forms, Mapping) and data["primary"] in forms
            and isinstance(files, Mapping) and all(isinstance(v, str) for v in files.values())):
        raise NascError(f"{art_dir / MANIFEST}: a {BUNDLE_FORMAT} manifest needs 'primary' naming one of its "
                        "'forms' and 'files' (file name -> sha256)")
    return data


def primary_form(art_dir: Path, *, verify: bool = True) -> Path:
    """``art_dir`` itself, or for a bundle the folder of its primary form once the bundle's
    files are checked (layout always; sha256 and unlisted files unless ``verify=False``)."""
    doc = bundle_manifest(art_dir)
    if doc is None:
        return art_dir
    check_folder(art_dir, f"{doc['primary']}/{MANIFEST}", doc["files"], contents=verify)
    return art_dir / doc["primary"]
