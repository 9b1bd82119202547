"""Child processes and temporary folders that do not outlive the nasc run that made them.

Why: builds and isolated measurements run in child processes (TVM compiles, timing in a
fresh interpreter).  When ``nasc`` is killed with SIGKILL it gets no chance to clean up,
and a child started with plain ``subprocess.run`` keeps compiling for minutes with its
temporary folders left behind.  So every child nasc starts goes through :func:`run_child`:

* on Linux the child asks the kernel for ``SIGKILL`` when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``, set in the child between fork and exec, re-checking that the
  parent is still the one that forked it); elsewhere this step is skipped;
* the child leads its own process group, so a timeout or Ctrl-C stops it together with
  whatever it started (TVM's popen workers), not just the direct child;
* its ``TMPDIR`` points into a folder owned by this run (:func:`owned_tempdir`), so the
  files a library creates behind our back are removed with that folder.

Owned folders live under one root (``$TMPDIR/nasc-<uid>``) and carry the owner's pid (and
pid namespace) in their name; each new one first removes the folders whose owner is no longer alive, which
is how a run killed with SIGKILL gets cleaned up by the next.  The parent-death signal is
tied to the *thread* that started the child, so start children from a thread that lives
as long as the call (every caller here does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

PR_SET_PDEATHSIG = 1
ROOT_NAME = "nasc-{uid}"


def temp_root() -> Path:
    """The per-user folder that holds every owned temporary folder (mode 0700)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    root = Path(tempfile.gettempdir()) / ROOT_NAME.format(uid=uid)
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def pid_namespace() -> str:
    """An id of this process's pid namespace: a /tmp shared between containers holds folders
    whose pids mean nothing here, and those are never swept."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


def _owner(name: str) -> int | None:
    """The pid in an owned folder's name ``<prefix>.<pid>.<pid namespace>.<random>``, if it is
    of this pid namespace."""
    parts = name.rsplit(".", 3)
    if len(parts) != 4 or not parts[1].isdigit() or parts[2] != pid_namespace():
        return None
    return int(parts[1])


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists; anything unclear counts as alive (its folder is kept)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):  # someone else's, or not a pid at all
        return True
    return True


def sweep_dead(root: Path | None = None) -> list[Path]:
    """Remove owned folders whose owner process is gone; returns what was removed."""
    root = root or temp_root()
    removed = []
    for entry in root.iterdir():
        pid = _owner(entry.name)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


@contextmanager
def owned_tempdir(prefix: str) -> Iterator[Path]:
    """A temporary folder named after this process, removed on exit (or by a later run's
    sweep if this one is killed first)."""
    root = temp_root()
    sweep_dead(root)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}.{os.getpid()}.{pid_namespace()}.", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that arms the parent-death signal, or None where prctl does not exist.

    libc is resolved here, before the fork: the child only makes two system calls."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return arm


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the child's whole process group and reap the child."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def run_child(cmd: Sequence[str], *, env: Mapping[str, str], timeout: float,
              tmpdir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(cmd, capture_output=True, text=True)`` for a child that dies with us:
    own process group, parent-death signal, ``TMPDIR`` inside ``tmpdir`` when given.

    Raises ``subprocess.TimeoutExpired`` after killing the group."""
    child_env = dict(env)
    if tmpdir is not None:
        scratch = tmpdir / "tmp"
        scratch.mkdir(exist_ok=True)
        child_env.update(TMPDIR=str(scratch), TEMP=str(scratch), TMP=str(scratch))
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env,
                            preexec_fn=_die_with_parent(), process_group=0)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:  # timeout, Ctrl-C: the whole group goes
        kill_group(proc)
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
