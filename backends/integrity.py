"""Checking an artifact folder against its manifest before anything in it is loaded.

Why: an artifact is executable input.  A TVM ``model.so`` is native code that
``dlopen`` runs on load, a truncated one crashes the loader with SIGBUS, and a manifest
whose ``entry`` is ``../../x`` would make the loader open a file outside the artifact.  So
every load path (``nasc measure``, ``load_and_run``, the isolated measurement child, the
RPC upload) first checks, here:

* layout, always: ``entry`` and every listed name are relative, normalized posix paths
  (no ``..``, no ``.``, no absolute path, no empty component), resolve inside the folder
  (no symlink leads out), and ``entry`` is listed and is a file;
* contents, unless the caller opts out (``verify=False``, ``nasc measure --no-verify``):
  every listed file exists with the sha256 the manifest gives, and no other file is in
  the folder (an unlisted file could be loaded too: a library next to ``model.so``, an
  engine built on the device).

Layout is checked even when contents are not: editing an artifact on purpose never needs
a path that leaves it.  This module imports nothing heavy, so ``import nasc`` stays cheap.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterable, Mapping, NamedTuple

from nasc.errors import NascError

from .base import Artifact

MANIFEST = "manifest.json"
OPT_OUT = "nasc measure --no-verify, verify=False in the API"


class ArtifactIntegrityError(NascError):
    """An artifact folder that does not match its manifest; nothing in it was loaded."""


class Problem(NamedTuple):
    """One file that fails the check: its listed name and what is wrong (``missing``,
    ``changed``, ``outside the artifact``, ``not listed in the manifest``, ...)."""

    name: str
    what: str

    def __str__(self) -> str:
        return f"{self.name}: {self.what}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def path_problem(root: Path, name: object) -> str | None:
    """Why ``name`` is not a safe path inside ``root``, or None."""
    if not isinstance(name, str) or not name:
        return "not a file name"
    pure = PurePosixPath(name)
    if pure.is_absolute() or PureWindowsPath(name).is_absolute() or PureWindowsPath(name).drive:
        return "outside the artifact (absolute path)"
    if "\\" in name or "\x00" in name:
        return "not a portable relative path"
    if ".." in pure.parts:
        return "outside the artifact ('..' in the path)"
    if pure.as_posix() != name or "." in name.split("/"):
        return "not a normalized path"
    real_root = root.resolve()
    if not (root / name).resolve().is_relative_to(real_root):
        return "outside the artifact (a symlink leads out of it)"
    return None


def layout_problems(root: Path, entry: object, files: Mapping[str, str]) -> list[Problem]:
    """Problems with the names the manifest gives (no file is read)."""
    out = [Problem(str(n), why) for n in files if (why := path_problem(root, n))]
    why = path_problem(root, entry)
    if why:
        out.append(Problem(f"entry {entry!r}", why))
    elif entry not in files:
        out.append(Problem(str(entry), "the entry is not listed in the manifest's files"))
    elif not (root / str(entry)).is_file():
        out.append(Problem(str(entry), "missing (the entry)"))
    return out


def content_problems(root: Path, files: Mapping[str, str]) -> list[Problem]:
    """Listed files that are missing or whose sha256 differs, then files present but not listed."""
    out: list[Problem] = []
    for name, digest in files.items():
        p = root / name
        if not p.exists() and not p.is_symlink():
            out.append(Problem(name, "missing"))
        elif not p.is_file():
            out.append(Problem(name, "not a regular file"))
        else:
            actual = sha256_file(p)
            if actual != digest:
                out.append(Problem(name, f"changed (now {p.stat().st_size} bytes, sha256 {actual[:16]}...; "
                                         f"the manifest says {digest[:16]}...)"))
    out.extend(Problem(name, "present but not listed in the manifest") for name in unlisted(root, files))
    return out


def unlisted(root: Path, files: Iterable[str]) -> list[str]:
    """Files (and symlinks) in ``root`` that the manifest does not list, without following links."""
    listed = set(files) | {MANIFEST}
    found = []
    for folder, dirs, names in os.walk(root):
        rel = Path(folder).relative_to(root)
        for d in [d for d in dirs if (Path(folder) / d).is_symlink()]:
            found.append((rel / d).as_posix())
        for n in names:
            name = (rel / n).as_posix()
            if name not in listed:
                found.append(name)
    return sorted(found)


def verify_artifact(artifact: Artifact, *, contents: bool = True) -> Artifact:
    """Raise :class:`ArtifactIntegrityError` listing every problem, else return ``artifact``.

    Layout first: a file named by an unsafe path is never opened, not even to hash it."""
    check_folder(artifact.dir, artifact.entry, artifact.files, contents=contents)
    return artifact


def check_folder(root: Path, entry: object, files: Mapping[str, str], *, contents: bool = True) -> None:
    """:func:`verify_artifact` on a folder and the names its manifest gives (an artifact's, or a
    bundle's whose ``entry`` is its primary form's manifest)."""
    if not root.is_dir():
        raise ArtifactIntegrityError(f"artifact folder {root} is missing")
    layout = layout_problems(root, entry, files)
    if layout:
        raise _error(root, layout, "")
    found = content_problems(root, files) if contents else []
    if found:
        raise _error(root, found, f"\nif the artifact was edited on purpose, skip the sha256 check ({OPT_OUT})")


def _error(root: Path, found: list[Problem], hint: str) -> ArtifactIntegrityError:
    lines = "\n".join(f"  {p}" for p in found)
    return ArtifactIntegrityError(f"artifact {root} does not match its {MANIFEST}; nothing was loaded:\n"
                                  f"{lines}{hint}")


def verify_files(artifact: Artifact) -> list[str]:
    """Names of listed files that are missing or whose sha256 no longer matches the manifest."""
    return [p.name for p in content_problems(artifact.dir, artifact.files)
            if p.what == "missing" or p.what.startswith("changed") or p.what == "not a regular file"]
