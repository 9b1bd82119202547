"""Baseline files of ``nasc bench``: what a later run is compared with, and when it may not be.

A baseline is a plain JSON document (:data:`FORMAT`) holding the figure
``artifact_over_reference`` with everything needed to judge whether a later figure is
comparable: the artifact's backend, target and precision, the reference workload's
sha256 and runtime, and the timing threads.  A figure measured on another backend,
target or precision, against another reference, or with another thread count means
something else, so :func:`mismatches` lists those differences and the command refuses
to compare (exit 2) rather than raise or hide an alarm.

Baselines are committed to repositories and passed around, so reading one treats it as
untrusted input: JSON only (never unpickled, never evaluated), at most
:data:`MAX_BYTES`, no NaN or infinity, and every field the comparison reads is checked
for its type before use; any failure is a :class:`~nasc.errors.NascError` naming the
file and the field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from nasc.errors import NascError

FORMAT = "nasc-bench-baseline/1"
MAX_BYTES = 1 << 20
COMPARED = (("artifact", "backend"), ("artifact", "target"), ("artifact", "precision"),
            ("reference", "sha256"), ("reference", "backend"), ("protocol", "threads"))
"""The fields two figures must share to be compared."""
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Baseline:
    """The fields of a baseline file that a comparison reads (validated)."""

    path: Path
    artifact_over_reference: float
    fields: dict[tuple[str, str], object]
    artifact_files_sha256: str
    date: str
    cpu: str


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _load_json(path: Path) -> Any:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise NascError(f"baseline {path} does not exist; write one with `nasc bench ARTIFACT_DIR "
                        f"--write-baseline {path}`") from None
    except IsADirectoryError:
        raise NascError(f"baseline {path} is a folder, not a baseline file") from None
    except OSError as e:
        raise NascError(f"cannot read baseline {path}: {e.strerror or e}") from None
    if len(raw) > MAX_BYTES:
        raise NascError(f"baseline {path} is larger than {MAX_BYTES:,} bytes; not a nasc bench baseline")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
        raise NascError(f"baseline {path} is not valid JSON ({e})") from None


def read_baseline(path: Path) -> Baseline:
    """The baseline in ``path``, checked field by field (a NascError names what is wrong)."""
    doc = _load_json(path)

    def fail(what: str) -> NascError:
        return NascError(f"baseline {path}: {what}; not a {FORMAT} file (rewrite it with --write-baseline)")

    if not isinstance(doc, dict):
        raise fail(f"the document is a JSON {type(doc).__name__}, not an object")
    if doc.get("format") != FORMAT:
        raise fail(f"format is {doc.get('format')!r}")
    figure = doc.get("artifact_over_reference")
    if isinstance(figure, bool) or not isinstance(figure, (int, float)) or not math.isfinite(figure) or figure <= 0:
        raise fail("'artifact_over_reference' must be a positive number")
    fields: dict[tuple[str, str], object] = {}
    for section, key in COMPARED:
        block = doc.get(section)
        value = block.get(key) if isinstance(block, dict) else None
        want = int if key == "threads" else str
        if isinstance(value, bool) or not isinstance(value, want) or value == "":
            raise fail(f"'{section}.{key}' must be {'an integer' if want is int else 'a non-empty string'}")
        fields[(section, key)] = value
    if not SHA256.fullmatch(str(fields[("reference", "sha256")])):
        raise fail("'reference.sha256' must be 64 lowercase hex digits")
    host = doc.get("host")
    return Baseline(path, float(figure), fields, _text(doc["artifact"].get("files_sha256")), _text(doc.get("date")),
                    _text(host.get("cpu") if isinstance(host, dict) else None))


def _text(value: object) -> str:
    """An informative field (not compared): its text, or empty when it is not a string."""
    return value if isinstance(value, str) else ""


def mismatches(baseline: Baseline, now: Mapping[str, Any]) -> list[str]:
    """Why a figure measured under ``now`` (a result document, or its sections known before
    timing) cannot be compared with ``baseline`` (empty: it can)."""
    return [f"{section}.{key} is {now[section][key]!r} here but {value!r} in the baseline"
            for (section, key), value in baseline.fields.items() if now[section][key] != value]


def baseline_document(result: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline file's content for a measured result: the result itself, minus any
    comparison, under the baseline format."""
    return {"format": FORMAT, **{k: v for k, v in result.items() if k not in ("format", "comparison")}}
