"""Child-process entry for isolated measurements: ``python -m nasc.backends.measure_worker DIR PROTOCOL_JSON``.

Prints one line ``NASC_RECORD {json}``; everything else on stdout/stderr is ignored by
the parent (libraries are chatty)."""

from __future__ import annotations

import json
import sys

from nasc.errors import NascError

from .base import MeasureProtocol
from .isolation import MARK
from .manifest import load_artifact
from .registry import get_backend


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m nasc.backends.measure_worker ARTIFACT_DIR PROTOCOL_JSON", file=sys.stderr)
        return 2
    protocol = MeasureProtocol.from_dict(json.loads(argv[1]))
    try:
        artifact = load_artifact(argv[0], verify=protocol.verify)  # checked again: the parent's check was earlier
        record = get_backend(artifact.backend).measure(artifact, protocol)
    except NascError as e:
        print(e.render(), file=sys.stderr)
        return 2
    print(MARK + json.dumps(record.to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
