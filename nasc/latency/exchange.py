"""Latency tables as files, so that measurements travel between machines.

A device farm measures on its boards and hands over a file; a laptop imports it.  Two
formats: CSV (spreadsheets; ``protocol`` and ``versions`` are JSON text in their cells) and
JSONL (one JSON object per line).  Both carry exactly the columns of
:data:`~nasc.latency.records.COLUMNS` in their canonical form (a table written before a
column in :data:`~nasc.latency.records.OPTIONAL` existed is read without it), so an export imported
elsewhere and exported again gives the same bytes.

Reading checks every row before returning any, and a bad one is reported the way nasc
reports a bad ``.nas`` line -- ``file:line:col: error: message`` with the row quoted and
the offending field underlined -- so the user can fix the file rather than guess.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from nasc.errors import NascError, Span, UsageError
from nasc.fsio import atomic_path

from .records import COLUMNS, OPTIONAL, RowError, StoredLatency

FORMATS: tuple[str, ...] = ("csv", "jsonl")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class TableError(NascError):
    """A latency table that cannot be imported; the span points at the offending row."""


def table_format(path: Path, fmt: str | None) -> str:
    """``fmt`` when given, else the format the file name's suffix says."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown table format {fmt!r}; expected {' or '.join(FORMATS)}")
        return fmt
    try:
        return _SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise UsageError(f"cannot tell the format of {path} from its name (.csv or .jsonl); "
                         "give --format csv or --format jsonl") from None


def write_table(path: Path, fmt: str | None, records: Iterable[StoredLatency]) -> int:
    """Write ``records`` to ``path`` atomically; returns how many."""
    kind = table_format(path, fmt)
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n") if kind == "csv" else None
        if out is not None:
            out.writerow(COLUMNS)
        for count, rec in enumerate(records, 1):
            if out is not None:
                row = rec.to_text_row()
                out.writerow([row[name] for name in COLUMNS])
            else:
                fh.write(json.dumps(rec.to_row()) + "\n")
    return count


def read_table(path: Path, fmt: str | None) -> list[StoredLatency]:
    """Every row of the table at ``path``, all checked; the first bad one raises :class:`TableError`."""
    kind = table_format(path, fmt)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise NascError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise TableError(f"not UTF-8 text (byte 0x{raw[err.start]:02x})", Span(str(path), line, 1, line, 1)) \
            from None
    rows = _Rows(str(path), text)
    return list(rows.csv() if kind == "csv" else rows.jsonl())


class _Rows:
    """The rows of one table's text, each turned into a record or into an error at its line."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.lines = text.split("\n")

    def fail(self, line: int, message: str, span: tuple[int, int] | None = None) -> TableError:
        """An error at ``line``, underlining columns ``span`` (1-based, end exclusive) or the whole row."""
        length = len(self.lines[line - 1].rstrip("\r")) if line <= len(self.lines) else 0
        start, end = span or (1, length + 1)
        err = TableError(message, Span(self.name, line, start, line, end))
        err.source_text = self.text
        return err

    def jsonl(self) -> Iterator[StoredLatency]:
        for number, line in enumerate(self.lines, 1):
            if not line.strip():
                continue
            try:
                doc: Any = json.loads(line)
            except json.JSONDecodeError as err:
                raise self.fail(number, f"not valid JSON: {err.msg}", (err.colno, err.colno + 1)) from None
            if not isinstance(doc, dict):
                raise self.fail(number, f"expected a JSON object (one record per line), got {type(doc).__name__}")
            try:
                yield StoredLatency.from_row(doc)
            except RowError as err:
                found = re.search(rf'"{re.escape(err.field.split(".")[0])}"\s*:', line)
                raise self.fail(number, str(err), (found.start() + 1, found.end()) if found else None) from None

    def csv(self) -> Iterator[StoredLatency]:
        reader = csv.reader(io.StringIO(self.text, newline=""))
        header: list[str] | None = None
        end = 0
        try:
            for cells in reader:
                start, end = end + 1, reader.line_num
                if not cells:
                    continue
                if header is None:
                    header = self._header(cells, start)
                    continue
                yield self._record(header, cells, start)
        except csv.Error as err:
            raise self.fail(reader.line_num, f"not valid CSV: {err}") from None

    def _header(self, cells: list[str], line: int) -> list[str]:
        unknown = [c for c in cells if c not in COLUMNS]
        missing = [c for c in COLUMNS if c not in cells and c not in OPTIONAL]
        if unknown or missing or len(cells) != len(set(cells)):
            what = (f"unknown column {unknown[0]!r}" if unknown else
                    f"missing column(s) {', '.join(missing)}" if missing else "a column appears twice")
            raise self.fail(line, f"the header row needs the columns {', '.join(COLUMNS)}: {what}")
        return cells

    def _record(self, header: list[str], cells: list[str], line: int) -> StoredLatency:
        if len(cells) != len(header):
            raise self.fail(line, f"{len(cells)} fields, the header has {len(header)}")
        try:
            return StoredLatency.from_text_row(dict(zip(header, cells)))
        except RowError as err:
            column = err.field.split(".")[0]
            at = _csv_field_span(self.lines[line - 1], header.index(column)) if column in header else None
            raise self.fail(line, str(err), at) from None


def _csv_field_span(line: str, index: int) -> tuple[int, int] | None:
    """Columns (1-based, end exclusive) of field ``index`` of a one-line CSV row."""
    bounds, quoted = [0], False
    for pos, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            bounds.append(pos + 1)
    if index >= len(bounds):
        return None
    end = bounds[index + 1] - 1 if index + 1 < len(bounds) else len(line.rstrip("\r"))
    return bounds[index] + 1, max(end, bounds[index]) + 1


__all__ = ["FORMATS", "TableError", "read_table", "table_format", "write_table"]
