"""Writing a run's files so that an interruption never leaves a half-written one.

Every file nasc writes into an output directory goes through :func:`atomic_write`: the
bytes go to a temporary file in the same directory, are flushed to disk, and replace the
target with ``os.replace`` (atomic on POSIX within one filesystem).  A crash, SIGKILL or a
full disk then leaves either the old file or the new one, never a 0-byte ``report.json``;
the temporary file is removed when the write fails.  Errors the user can act on (disk
full, no permission, a read-only filesystem) become a :class:`~nasc.errors.NascError`
naming the file, so they exit 2 instead of printing a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import NascError

USER_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
               errno.EROFS: "the filesystem is read-only", errno.ENOTDIR: "a parent is not a directory",
               errno.EEXIST: "a file is in the way of a directory it needs",
               errno.EISDIR: "it is a directory", errno.EFBIG: "the file exceeds the allowed file size"}
"""OSErrors caused by the environment the user controls, not by nasc."""


class OutputError(NascError):
    """A file could not be written for a reason the user can fix (disk full, permissions)."""


def user_os_error(err: OSError, path: Path | str | None = None, verb: str = "write") -> OutputError | None:
    """The user-facing error for an OSError the user can act on, or None for anything else."""
    if isinstance(err, BrokenPipeError):
        return None
    why = USER_ERRNOS.get(err.errno or -1)
    if why is None:
        return None
    where = path if path is not None else err.filename
    return OutputError(f"cannot {verb} {where}: {why}" if where else f"cannot {verb} a file: {why}")


def check_writable_dir(out: Path | str, flag: str = "--out") -> Path:
    """Refuse, changing nothing, an ``out`` that cannot become a directory this process writes:
    an existing file, a file in the way among its parents, or a nearest existing folder where
    a real write fails (permission bits tell nothing for root, read-only mounts or full disks).
    Returns that nearest existing folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{flag} {out} is a file, not a directory")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{flag} {out}: {existing} is a file, not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".nasc-write-test.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{flag} {out}: cannot write in {existing} ({err.strerror or err})") from None
    return existing


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path beside ``path``; on normal exit it replaces ``path`` atomically.

    For writers that need a file name (``safetensors.save_file``, ``np.savez``).  The
    temporary name keeps the suffix, so libraries that dispatch on it still work.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise user_os_error(err, path) or err from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        code = _errno_of(err)
        user = user_os_error(OSError(code, os.strerror(code)), path) if code is not None else None
        if user is not None:
            raise user from None
        raise


def _errno_of(err: BaseException) -> int | None:
    """The OS error number behind an exception: an OSError's own, or the ``(os error N)`` that
    native writers such as safetensors put in their message."""
    if isinstance(err, OSError):
        return err.errno
    m = re.search(r"\(os error (\d+)\)", str(err))
    return int(m.group(1)) if m else None


def atomic_write(path: Path | str, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` atomically."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(raw)


def write_json(path: Path | str, doc: Any, indent: int | None = 2) -> None:
    """``json.dumps(doc)`` plus a newline, written atomically."""
    atomic_write(path, json.dumps(doc, indent=indent, default=str) + "\n")


__all__ = ["OutputError", "atomic_path", "atomic_write", "check_writable_dir", "user_os_error", "write_json"]
