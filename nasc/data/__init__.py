"""Reference tables shipped with nasc: facts measured or computed by others, with provenance.

Why inside the package: tests check nasc's cost model against them, benchmarks judge search
strategies with them, and recorded devices answer "what is this architecture's latency"
from them -- on any machine, from a wheel, without a download.  The files are gzip-compressed
CSV; ``nb201/README.md`` says where each column comes from and gives the sha256 of each
uncompressed file, which :func:`table` verifies on every read.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from importlib import resources

SHA256 = {
    "nb201/nb201_acc.csv": "6537adac438a7616042871d21798b178cf043dce2ebe328da1cf7e9dff1c6e7f",
    "nb201/nb201_latency.csv": "334e6d84fe4373b2f985cbf00d2d65dd3da045ff763459d8d261cba134c702c6",
}


class ShippedTableError(RuntimeError):
    """A shipped table is missing or does not match its recorded hash (a broken install)."""


def raw_bytes(name: str) -> bytes:
    """The uncompressed bytes of a shipped table, checked against :data:`SHA256`."""
    if name not in SHA256:
        raise KeyError(f"no shipped table {name!r}; known: {', '.join(sorted(SHA256))}")
    ref = resources.files(__name__).joinpath(name + ".gz")
    try:
        data = gzip.decompress(ref.read_bytes())
    except (OSError, EOFError) as err:
        raise ShippedTableError(f"shipped table {name} cannot be read ({err}); reinstall nasc") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise ShippedTableError(f"shipped table {name} has sha256 {digest}, expected {SHA256[name]}; reinstall nasc")
    return data


def table(name: str) -> list[dict[str, str]]:
    """Rows of a shipped CSV table as dicts of strings (callers convert the columns they use)."""
    return list(csv.DictReader(io.StringIO(raw_bytes(name).decode("utf-8"))))


__all__ = ["ShippedTableError", "SHA256", "raw_bytes", "table"]
