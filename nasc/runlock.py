"""One run per output directory: a lock that a second run sees at once.

Two ``nasc compile --out D`` at the same time would interleave their logs and leave D
holding one run's arch beside the other's weights.  Each command that writes an output
directory holds an exclusive ``flock`` on ``.D.nasc-lock`` beside ``D`` for its whole run and
writes its pid, host, command and start time into the file.  The lock lives beside the
directory, not in it, so an artifact directory holds exactly the files its manifest lists.  ``flock`` is released by the kernel when
the holder dies, even by SIGKILL, so a stale lock never blocks anyone: the next run takes
the directory over and says so (the file still names the dead holder).  A clean exit
empties the file, which is how a later run tells "finished" from "died".
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator, TextIO

from .errors import NascError, UsageError
from .fsio import check_writable_dir


def lock_path(out: Path) -> Path:
    """Where the lock of run directory ``out`` lives: ``.NAME.nasc-lock`` in its parent."""
    real = Path(out).resolve()
    return real.parent / f".{real.name or 'root'}.nasc-lock"


class DirectoryBusy(NascError):
    """Another live nasc run holds the output directory."""


def _holder(fd: int) -> dict[str, object]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 4096)
        doc = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(holder: dict[str, object]) -> str:
    when = holder.get("started")
    since = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(float(when))) \
        if isinstance(when, (int, float)) else ""
    return f"{holder.get('command', 'another nasc run')} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}{since})"


@contextlib.contextmanager
def locked_output(out: Path, command: str, *, flag: str = "--out", log: TextIO | None = None) -> Iterator[Path]:
    """Hold the lock of run directory ``out`` while the body runs (the body creates ``out``).

    Raises :class:`DirectoryBusy` (exit 2) at once when a live run holds it, naming that run.
    """
    out = Path(out)
    check_writable_dir(out, flag)
    path = lock_path(out)
    try:  # the lock lives in the parent: create it, not ``out``, so a refused run leaves nothing behind
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"{flag} {out}: cannot create {path.parent} ({err.strerror})") from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UsageError(f"{flag} {out}: cannot write in {path.parent} ({err.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DirectoryBusy(f"{out} is in use by {_describe(_holder(fd))}; wait for it to finish or choose "
                                f"another {flag}") from None
        previous = _holder(fd)
        if previous and log is not None:
            log.write(f"warning: taking over {out}: {_describe(previous)} ended without finishing\n")
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "started": time.time()}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(me) + "\n").encode())
        os.fsync(fd)
        try:
            yield out
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


def command_line(argv: list[str] | None = None) -> str:
    """How the holder is named in a busy message: ``nasc compile examples/x.nas ...``."""
    args = sys.argv[1:] if argv is None else argv
    text = " ".join(["nasc", *args])
    return text if len(text) <= 120 else text[:117] + "..."


__all__ = ["DirectoryBusy", "command_line", "lock_path", "locked_output"]
