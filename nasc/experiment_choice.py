"""Which experiment a stage runs with: one rule for search, train, opt, build and compile.

Why one function: every stage after parsing needs the dataset, split and seed, and working
out which ``experiment`` section applies in each stage separately let them disagree about
where a path is relative to.  The rule, first match wins:

1. ``--experiment [FILE:]NAME``: FILE as typed (relative to the working directory); without
   FILE, the section NAME of the file itself;
2. the ``# experiment: PATH :: NAME`` header that ``nasc search`` and ``nasc freeze`` write
   into an arch: PATH relative to the arch's folder (``nasc search`` writes it so), else to the
   working directory (``nasc freeze`` records the path it was given).  A header whose file is
   in neither place is an error, never a silent fall-back to other data;
3. the file's own experiment section (it must be the only one);
4. no section: the schema defaults, and no reference -- stages that need a dataset of the
   user's (int8 calibration, accuracy reports) then have none.

A named file (by ``--experiment`` or a header) must have an experiment section.  ``--set``
overrides apply in every case.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .errors import UsageError
from .experiment import header_reference, resolve, select

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .api import Compiled
    from .frontend.values import LoadedModule

UNNAMED = "<unnamed>"
"""How ``nasc freeze`` names an unnamed section in a header."""


@dataclass(frozen=True)
class ChosenExperiment:
    """The resolved settings and the section they came from (``path`` None: schema defaults)."""

    config: dict[str, Any]
    path: Path | None = None
    name: str = ""

    def reference(self, relative_to: Path | None = None) -> str | None:
        """``PATH :: NAME`` -- the form an arch's header records -- with PATH relative to the
        folder ``relative_to`` (where the arch is written) or absolute; None without a section."""
        if self.path is None:
            return None
        shown = os.path.relpath(self.path, relative_to.resolve()) if relative_to is not None else str(self.path)
        return f"{shown} :: {self.name}"


def experiment_for(compiled: "Compiled", experiment: str | None = None,
                   overrides: Sequence[str] = ()) -> ChosenExperiment:
    """The experiment of a loaded space or arch by the rule of this module, with ``overrides``
    (``--set key=value``) applied."""
    module, name, named_by = _source(compiled, experiment)
    exp, found = select(module, name)
    if exp is None:
        if named_by:
            raise UsageError(f"{module.name} has no experiment section (named by {named_by})")
        return ChosenExperiment(resolve(None, list(overrides)))
    return ChosenExperiment(resolve(exp, list(overrides)), module.path or Path(module.name), found or "")


def _source(compiled: "Compiled", experiment: str | None) -> tuple["LoadedModule", str | None, str | None]:
    """The module holding the section, the section's name (None: its only one) and what named
    the module (None: the file itself)."""
    from . import api

    if experiment:
        path, _, name = experiment.rpartition(":")
        if not path:
            return compiled.module, name or None, None
        return api.load(path, compiled.loader).module, name or None, f"--experiment {experiment}"
    ref = header_reference(_text(compiled))
    if ref is None:
        return compiled.module, None, None
    path, name = ref
    header = f"the '# experiment: {path} :: {name}' line of {compiled.module.name}"
    module = api.load(_header_file(compiled.module, path, header), compiled.loader).module
    return module, None if name in ("", UNNAMED) else name, header


def _text(compiled: "Compiled") -> str:
    """The source the file was parsed from: the header is read from what was loaded."""
    module = compiled.module
    text = compiled.loader.sources.texts.get(module.file or module.name)
    if text is None and module.path is not None and module.path.is_file():
        text = module.path.read_text(encoding="utf-8", errors="replace")
    return text or ""


def _header_file(module: "LoadedModule", path: str, header: str) -> Path:
    """Where a header's PATH is: next to the arch, else in the working directory."""
    here = module.path.parent if module.path is not None else Path.cwd()
    for candidate in (here / path, Path(path)):
        if candidate.is_file():
            return candidate
    raise UsageError(f"{header} names a file found neither next to the arch ({here / path}) nor in the working "
                     "directory; correct the line or pass --experiment FILE:NAME")
