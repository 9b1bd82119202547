"""`nasc compile`'s progress: which stages there are, which one runs, and how far it is.

On a terminal a live view lists the stages (done, cached, running, still to come) with a
bar per counter of the running stage -- the search's epochs, the measured-latency loop's
rounds, the retraining's epochs -- and the stage's own lines (an epoch's losses, a round's
verdict) scroll above it.  Anywhere else (a pipe, a file, CI) it writes plain lines only:
``[search] running``, ``[train] cached (0123456789ab)``, ``[build] done (3.1s)`` and the
stages' own lines, unchanged, because logs are read by people and by scripts and a
redrawn bar is noise in both.

The counters come from :func:`nasc.progress.tick`, which the work calls on the stream it
writes its lines to (:attr:`StageDisplay.lines`): the work needs no other channel, and
called with a plain stream (``nasc search`` on stderr) it costs nothing.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Protocol, Sequence, TextIO

from .progress import is_terminal, rich_bar

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

PLAN = ("search", "train", "build", "latency", "report")
"""The stages of ``nasc compile`` in order; a stage reported but not planned (a new one)
is shown before the first planned stage still to come."""


class StageDisplay(Protocol):
    @property
    def lines(self) -> TextIO | None:
        """Where a stage's work writes its own lines (and ticks its counters); None: nowhere."""

    def stage(self, name: str, state: str, detail: str = "") -> None:
        """Stage ``name`` is now ``running``, ``cached``, ``done`` or ``failed``; ``detail`` says why
        or how long."""

    def close(self) -> None: ...


def stage_line(name: str, state: str, detail: str = "") -> str:
    """The plain line of a stage event: ``[search] running (its inputs changed)``."""
    return f"[{name}] {state}" + (f" ({detail})" if detail else "")


class PlainStages:
    """One line per stage event; the stages' own lines go to the same stream untouched."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    @property
    def lines(self) -> TextIO | None:
        return self._stream

    def stage(self, name: str, state: str, detail: str = "") -> None:
        if self._stream is not None:
            self._stream.write(stage_line(name, state, detail) + "\n")
            self._stream.flush()

    def close(self) -> None:
        pass


class _Lines(io.StringIO):
    """The stream a stage's work writes to under a live view: each finished line is printed
    above the view, and :meth:`tick` moves the view's counters.  Not a terminal itself, so
    nothing downstream starts a second live view on it."""

    def __init__(self, display: "RichStages") -> None:
        super().__init__()
        self._display = display
        self._partial = ""

    def write(self, s: str) -> int:
        text = self._partial + s
        *done, self._partial = text.split("\n")
        for line in done:
            self._display.print(line)
        return len(s)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def tick(self, what: str, done: int, total: int) -> None:
        self._display.count(what, done, total)


MARKS = {"pending": "·", "running": "▶", "cached": "✓", "done": "✓", "failed": "✗"}


class RichStages:
    """The live view (module docstring) on a ``rich`` console."""

    def __init__(self, console: "Console", plan: Sequence[str] = PLAN) -> None:
        from rich.console import Group
        from rich.live import Live

        self.console = console
        self._order = list(plan)
        self._state: dict[str, tuple[str, str]] = {name: ("pending", "") for name in plan}
        self._bar = rich_bar(console)
        self._counters: dict[str, Any] = {}
        self._lines = _Lines(self)
        self._live = Live(Group(self, self._bar), console=console, refresh_per_second=4, transient=False)
        self._live.start()

    @property
    def lines(self) -> TextIO:
        return self._lines

    def __rich__(self) -> "Table":
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        for name in self._order:
            state, detail = self._state[name]
            style = {"running": "bold", "pending": "dim", "failed": "red"}.get(state, "")
            table.add_row(MARKS[state], name, f"{state}{f' ({detail})' if detail else ''}", style=style)
        return table

    def stage(self, name: str, state: str, detail: str = "") -> None:
        if name not in self._state:
            pending = [i for i, n in enumerate(self._order) if self._state[n][0] == "pending"]
            self._order.insert(pending[0] if pending else len(self._order), name)
        if state == "running":
            for task in self._counters.values():  # the counters of the stage before
                self._bar.remove_task(task)
            self._counters.clear()
        self._state[name] = (state, detail)
        self._live.refresh()

    def count(self, what: str, done: int, total: int) -> None:
        if what not in self._counters:
            self._counters[what] = self._bar.add_task(f"  {what}", total=total, last="")
        self._bar.update(self._counters[what], completed=done, total=total)
        self._live.refresh()

    def print(self, line: str) -> None:
        self._live.console.print(line, markup=False, highlight=False)

    def close(self) -> None:
        if self._lines._partial:
            self.print(self._lines._partial)
        self._live.stop()


def stage_display(stream: TextIO | None, plan: Sequence[str] = PLAN, console: "Console | None" = None) -> StageDisplay:
    """The live view on ``console``, or on ``stream`` when it is a terminal; plain lines otherwise."""
    if console is None and is_terminal(stream):
        from rich.console import Console

        console = Console(file=stream)
    return RichStages(console, plan) if console is not None else PlainStages(stream)


__all__ = ["PLAN", "PlainStages", "RichStages", "StageDisplay", "stage_display", "stage_line"]
