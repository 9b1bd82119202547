"""Error tree and source spans.

Every user-facing failure is a :class:`NascError`.  Errors that come from a
``.nas`` file carry a :class:`Span`, so the CLI can print them the way mature
compilers do (``file:line:col: error: message``, the source line, a caret) and
exit with code 2.  Anything that is *not* a ``NascError`` is a bug in nasc and
exits with code 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True)
class Span:
    """A region of a source file (1-based line and column, end exclusive)."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Note:
    """A secondary message pointing at another place (a definition, the other operand)."""

    message: str
    span: Span | None = None


class NascError(Exception):
    """Base of every error a user can cause; rendered without a traceback."""

    kind = "error"

    def __init__(self, message: str, span: Span | None = None, notes: tuple[Note, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.notes = tuple(notes)
        # The text of the file the span points into, for errors raised before the file
        # reaches a SourceCache (e.g. a file that is not valid UTF-8).
        self.source_text: str | None = None

    def render(self, sources: "SourceCache | None" = None) -> str:
        """Format as ``file:line:col: error: msg`` plus the source line and a caret."""
        if self.source_text is not None and self.span is not None and (
                sources is None or self.span.file not in sources.texts):
            fallback = SourceCache()
            if sources is not None:
                fallback.texts.update(sources.texts)
            fallback.add(self.span.file, self.source_text)
            sources = fallback
        return _render(self.kind, self.message, self.span, self.notes, sources)


class NascSyntaxError(NascError):
    """The file does not parse."""


class NascNameError(NascError):
    """An unknown name, attribute, parameter or import."""


class NascSemanticError(NascError):
    """Arity, shapes, units, choice bounds, sharing, fix paths and similar checks."""


class NascImportError(NascError):
    """An import that cannot be found or forms a cycle."""


class ExperimentError(NascError):
    """An `experiment` section that does not match its schema."""


class VerifyError(NascError):
    """An IR invariant failed (raised by passes' verifiers)."""


class BackendUnavailable(NascError):
    """A backend whose libraries or hardware are absent; carries the install hint."""


class UsageError(NascError):
    """Bad command-line usage that is not tied to a file position."""


@dataclass
class SourceCache:
    """Source texts by file name, so diagnostics can quote the offending line."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, text: str) -> None:
        self.texts[name] = text

    def line(self, name: str, line: int) -> str | None:
        text = self.texts.get(name)
        if text is None:
            return None
        # Only '\n' ends a line, as in the lexer (str.splitlines() would also split at
        # \v, \f, \x1c-\x1e, \x85, \u2028 and \u2029 and shift every later line).
        lines = text.split("\n")
        if 1 <= line <= len(lines):
            return lines[line - 1].rstrip("\r")
        return None


def _caret_block(span: Span, sources: SourceCache | None) -> list[str]:
    src = sources.line(span.file, span.line) if sources else None
    if src is None:
        return []
    # one column per character, as the lexer counts them: a tab shows as one space and
    # control or invisible characters (a NUL in a binary file) as '?'
    shown = "".join(" " if ch == "\t" else ("?" if not ch.isprintable() else ch) for ch in src)
    col = max(1, span.col)
    width = 1
    if span.end_line == span.line and span.end_col > col:
        width = span.end_col - col
    width = max(1, min(width, max(1, len(shown) - col + 1)))
    if len(shown) > _MAX_QUOTE:
        # a very long line (generated or minified input): quote a window around the column
        start = max(0, min(col - 1 - _MAX_QUOTE // 2, len(shown) - _MAX_QUOTE))
        head = "..." if start > 0 else ""
        tail = "..." if start + _MAX_QUOTE < len(shown) else ""
        shown = head + shown[start:start + _MAX_QUOTE] + tail
        col = col - start + len(head)
        width = max(1, min(width, _MAX_QUOTE - (col - len(head) - 1)))
    return [f"    {shown}", "    " + " " * (col - 1) + "^" + "~" * (width - 1)]


_MAX_QUOTE = 160


def _render(kind: str, message: str, span: Span | None, notes: tuple[Note, ...],
            sources: SourceCache | None) -> str:
    out: list[str] = []
    head = f"{span}: " if span else "nasc: "
    out.append(f"{head}{kind}: {message}")
    if span:
        out.extend(_caret_block(span, sources))
    for note in notes:
        nhead = f"{note.span}: " if note.span else ""
        out.append(f"{nhead}note: {note.message}")
        if note.span:
            out.extend(_caret_block(note.span, sources))
    return "\n".join(out)


def did_you_mean(name: str, candidates: "Iterable[str]") -> str:
    """Return "; did you mean 'x'?" for the closest candidate, or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
