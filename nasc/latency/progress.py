"""How a long measurement shows its progress: a live bar on a terminal, plain lines elsewhere.

A profile measures hundreds of kernels for minutes or hours; a person watching wants a bar
with the rate and the time left, while a log file or CI wants one line per item (a bar's
redraws are noise there).  Both get the same calls.
"""

from __future__ import annotations

from typing import Any, Protocol, TextIO


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
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

        self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        TextColumn("{task.fields[last]}"), console=Console(file=stream), transient=False)
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


def progress_for(stream: TextIO) -> Progress:
    """A bar when ``stream`` is a terminal, plain lines otherwise."""
    isatty = getattr(stream, "isatty", None)
    return RichProgress(stream) if callable(isatty) and isatty() else PlainProgress(stream)


__all__ = ["PlainProgress", "Progress", "RichProgress", "progress_for"]
