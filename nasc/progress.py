"""How long work shows its progress: a live bar on a terminal, plain lines elsewhere.

A profile measures hundreds of kernels for minutes or hours; a person watching wants a bar
with the rate and the time left, while a log file or CI wants one line per item (a bar's
redraws are noise there).  Both get the same calls.  ``nasc compile``'s stage display
(:mod:`nasc.stage_display`) draws its counters with the same bar (:func:`rich_bar`), and
work that writes lines to a stream -- a search's epochs, a retraining's, the rounds of the
measured-latency loop -- says how far it is with :func:`tick`, which only a display hears.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TextIO, runtime_checkable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as Bar


class Progress(Protocol):
    def start(self, total: int, what: str) -> None:
        """Begin counting ``total`` items of ``what``."""

    def advance(self, line: str) -> None:
        """One item done; ``line`` says which and its result."""

    def note(self, text: str) -> None:
        """A message between items (an estimate, a warning)."""

    def close(self) -> None: ...


class PlainProgress:
    """One line per item: ``[3/112] <line>``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.total = 0
        self.done = 0

    def start(self, total: int, what: str) -> None:
        self.total, self.done = total, 0

    def advance(self, line: str) -> None:
        self.done += 1
        width = len(str(self.total))
        self.stream.write(f"[{self.done:>{width}}/{self.total}] {line}\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class RichProgress:
    """A ``rich`` bar (count, rate, time left) with the last item below it."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console

        self._bar = rich_bar(Console(file=stream))
        self._task: Any = None

    def start(self, total: int, what: str) -> None:
        if self._task is None:
            self._bar.start()
        else:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(what, total=total, last="")

    def advance(self, line: str) -> None:
        self._bar.update(self._task, advance=1, last=line)

    def note(self, text: str) -> None:
        self._bar.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        if self._task is not None:
            self._bar.stop()


def rich_bar(console: "Console") -> "Bar":
    """The bar every live display draws: description, bar, count, time left, the last item
    (a task's ``last`` field).  Not started: :class:`RichProgress` starts it, a stage display
    renders it inside its own live view."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

    return Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
               TextColumn("{task.fields[last]}"), console=console, transient=False)


def is_terminal(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a terminal a live display may redraw (not a file, pipe or CI log)."""
    isatty = getattr(stream, "isatty", None)
    return callable(isatty) and bool(isatty())


def progress_for(stream: TextIO) -> Progress:
    """A bar when ``stream`` is a terminal, plain lines otherwise."""
    return RichProgress(stream) if is_terminal(stream) else PlainProgress(stream)


@runtime_checkable
class Ticks(Protocol):
    """A stream that also counts: a stage display's line stream (:mod:`nasc.stage_display`)."""

    def tick(self, what: str, done: int, total: int) -> None:
        """``done`` of ``total`` items of ``what`` (``search epoch``, ``round``) are finished."""


def tick(stream: TextIO | None, what: str, done: int, total: int) -> None:
    """Say how far counted work is to the stream its lines go to.  A plain stream (stderr, a
    file) has nothing to draw it with and keeps only the lines, so this does nothing there:
    the work's own lines stay what they were."""
    if isinstance(stream, Ticks):
        stream.tick(what, done, total)


__all__ = ["PlainProgress", "Progress", "RichProgress", "Ticks", "is_terminal", "progress_for", "rich_bar", "tick"]
