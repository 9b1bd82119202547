"""The report of a compile run, for people and for scripts (see docs/report.md).

``report.json`` (:mod:`.build`: every figure with its source), budget status per constraint
(:mod:`.budget`), pictures drawn from the run's logs (:mod:`.logs`, :mod:`.plots`) and the
page ``report.md`` (:mod:`.markdown`); :mod:`.write` puts them in the run's folder.
"""

from .build import RunFacts
from .write import render, write_report

__all__ = ["RunFacts", "render", "write_report"]
