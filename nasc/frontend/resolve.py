"""Module loading and name resolution across files.

``import "f.nas" [as m]`` resolves relative to the importing file, then each
directory of ``$NASC_PATH``, then the standard library (``nasc/stdlib``).  An
import of a ``.py`` file loads custom ops: the module must define ``ops``, an
:class:`~nasc.ir.ops.OpLibrary` (see :func:`nasc.op_library`).  Cycles are
reported with the whole chain.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import NascImportError, NascNameError, NascSemanticError, Note, SourceCache, Span
from ..ir.ops import OpError, OpLibrary, builtin_library
from . import ast as A
from .parse import Parser
from .values import BlockVal, LoadedModule, Namespace, OpVal, SpaceRef

MAX_IMPORT_DEPTH = 64
"""Longest chain of files importing each other: a real project stays far below it, and an
explicit limit gives a located error instead of exhausting the interpreter's stack."""


@dataclass
class Loader:
    """Loads files once each, tracking the import chain to report cycles."""

    parser: Parser = field(default_factory=Parser)
    sources: SourceCache = field(default_factory=SourceCache)
    ops: OpLibrary = field(default_factory=builtin_library)
    search_path: tuple[Path, ...] = ()
    _cache: dict[Path, LoadedModule] = field(default_factory=dict)
    _stack: list[tuple[Path, Span | None]] = field(default_factory=list)
    _shown: dict[Path, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, ops: OpLibrary | None = None) -> "Loader":
        raw = os.environ.get("NASC_PATH", "")
        paths = tuple(Path(p) for p in raw.split(os.pathsep) if p)
        return cls(ops=ops or builtin_library(), search_path=paths)

    def stdlib_dir(self) -> Path:
        return Path(str(resources.files("nasc.stdlib")))

    # -- entry points
    def load_file(self, path: str | os.PathLike[str]) -> LoadedModule:
        p = Path(path)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise NascImportError(f"no such file: {p}") from None
        except IsADirectoryError:
            raise NascImportError(f"{p} is a directory, not a .nas file") from None
        except OSError as err:
            raise NascImportError(f"cannot read {p}: {err.strerror}") from None
        return self._load(p.resolve(), str(path), _decode(data, str(path)), None)

    def load_text(self, text: str, name: str = "<input>", base: Path | None = None) -> LoadedModule:
        fake = (base or Path.cwd()) / f"__text_{abs(hash((name, text)))}.nas"
        return self._load(fake, name, text, None)

    # -- internals
    def _load(self, real: Path, shown: str, text: str, span: Span | None, file: str | None = None) -> LoadedModule:
        """Parse and bind one file; `shown` names the module in messages (the import path as
        written), `file` names it in positions (a path the user can open)."""
        file = file or shown
        if real in self._cache:
            return self._cache[real]
        chain = [p for p, _ in self._stack]
        if real in chain:
            start = chain.index(real)
            names = [self._shown.get(p, p.name) for p in chain[start:]] + [file]
            what = f"'{file}' imports itself" if len(names) == 2 else "import cycle: " + " -> ".join(names)
            raise NascImportError(what, self._string_span(span) if span else None,
                                  tuple(Note(f"'{self._shown.get(p, p.name)}' imported here", self._string_span(s))
                                        for p, s in self._stack[start + 1:] if s))
        if len(self._stack) >= MAX_IMPORT_DEPTH:
            raise NascImportError(f"imports are nested more than {MAX_IMPORT_DEPTH} files deep (this import of "
                                  f"'{file}' is at depth {len(self._stack) + 1})",
                                  self._string_span(span) if span else None)
        self.sources.add(file, text)
        self._shown[real] = file
        module_ast = self.parser.parse(text, file)
        mod = LoadedModule(shown, real, module_ast, file=file)
        self._stack.append((real, span))
        try:
            self._bind_top_level(mod)
        finally:
            self._stack.pop()
        self._cache[real] = mod
        return mod

    def _define(self, mod: LoadedModule, name: str, value: Any, span: Span) -> None:
        if name in mod.names:
            first = mod.kind_of(name) if not isinstance(mod.names[name], A.Const) else "const"
            if first == "module":
                first = "an import"
            elif first == "name":
                first = "a definition"
            else:
                first = ("an " if first[0] in "aeiou" else "a ") + first
            raise NascNameError(f"'{name}' is defined twice (first as {first})", span,
                                (Note("first definition", mod.spans.get(name)),))
        mod.names[name] = value
        mod.spans[name] = span

    def _bind_top_level(self, mod: LoadedModule) -> None:
        assert mod.ast is not None
        for item in mod.ast.items:
            if isinstance(item, A.Import):
                target = self.resolve_import(item.path, mod, item.span)
                alias = item.alias or _default_alias(item.path, item.span)
                self._define(mod, alias, Namespace(target, alias), item.span)
            elif isinstance(item, A.BlockDef):
                self._define(mod, item.name, BlockVal(item, mod, span=item.span), item.name_span)
            elif isinstance(item, A.SpaceDef):
                self._define(mod, item.name, SpaceRef(item, mod), item.name_span)
            elif isinstance(item, A.Const):
                self._define(mod, item.name, item, item.span)
                mod.consts[item.name] = item
            elif isinstance(item, A.Experiment):
                if item.name in mod.experiments:
                    label = f"experiment '{item.name}'" if item.name else "an unnamed experiment"
                    raise NascNameError(f"{label} is defined twice", item.span,
                                        (Note("first definition", mod.experiments[item.name].span),))
                mod.experiments[item.name] = item

    def resolve_import(self, path: str, importer: LoadedModule, span: Span) -> LoadedModule:
        candidates: list[Path] = []
        if importer.path is not None:
            candidates.append(importer.path.parent / path)
        candidates.extend(d / path for d in self.search_path)
        std = self.stdlib_dir()
        candidates.append(std / path)
        if path.startswith("std/"):
            candidates.append(std / path[4:])
        for i, cand in enumerate(candidates):
            try:
                found = cand.is_file()
            except (OSError, ValueError):  # a path too long or with a NUL byte: not a file
                found = False
            if found:
                real = cand.resolve()
                # positions name the file as the user can open it: next to the importer, the
                # importer's directory joined with the path; elsewhere, the path as written
                file = path
                if i == 0 and importer.path is not None:
                    file = os.path.normpath(os.path.join(os.path.dirname(importer.file or importer.name), path))
                if real.suffix == ".py":
                    return self._load_py(real, path, span)
                try:
                    data = real.read_bytes()
                except OSError as err:
                    raise NascImportError(f"cannot read '{path}': {err.strerror}", span) from None
                return self._load(real, path, _decode(data, file), span, file)
        hint = ""
        near: list[str] = []
        for base in candidates[:1] + [std / path]:
            folder = base.parent
            try:
                near += [os.path.join(os.path.dirname(path), p.name) for p in folder.iterdir()
                         if p.suffix in (".nas", ".py") and p.is_file()]
            except (OSError, ValueError):
                continue
        close = difflib.get_close_matches(path, sorted(set(near)), n=1, cutoff=0.6)
        if close:
            hint = f"; did you mean '{close[0]}'?"
        raise NascImportError(f"cannot find '{path}' (searched next to the importing file, in $NASC_PATH and in "
                              f"the standard library){hint}", self._string_span(span))

    def _string_span(self, span: Span) -> Span:
        """The span of the quoted path in `import "path" ...` (the statement's span otherwise)."""
        line = self.sources.line(span.file, span.line) or ""
        start = line.find('"', span.col - 1)
        end = line.find('"', start + 1) if start >= 0 else -1
        if start < 0 or end < 0:
            return span
        return Span(span.file, span.line, start + 1, span.line, end + 2)

    def _load_py(self, real: Path, shown: str, span: Span) -> LoadedModule:
        if real in self._cache:
            return self._cache[real]
        spec = importlib.util.spec_from_file_location(f"nasc_user_ops_{abs(hash(str(real)))}", real)
        if spec is None or spec.loader is None:
            raise NascImportError(f"cannot load '{shown}' as a Python module", self._string_span(span))
        pymod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(pymod)
        except Exception as err:  # user code: report, never crash
            raise NascImportError(f"loading '{shown}' failed: {type(err).__name__}: {err}",
                                  self._string_span(span)) from None
        lib = getattr(pymod, "ops", None)
        if not isinstance(lib, OpLibrary):
            raise NascImportError(f"'{shown}' must define `ops = nasc.op_library()` and register its ops "
                                  "on it", self._string_span(span))
        try:
            self.ops.merge(lib, f"'{shown}'")
        except OpError as err:
            raise NascImportError(str(err), self._string_span(span)) from None
        mod = LoadedModule(shown, real, None, ops=lib)
        for name, opdef in lib.ops.items():
            mod.names[name] = OpVal(opdef, self.ops)
        self._cache[real] = mod
        return mod


def _default_alias(path: str, span: Span) -> str:
    stem = Path(path).stem
    if not stem.isidentifier():
        raise NascSemanticError(f"cannot derive a name from '{path}'; write `import \"{path}\" as NAME`", span)
    return stem


def _decode(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        # the bytes before the bad one decoded fine: count lines and columns in them
        prefix = data[:err.start].decode("utf-8", errors="replace")
        line = prefix.count("\n") + 1
        col = len(prefix) - (prefix.rfind("\n") + 1) + 1
        from ..errors import NascSyntaxError

        error = NascSyntaxError(f"the file is not valid UTF-8 text: byte 0x{data[err.start]:02X} cannot be "
                                "decoded (is this a binary file?)", Span(name, line, col, line, col + 1))
        error.source_text = data.decode("utf-8", errors="replace")
        raise error from None
    return text[1:] if text.startswith("\ufeff") else text  # a byte-order mark is not part of the text
