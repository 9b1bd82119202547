"""Writing a run's report: ``report.json``, the pictures, ``report.md``.

Two steps on purpose: :func:`write_report` builds ``report.json`` from compile's result and
the run's files, then :func:`render` draws the pictures and the page from what is on disk
alone -- so rendering again after a log was edited (or after a newer nasc learned a new
picture) shows exactly what the folder holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..fsio import atomic_write, write_json
from .build import RunFacts, build_report
from .logs import read_json, run_logs
from .markdown import render_markdown
from .plots import draw_plots

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


def render(out: Path) -> dict[str, Any]:
    """Draw the pictures and write ``report.md`` for the run in ``out`` from its ``report.json``
    and logs; records the pictures (drawn, or why not) in ``report.json`` and returns it."""
    report = read_json(out / REPORT_JSON)
    plots = draw_plots(out, report, run_logs(out))
    report["plots"] = [p.to_record() for p in plots]
    write_json(out / REPORT_JSON, report)
    atomic_write(out / REPORT_MD, render_markdown(report, plots))
    return report


def write_report(out: Path, base: dict[str, Any], facts: RunFacts) -> dict[str, Any]:
    """The end of ``nasc compile``: ``report.json`` (``base``, compile's result, with the
    report's fields added), the pictures and ``report.md``; returns the full report."""
    write_json(out / REPORT_JSON, build_report(out, base, facts))
    return render(out)


__all__ = ["REPORT_JSON", "REPORT_MD", "render", "write_report"]
