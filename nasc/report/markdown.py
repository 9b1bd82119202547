"""``report.md``: the page a person reads after ``nasc compile``.

Rendered from ``report.json`` and the pictures alone, so it never says anything the JSON
does not: a summary line, then tables (accuracy, costs, budgets, latency with the source of
every figure), the pass pipeline, provenance, and the pictures with relative links -- or,
for a picture that was not drawn, why.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from .plots import Plot


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    cell = lambda v: "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(cell(v) for v in row) + " |" for row in rows), ""]


def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.2%}"


def _ms(x: float | None) -> str:
    return "" if x is None else f"{x:.4g} ms"


def value_text(value: float | None, unit: str) -> str:
    """A budget's number in its unit: ms for latency, thousands separators for counts and bytes."""
    if value is None:
        return "n/a"
    if unit == "s":
        return _ms(value * 1e3)
    return f"{value:,.0f}" + (" B" if unit == "bytes" else "")


def summary_line(r: Mapping[str, Any]) -> str:
    acc = r.get("accuracy", {})
    lat = r.get("latency_figures", {})
    figure = lat.get("measured") or lat.get("predicted") or {}
    budgets = r.get("budgets", [])
    failed = [b for b in budgets if b.get("holds") is False]
    verdict = (f"all {len(budgets)} budgets hold" if budgets and not failed else
               f"{len(failed)} of {len(budgets)} budgets missed" if budgets else "no budgets")
    target = r.get("target", "")
    after = f" ({_pct(acc['after_passes'])} after passes)" if acc.get("after_passes") is not None else ""
    return (f"**{r.get('space')}** on **{target}**: test accuracy {_pct(acc.get('fp32'))}{after}, "
            f"{r.get('cost', {}).get('params', 0):,} params, {r.get('cost', {}).get('macs', 0):,} MACs, latency "
            f"{_ms(figure.get('median_ms'))} ({figure.get('source', 'unknown')}); {verdict}.")


def accuracy_section(r: Mapping[str, Any]) -> list[str]:
    acc = r.get("accuracy", {})
    rows = [("fp32 (before passes)", _pct(acc.get("fp32")), acc.get("fp32_source")),
            ("after passes", _pct(acc.get("after_passes")), acc.get("after_passes_source"))]
    search = r.get("search_accuracy")
    if search:
        rows.append((f"supernet, search epoch {search['epoch'] + 1}", _pct(search.get("val_acc")), search["source"]))
    extra = [f"Test samples: {acc['test_samples']}." if acc.get("test_samples") else "",
             f"Tolerance: {acc['tolerance_points']} points." if acc.get("tolerance_points") is not None else ""]
    return ["## Accuracy", "", *_table(("", "accuracy", "source"), rows), *[e for e in extra if e],
            *([""] if any(extra) else [])]


def cost_section(r: Mapping[str, Any]) -> list[str]:
    cost = r.get("cost", {})
    rows = [("params", f"{cost.get('params', 0):,}"), ("MACs", f"{cost.get('macs', 0):,}"),
            ("peak memory (batch 1)", f"{cost.get('peak_memory_bytes', 0):,} B")]
    return ["## Costs", "", f"Source: {cost.get('source', '')}.", "", *_table(("", "value"), rows)]


def budget_section(r: Mapping[str, Any]) -> list[str]:
    budgets = r.get("budgets", [])
    lines = ["## Budgets", ""]
    if not budgets:
        lines += ["The space sets no budget.", ""]
    else:
        rows = [(b["constraint"], f"{b['op']} {b['bound_text']}", value_text(b.get("value"), b["unit"]),
                 f"{b['source']}: {b['how']}" if b.get("how") else b["source"],
                 {True: "holds", False: "**missed**", None: "unknown"}[b.get("holds")], _pct(b.get("share")))
                for b in budgets]
        lines += _table(("constraint", "bound", "value", "source", "status", "share used"), rows)
    others = r.get("other_constraints", [])
    if others:
        lines += ["Other constraints (structural or on one block; checked by the search's discretization, not "
                  "re-measured here): " + "; ".join(f"`{o}`" for o in others) + ".", ""]
    return lines


def latency_section(r: Mapping[str, Any]) -> list[str]:
    lat = r.get("latency_figures", {})
    rows = []
    measured, predicted = lat.get("measured"), lat.get("predicted")
    if measured:
        rows.append(("measured", _ms(measured["median_ms"]), measured["how"]))
    if predicted:
        rows.append(("predicted", _ms(predicted["median_ms"]), predicted["how"]))
    lines = ["## Latency", "", f"Target: {lat.get('target', r.get('target'))}"
             + (f" ({r['target_note']})" if r.get("target_note") else "") + ".", "",
             *_table(("", "median", "source"), rows)]
    if measured and predicted and predicted.get("error_vs_measured") is not None:
        lines += [f"The model's error on this arch: {predicted['error_vs_measured']:+.1%} (predicted / measured - 1).",
                  ""]
    if not measured:
        lines += [f"Not measured in this run: {lat.get('not_measured') or 'no measurement'}.", ""]
    loop = r.get("latency_budget")
    if loop:
        lines += [f"Measured-latency loop: `{loop['constraint']}` on {loop['target']}: {_ms(loop['median_ms'])} "
                  f"({loop['source']}, {loop['how']}), round {loop['round']} of {loop['rounds']}; "
                  f"{'holds' if loop['holds'] else 'missed'}, {_pct(loop.get('budget_used'))} of the budget.", ""]
    return lines


def passes_section(r: Mapping[str, Any]) -> list[str]:
    passes = r.get("passes")
    text = f"```\n{passes}\n```" if passes else \
        "No optimization passes ran: the artifact holds the retrained weights as they are."
    return ["## Pass pipeline", "", text, "", f"Backend: {r.get('backend')}, precision: {r.get('precision')}.", ""]


def provenance_section(r: Mapping[str, Any]) -> list[str]:
    p = r.get("provenance", {})
    data = p.get("dataset", {})
    seeds = p.get("seeds", {})
    samples = data.get("samples", {})
    rows = [("space hash", f"`{p.get('space_hash')}`"), ("arch sha256", f"`{p.get('arch_sha256')}`"),
            ("dataset", f"`{data.get('spec')}`, split {data.get('split')}, "
                        + ", ".join(f"{k} {v}" for k, v in samples.items())),
            ("dataset sha256", f"`{data.get('sha256')}` ({data.get('fingerprint_of', '')})"),
            ("seed", f"{seeds.get('seed')} ({seeds.get('used_for', '')})"),
            *((f"version: {k}", v) for k, v in sorted(p.get("library_versions", {}).items()))]
    return ["## Provenance", "", *_table(("", ""), rows)]


def plots_section(plots: Sequence[Plot]) -> list[str]:
    lines = ["## Plots", ""]
    for plot in plots:
        lines += [f"### {plot.title}", ""]
        if plot.file is None:
            lines += [f"Not drawn: {plot.why_not}.", ""]
            continue
        lines += [f"![{plot.title}]({plot.file})", ""]
        if plot.note:
            lines += [f"Note: {plot.note}.", ""]
    return lines


def render_markdown(r: Mapping[str, Any], plots: Sequence[Plot]) -> str:
    head = [f"# nasc compile report: {r.get('space')} for {r.get('target')}", "", summary_line(r), "",
            "Arch: [search/arch.nas](search/arch.nas); artifact: [artifact/](artifact/); "
            "the figures below are in [report.json](report.json).", ""]
    sections = (accuracy_section(r), cost_section(r), budget_section(r), latency_section(r), passes_section(r),
                plots_section(plots), provenance_section(r))
    return "\n".join(head + [line for s in sections for line in s]).rstrip() + "\n"


__all__ = ["render_markdown", "summary_line", "value_text"]
