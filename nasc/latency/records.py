"""What one stored latency says, checked once where it is made.

A latency table travels: a device farm measures, exports a file, another machine imports
it and a search trusts every number in it.  So a :class:`StoredLatency` validates itself
on construction (a swapped column, a negative median or a kernel of an unknown kind fails
there, naming the field) and has one canonical form -- the timestamp in UTC with
microseconds, JSON with sorted keys -- so that export, import and a second export give
the same bytes, and importing a file twice finds every row already present.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Literal, Mapping

from .host import host_fingerprint

Kind = Literal["kernel", "arch"]
Source = Literal["measured", "recorded", "rpc"]
KINDS: tuple[str, ...] = ("kernel", "arch")
SOURCES: tuple[str, ...] = ("measured", "recorded", "rpc")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16", "int8")

COLUMNS: tuple[str, ...] = ("kind", "target", "backend", "precision", "key", "median_ms", "p90_ms", "protocol",
                            "versions", "host", "source", "created", "signature", "reference_ms", "over_reference")
"""Every field of a stored latency, in the order of the database, CSV and JSONL columns."""

OPTIONAL: tuple[str, ...] = ("signature", "reference_ms", "over_reference")
"""Columns a table may lack (tables written before they existed): they take their default."""

IDENTITY: tuple[str, ...] = ("kind", "target", "backend", "precision", "key", "created", "host", "source")
"""The natural key: one measurement of one thing on one host at one instant.  A second
import of the same row is recognised by it; a re-measurement (a later ``created``) is a
new record, and :meth:`LatencyStore.get` returns the latest."""


class RowError(ValueError):
    """A field that does not hold what a stored latency needs; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RowError(name, f"expected a non-empty string, got {value!r}")
    if any(not ch.isprintable() for ch in value):
        raise RowError(name, f"control characters are not allowed, got {value!r}")
    return value


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise RowError(name, f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _count(name: str, value: object, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowError(name, f"expected an integer, got {value!r}")
    if value < least:
        raise RowError(name, f"must be at least {least}, got {value}")
    return value


def _millis(name: str, value: object, what: str = "number of milliseconds") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowError(name, f"expected a {what}, got {value!r}")
    ms = float(value)
    if not math.isfinite(ms) or ms < 0:
        raise RowError(name, f"expected a finite, non-negative {what}, got {value!r}")
    return ms


@dataclass(frozen=True)
class TimingProtocol:
    """How a latency was timed: ``warmup`` untimed calls, then ``repeats`` samples, each the
    mean of ``number`` back-to-back calls at ``batch`` on ``threads`` threads (the fields of
    :class:`nasc.backends.MeasureProtocol` that change the number measured)."""

    warmup: int
    repeats: int
    batch: int
    threads: int
    number: int = 1
    beside: str = ""
    """The workload timed beside it in the same process, in alternating samples (its name and
    sha256 prefix, :func:`nasc.bench.reference.beside_label`); "" when timed alone."""

    def __post_init__(self) -> None:
        _count("protocol.warmup", self.warmup, 0)
        for name in ("repeats", "batch", "threads", "number"):
            _count(f"protocol.{name}", getattr(self, name), 1)
        if not isinstance(self.beside, str) or any(not ch.isprintable() for ch in self.beside):
            raise RowError("protocol.beside", f"expected printable text, got {self.beside!r}")

    def to_dict(self) -> dict[str, int | str]:
        """The fields, ``beside`` only when set (records timed alone keep their old form)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "beside" or self.beside}

    @classmethod
    def from_dict(cls, doc: object) -> "TimingProtocol":
        """From a JSON object with exactly these fields (``number`` may be left out)."""
        if not isinstance(doc, dict):
            raise RowError("protocol", f"expected a JSON object, got {doc!r}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - names)
        if unknown:
            raise RowError("protocol", f"unknown field(s) {', '.join(map(repr, unknown))}; "
                                       f"expected {', '.join(sorted(names))}")
        missing = [n for n in ("warmup", "repeats", "batch", "threads") if n not in doc]
        if missing:
            raise RowError("protocol", f"missing field(s) {', '.join(missing)}")
        return cls(**doc)


def now_utc() -> str:
    """The current time in the canonical form of ``created``."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def canonical_time(value: object) -> str:
    """``value`` (ISO 8601 with a UTC offset) in UTC with microseconds, so equal instants
    compare equal as text and sort in time order."""
    if not isinstance(value, str):
        raise RowError("created", f"expected an ISO 8601 time, got {value!r}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise RowError("created", f"expected an ISO 8601 time such as 2025-01-31T12:00:00+00:00, got {value!r}") \
            from None
    if when.tzinfo is None:
        raise RowError("created", f"needs a UTC offset (e.g. +00:00), got {value!r}")
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _signature(kind: str, key: str, value: object) -> str:
    """The text ``key`` is the hash of, or "" when not known; checked against the key, so a
    latency can never sit under another kernel's text."""
    if not isinstance(value, str):
        raise RowError("signature", f"expected text, got {value!r}")
    if value and any(not ch.isprintable() and ch != "\n" for ch in value):
        raise RowError("signature", f"control characters are not allowed, got {value[:40]!r}")
    if value:
        digest = hashlib.sha256(value.encode()).hexdigest()
        if len(key) not in (16, 64) or digest[:len(key)] != key:
            raise RowError("signature", f"the key {key} is not the sha256 of this text ({digest[:16]}...); "
                                        f"is it the {kind}'s signature?")
    return value


def _versions(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in value.items()):
        raise RowError("versions", f"expected a JSON object of strings (library: version), got {value!r}")
    return dict(sorted(value.items()))


def dumps(doc: Mapping[str, Any]) -> str:
    """The canonical JSON text of a protocol or versions object (sorted keys, no spaces)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class StoredLatency:
    """One latency with its provenance: what was timed (``kind``, ``key``: a kernel signature
    from the fuse pass or an arch's sha256), where (``target``, ``backend``, ``precision``,
    ``host``), how (``protocol``, ``versions``), by whom (``source``) and when (``created``).

    ``host`` defaults to this machine's fingerprint, read on each construction; code that
    makes many records at once passes it once, computed by :func:`host_fingerprint`.

    ``reference_ms`` and ``over_reference``, set exactly when the protocol says it was timed
    ``beside`` a reference workload: the reference's median in the same process, and the
    median over sample pairs of (this sample / the reference's sample).  Why: on a shared
    host a small network's speed moves between processes and seconds by more than a +-10%
    predictor may miss by, and the ratio to a fixed workload timed in the same moments does
    not (:mod:`nasc.bench.paired`); a model fitted on ratios predicts in the reference's units.

    ``signature`` is the text the key hashes -- a kernel's signature (its key is the first
    16 hex digits of the text's sha256), an architecture's canonical ``.nas`` text (the
    whole sha256) -- so a table says what it measured, and a kernel can be rebuilt and
    measured again from the table alone (:mod:`nasc.latency.micro`); "" when not known."""

    kind: Kind
    target: str
    backend: str
    precision: str
    key: str
    median_ms: float
    p90_ms: float
    protocol: TimingProtocol
    versions: Mapping[str, str]
    source: Source = "measured"
    host: str = field(default_factory=host_fingerprint)
    created: str = field(default_factory=now_utc)
    signature: str = ""
    reference_ms: float | None = None
    over_reference: float | None = None

    def __post_init__(self) -> None:
        _choice("kind", self.kind, KINDS)
        for name in ("target", "backend", "key", "host"):
            _text(name, getattr(self, name))
        _choice("precision", self.precision, PRECISIONS)
        _choice("source", self.source, SOURCES)
        if self.kind == "arch" and not (len(self.key) == 64 and all(c in "0123456789abcdef" for c in self.key)):
            raise RowError("key", f"an arch's key is its sha256 (64 lowercase hex digits), got {self.key!r}")
        median, p90 = _millis("median_ms", self.median_ms), _millis("p90_ms", self.p90_ms)
        if p90 < median:
            raise RowError("p90_ms", f"is below median_ms ({p90!r} < {median!r}); are the columns swapped?")
        if not isinstance(self.protocol, TimingProtocol):
            raise RowError("protocol", f"expected a TimingProtocol, got {self.protocol!r}")
        object.__setattr__(self, "median_ms", median)
        object.__setattr__(self, "p90_ms", p90)
        object.__setattr__(self, "versions", _versions(self.versions))
        object.__setattr__(self, "created", canonical_time(self.created))
        _signature(self.kind, self.key, self.signature)
        self._check_reference()

    def _check_reference(self) -> None:
        paired = (self.reference_ms, self.over_reference)
        if bool(self.protocol.beside) != (paired != (None, None)):
            raise RowError("reference_ms", "reference_ms and over_reference are set exactly when protocol.beside "
                                           f"names a reference (beside {self.protocol.beside!r}, got {paired!r})")
        if self.protocol.beside:
            ref = _millis("reference_ms", self.reference_ms)
            ratio = _millis("over_reference", self.over_reference, "ratio")
            if ref <= 0 or ratio <= 0:
                raise RowError("over_reference" if ref > 0 else "reference_ms", f"must be positive, got {paired!r}")
            object.__setattr__(self, "reference_ms", ref)
            object.__setattr__(self, "over_reference", ratio)

    def identity(self) -> tuple[str, ...]:
        return tuple(getattr(self, name) for name in IDENTITY)

    def to_row(self) -> dict[str, Any]:
        """The fields by column name, ``protocol`` and ``versions`` as JSON objects."""
        row = {name: getattr(self, name) for name in COLUMNS}
        row["protocol"] = self.protocol.to_dict()
        row["versions"] = dict(self.versions)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "StoredLatency":
        """From a mapping with exactly :data:`COLUMNS` (``protocol`` and ``versions`` as JSON
        objects); raises :class:`RowError` naming the first field that is wrong."""
        unknown = sorted(set(row) - set(COLUMNS))
        if unknown:
            raise RowError(unknown[0], f"unknown column; expected {', '.join(COLUMNS)}")
        missing = [name for name in COLUMNS if name not in row and name not in OPTIONAL]
        if missing:
            raise RowError(missing[0], "missing")
        kw = dict(row)
        kw["protocol"] = TimingProtocol.from_dict(row["protocol"])
        return cls(**kw)

    def to_text_row(self) -> dict[str, Any]:
        """:meth:`to_row` with ``protocol`` and ``versions`` as canonical JSON text: a CSV row
        and a database row."""
        row = self.to_row()
        row["protocol"], row["versions"] = dumps(row["protocol"]), dumps(row["versions"])
        return row

    @classmethod
    def from_text_row(cls, row: Mapping[str, Any]) -> "StoredLatency":
        """The inverse of :meth:`to_text_row`; the milliseconds may be text too (a CSV cell)."""
        kw = dict(row)
        for name in ("protocol", "versions"):
            if isinstance(kw.get(name), str):
                try:
                    kw[name] = json.loads(kw[name])
                except ValueError as err:
                    raise RowError(name, f"not valid JSON ({err})") from None
        for name in ("reference_ms", "over_reference"):
            if kw.get(name) == "":
                kw[name] = None  # an empty CSV cell: timed alone
        for name in ("median_ms", "p90_ms", "reference_ms", "over_reference"):
            if isinstance(kw.get(name), str):
                try:
                    kw[name] = float(kw[name])
                except ValueError:
                    raise RowError(name, f"expected a number of milliseconds, got {kw[name]!r}") from None
        return cls.from_row(kw)


__all__ = ["COLUMNS", "IDENTITY", "KINDS", "OPTIONAL", "PRECISIONS", "SOURCES", "Kind", "RowError", "Source", "StoredLatency",
           "TimingProtocol", "canonical_time", "dumps", "now_utc"]
