"""The latency store: every measured (or imported) latency, in one SQLite file per user.

Several processes share it at once -- a profiler filling kernel tables, a search reading
them, an import from a device farm -- so it is opened the way SQLite is safe under
concurrency: WAL journal (readers never block the writer), a busy timeout (a writer waits
for the one ahead of it instead of failing with "database is locked") and every write in
one ``BEGIN IMMEDIATE`` transaction (the write lock is taken up front, so no transaction
can read a snapshot, then find it cannot upgrade to write).  A writer killed mid-transaction
leaves nothing behind: the next open rolls its uncommitted pages back.

The schema carries its version in a ``meta`` table; a store written by a newer nasc is
refused with a message instead of being misread, and an older one is upgraded in place
when opened (version 2 added each record's ``signature``; records from version 1 keep
an empty one; version 3 added ``reference_ms`` and ``over_reference``, empty for records
timed alone).

An arch record's key is the sha256 of the architecture's canonical ``.nas`` text, which says
nothing by itself; the ``archs`` table keeps that text and facts derived from it (its
NAS-Bench-201 string, its roofline prediction) so a model can be refitted on stored arch
records without the search that found them.  It is created on the first
:meth:`LatencyStore.describe_arch`, so stores written before it existed stay readable by
every nasc; tables exported with ``nasc latency export`` do not carry it.  Anything SQLite reports about the file
itself (not a database, corrupt, read-only, locked for longer than the timeout) becomes a
:class:`LatencyStoreError` naming the file -- a user error, never a traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from nasc.errors import NascError
from nasc.fsio import user_os_error

from .exchange import read_table, write_table
from .records import COLUMNS, IDENTITY, RowError, StoredLatency, dumps

ENV = "NASC_LATENCY_DB"
FILENAME = "latency.sqlite"
SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 30.0
FILTERS = ("kind", "target", "backend", "precision", "key", "host", "source", "threads", "beside")
"""What :meth:`LatencyStore.query` can select on (each an exact match): the columns,
``threads``, the protocol's thread count -- a record timed on one thread and one timed on
two are measurements of two configurations, and a model fitted on both mixes them -- and
``beside``, the workload timed beside it ("" for records timed alone)."""
_EXPRESSIONS = {"threads": "CAST(json_extract(protocol, '$.threads') AS INTEGER)",
                "beside": "COALESCE(json_extract(protocol, '$.beside'), '')"}

_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE records (id INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL CHECK (kind IN ('kernel', 'arch')), target TEXT NOT NULL, backend TEXT NOT NULL,"
    " precision TEXT NOT NULL, key TEXT NOT NULL, median_ms REAL NOT NULL, p90_ms REAL NOT NULL,"
    " protocol TEXT NOT NULL, versions TEXT NOT NULL, host TEXT NOT NULL,"
    " source TEXT NOT NULL CHECK (source IN ('measured', 'recorded', 'rpc')), created TEXT NOT NULL,"
    " signature TEXT NOT NULL DEFAULT '', reference_ms REAL, over_reference REAL,"
    f" UNIQUE ({', '.join(IDENTITY)}))",
)
_UPGRADES = {  # from version -> the statements that make it the next version
    1: ("ALTER TABLE records ADD COLUMN signature TEXT NOT NULL DEFAULT ''",),
    2: ("ALTER TABLE records ADD COLUMN reference_ms REAL", "ALTER TABLE records ADD COLUMN over_reference REAL"),
}
_ARCHS = "CREATE TABLE IF NOT EXISTS archs (key TEXT PRIMARY KEY, text TEXT NOT NULL, facts TEXT NOT NULL)"
_INSERT = (f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
           f" ON CONFLICT ({', '.join(IDENTITY)}) DO NOTHING")


class LatencyStoreError(NascError):
    """The store's file cannot be used: not a store, corrupt, too new, unwritable or locked."""


def store_path(option: str | Path | None = None) -> Path:
    """Where the store is: ``--latency-db``, else ``$NASC_LATENCY_DB``, else ``latency.sqlite``
    in nasc's cache directory (the one that holds the build caches)."""
    if option:
        return Path(option)
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    from nasc.backends.common import cache_root

    return cache_root(None) / FILENAME


@dataclass(frozen=True)
class ImportResult:
    """What an import did: ``rows`` read and valid, ``added`` of them new to the store."""

    rows: int
    added: int

    @property
    def present(self) -> int:
        """Rows whose record the store already held (an earlier import of the same file)."""
        return self.rows - self.added


def _where(filters: dict[str, str | int | None]) -> tuple[str, list[str | int]]:
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise TypeError(f"unknown filter(s) {', '.join(unknown)}; expected {', '.join(FILTERS)}")
    chosen = [(name, value) for name, value in filters.items() if value is not None]
    if not chosen:
        return "", []
    return (" WHERE " + " AND ".join(f"{_EXPRESSIONS.get(name, name)} = ?" for name, _ in chosen),
            [value for _, value in chosen])


class LatencyStore:
    """One open store (a context manager; :meth:`close` when used without ``with``).

    ``create=False`` refuses a path where no store exists yet, for commands that only read:
    a mistyped ``--latency-db`` is then an error instead of a new, empty store."""

    def __init__(self, path: str | Path, *, create: bool = True, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        if self.path.is_dir():
            raise LatencyStoreError(f"latency store {self.path} is a directory, not a file")
        if not self.path.exists():
            if not create:
                raise LatencyStoreError(f"no latency store at {self.path} (choose one with --latency-db PATH or "
                                        f"${ENV})")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise user_os_error(err, self.path.parent, verb="create") or err from None
        with self._errors("open"):
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
        try:
            with self._errors("open"):
                self._wal()
                self._db.execute("PRAGMA synchronous = NORMAL")  # in WAL: durable across crashes of nasc
                self._check_schema()
        except BaseException:
            self._db.close()
            raise

    def _wal(self) -> None:
        """Switch to write-ahead logging, waiting for other openers.  Changing the journal mode
        of a new file takes an exclusive lock, and SQLite reports another process's lock on it
        at once, without its busy handler: several processes opening a new store together
        must wait here, up to the busy timeout, rather than fail."""
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as err:
                if not getattr(err, "sqlite_errorname", "").startswith("SQLITE_BUSY") or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def __enter__(self) -> "LatencyStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _errors(self, verb: str) -> Iterator[None]:
        """SQLite's complaints about the file as :class:`LatencyStoreError`; misuse by nasc
        itself (a constraint or an API error) stays an internal error."""
        try:
            yield
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except sqlite3.DatabaseError as err:
            raise LatencyStoreError(self._describe(err, verb)) from None

    def _describe(self, err: sqlite3.DatabaseError, verb: str) -> str:
        code = getattr(err, "sqlite_errorname", "")
        if code in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            return (f"{self.path} is not a nasc latency store ({err}); move it away or choose another with "
                    f"--latency-db PATH or ${ENV}")
        if code.startswith("SQLITE_BUSY") or code.startswith("SQLITE_LOCKED"):
            return (f"latency store {self.path} stayed locked by another process for more than "
                    f"{self.busy_timeout_s:g} s; try again when it is done")
        return f"cannot {verb} latency store {self.path}: {err}"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One writer at a time: the write lock is taken at BEGIN, waiting up to the busy timeout."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _schema_version(self) -> int | None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            if tables:
                raise LatencyStoreError(f"{self.path} is an SQLite database but not a nasc latency store "
                                        f"(tables {', '.join(sorted(tables))}, no meta table)")
            return None
        row = self._db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if row is None or not str(row[0]).isdigit():
            raise LatencyStoreError(f"{self.path} is not a nasc latency store (its meta table has no schema_version)")
        return int(row[0])

    def _check_schema(self) -> None:
        version = self._schema_version()
        if version is None:
            with self._transaction() as db:
                version = self._schema_version()  # another process may have created it meanwhile
                if version is None:
                    for statement in _SCHEMA:
                        db.execute(statement)
                    db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                    version = SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise LatencyStoreError(f"latency store {self.path} has schema version {version}, written by a newer "
                                    f"nasc; this one reads version {SCHEMA_VERSION} (upgrade nasc)")
        if version < SCHEMA_VERSION:
            self._upgrade()

    def _upgrade(self) -> None:
        """Bring an older store to :data:`SCHEMA_VERSION`, in one transaction (another process
        may be doing the same: the version is read again under the write lock)."""
        with self._errors("upgrade"), self._transaction() as db:
            version = self._schema_version()
            assert version is not None
            while version < SCHEMA_VERSION:
                for statement in _UPGRADES[version]:
                    db.execute(statement)
                version += 1
            db.execute("UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(version),))

    def put(self, records: Iterable[StoredLatency]) -> int:
        """Add ``records`` in one transaction (all or none); returns how many were new.  A record
        whose identity (:data:`~nasc.latency.records.IDENTITY`) is stored already is skipped."""
        def rows() -> Iterator[tuple[Any, ...]]:
            for rec in records:
                if not isinstance(rec, StoredLatency):
                    raise TypeError(f"LatencyStore.put takes StoredLatency records, got {type(rec).__name__}")
                row = rec.to_text_row()
                yield tuple(row[name] for name in COLUMNS)

        with self._errors("write"), self._transaction() as db:
            before = db.total_changes
            db.executemany(_INSERT, rows())
            return db.total_changes - before

    def query(self, **filters: str | int | None) -> Iterator[StoredLatency]:
        """Records matching every given filter (:data:`FILTERS`), oldest first within each key."""
        where, params = _where(filters)  # here, so a misspelt filter fails at the call
        return self._select(where, params, " ORDER BY " + ", ".join(IDENTITY))

    def get(self, kind: str, target: str, backend: str, precision: str, key: str, *,
            host: str | None = None, threads: int | None = None, beside: str | None = None) -> StoredLatency | None:
        """The latest record of one kernel or arch (from ``host`` only, timed on ``threads``
        threads only, beside ``beside`` only, when given), or None."""
        where, params = _where({"kind": kind, "target": target, "backend": backend, "precision": precision,
                                "key": key, "host": host, "threads": threads, "beside": beside})
        return next(self._select(where, params, " ORDER BY created DESC, id DESC LIMIT 1"), None)

    def keys(self, kind: str, target: str, backend: str, precision: str, *, host: str | None = None,
             threads: int | None = None, beside: str | None = None) -> set[str]:
        """The keys stored for one target, backend and precision (and thread count, and
        workload timed beside, when given): what a resumed profiling run skips."""
        return set(self.key_counts(kind, target, backend, precision, host=host, threads=threads, beside=beside))

    def key_counts(self, kind: str, target: str, backend: str, precision: str, *, host: str | None = None,
                   threads: int | None = None, beside: str | None = None) -> dict[str, int]:
        """How many records each key of :meth:`keys` has: how many rounds of a repeated
        measurement a resumed run has already taken."""
        where, params = _where({"kind": kind, "target": target, "backend": backend, "precision": precision,
                                "host": host, "threads": threads, "beside": beside})
        with self._errors("read"):
            return {row[0]: int(row[1]) for row in
                    self._db.execute(f"SELECT key, COUNT(*) FROM records{where} GROUP BY key", params)}

    def counts(self) -> list[tuple[str, str, str, str, int]]:
        """``(target, backend, precision, kind, records)`` for every combination present."""
        with self._errors("read"):
            return list(self._db.execute("SELECT target, backend, precision, kind, COUNT(*) FROM records"
                                         " GROUP BY target, backend, precision, kind"
                                         " ORDER BY target, backend, precision, kind"))

    def describe_arch(self, key: str, text: str, facts: Mapping[str, Any]) -> None:
        """Keep the canonical text of the arch whose records are stored under ``key`` (its
        sha256) and ``facts`` about it (JSON values), merged over facts stored before."""
        if hashlib.sha256(text.encode()).hexdigest() != key:
            raise ValueError(f"the text given for arch {key[:12]} does not hash to its key")
        with self._errors("write"), self._transaction() as db:
            db.execute(_ARCHS)
            row = db.execute("SELECT facts FROM archs WHERE key = ?", (key,)).fetchone()
            merged = {**(json.loads(row[0]) if row else {}), **facts}
            db.execute("INSERT INTO archs (key, text, facts) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
                       " facts = excluded.facts", (key, text, dumps(merged)))

    def arch_facts(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The facts of every arch of ``keys`` that :meth:`describe_arch` described."""
        wanted = sorted(set(keys))
        with self._errors("read"):
            if not self._has_archs():
                return {}
            found: dict[str, dict[str, Any]] = {}
            for start in range(0, len(wanted), 500):  # SQLite's limit on bound parameters
                chunk = wanted[start:start + 500]
                found.update((key, json.loads(facts)) for key, facts in self._db.execute(
                    f"SELECT key, facts FROM archs WHERE key IN ({', '.join('?' * len(chunk))})", chunk))
            return found

    def _has_archs(self) -> bool:
        """Whether the ``archs`` table exists (it is made by the first :meth:`describe_arch`)."""
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'archs'").fetchone() \
            is not None

    def arch_texts(self, keys: Iterable[str]) -> dict[str, str]:
        """The canonical text of every arch of ``keys`` whose text is stored: in the ``archs``
        table (:meth:`describe_arch`) or as an arch record's signature (``nasc profile --archs``)."""
        wanted = set(keys)
        found: dict[str, str] = {}
        with self._errors("read"):
            rows = self._db.execute("SELECT DISTINCT key, signature FROM records WHERE kind = 'arch' AND signature != ''")
            found.update((key, text) for key, text in rows if key in wanted)
            if self._has_archs():
                found.update((key, text) for key, text in self._db.execute("SELECT key, text FROM archs")
                             if key in wanted and key not in found)
        return found

    def export(self, path: str | Path, fmt: str | None = None, **filters: str | int | None) -> int:
        """Write the records matching ``filters`` to ``path`` (``csv`` or ``jsonl``, by default
        from its suffix); returns how many."""
        return write_table(Path(path), fmt, self.query(**filters))

    def import_(self, path: str | Path, fmt: str | None = None) -> ImportResult:
        """Add every row of a table written by :meth:`export` (possibly on another machine).

        Every row is checked before anything is stored, so a bad row (reported as
        ``file:line:col: error: ...``) leaves the store as it was; rows already stored are skipped."""
        records = read_table(Path(path), fmt)
        return ImportResult(rows=len(records), added=self.put(records))

    def _select(self, where: str, params: list[str | int], tail: str) -> Iterator[StoredLatency]:
        sql = f"SELECT id, {', '.join(COLUMNS)} FROM records{where}{tail}"
        with self._errors("read"):
            for row in self._db.execute(sql, params):
                yield self._decode(row)

    def _decode(self, row: tuple[Any, ...]) -> StoredLatency:
        try:
            return StoredLatency.from_text_row(dict(zip(COLUMNS, row[1:])))
        except RowError as err:
            raise LatencyStoreError(f"latency store {self.path}: record {row[0]} is damaged ({err})") from None


ARCH_LATENCY = ("median", "fastest")
"""How re-measurements of one arch make its latency: their median (the default), or the
fastest of them -- on a shared host, load only ever adds time, so the fastest of several
fresh-process measurements is the steadiest estimate of what the arch costs unloaded."""


def arch_medians(store: LatencyStore, target: str, *, of: str = "median",
                 **filters: str | int | None) -> dict[str, float]:
    """Stored latency (ms) per arch key of ``target``: each record's median, and over the
    re-measurements of one arch their median, or with ``of="fastest"`` the smallest (one
    value per arch, see :data:`ARCH_LATENCY`).  Filtered on ``beside`` (a reference's label),
    the values are the records' ratios to that reference instead."""
    if of not in ARCH_LATENCY:
        raise ValueError(f"arch latency of {of!r}: expected one of {', '.join(ARCH_LATENCY)}")
    by_key: dict[str, list[float]] = {}
    relative = bool(filters.get("beside"))
    for rec in store.query(kind="arch", target=target, **filters):
        by_key.setdefault(rec.key, []).append(float(rec.over_reference or 0.0) if relative else rec.median_ms)
    pick = min if of == "fastest" else statistics.median
    return {key: pick(values) for key, values in by_key.items()}


__all__ = ["ARCH_LATENCY", "BUSY_TIMEOUT_S", "arch_medians", "ENV", "FILENAME", "FILTERS", "ImportResult",
           "LatencyStore", "LatencyStoreError", "SCHEMA_VERSION", "store_path"]
