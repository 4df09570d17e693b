"""The report of repeated runs (`--runs N`): each figure's value run by run (drift shows), its median, mean
and interval, each run's percentile intervals and status, and the warnings.

Pure: aggregate.json's content (read defensively: loadgen.analysis may add keys or
interval methods) in, a Report out. Every number is the aggregate's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reports import plots
from reports.advice import remedy
from reports.comparison import format_value
from reports.document import Block, Cell, Heading, Links, Plot, Report, Table, Text, build_report
from reports.plots import RunsPanel

IMAGE_DIR = "report-images"
INTERVAL_PREFERENCE = ("t_interval", "interval", "bca_interval")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _interval(figure: Mapping[str, Any]) -> tuple[str, tuple[float, float] | None]:
    """The interval to draw: the t interval of the mean where present, else any other the aggregate gives."""
    keys = [k for k in INTERVAL_PREFERENCE if k in figure] + sorted(
        k for k in figure if k.endswith("_interval") and k not in INTERVAL_PREFERENCE)
    for key in keys:
        pair = figure.get(key)
        if isinstance(pair, Sequence) and len(pair) == 2 and all(_number(v) is not None for v in pair):
            return key.replace("_", " "), (float(pair[0]), float(pair[1]))
    return "no interval (too few runs)", None


def panels(document: Mapping[str, Any]) -> list[RunsPanel]:
    found = []
    for name, figure in (document.get("figures") or {}).items():
        values = [float(v) for v in figure.get("values") or [] if _number(v) is not None]
        if not values:
            continue
        label, interval = _interval(figure)
        found.append(RunsPanel(str(name), str(figure.get("unit", "")), values, _number(figure.get("median")),
                               _number(figure.get("mean")), interval, f"95% {label}"))
    return found


def figure_table(document: Mapping[str, Any]) -> Table:
    rows: list[list[Cell | str]] = []
    for name, figure in (document.get("figures") or {}).items():
        unit = str(figure.get("unit", ""))
        label, interval = _interval(figure)
        shown = "n/a" if interval is None else f"[{format_value(interval[0], unit)}, {format_value(interval[1], unit)}]"
        cv = _number(figure.get("cv"))
        values = ", ".join(format_value(_number(v), unit) for v in figure.get("values") or [])
        rows.append([str(name), str(figure.get("n", "")), format_value(_number(figure.get("median")), unit),
                     format_value(_number(figure.get("mean")), unit), f"{shown} ({label})",
                     "n/a" if cv is None else f"{cv:.1%}", values])
    return Table(["figure", "n", "median", "mean", "95% interval", "CV", "per run, in order"], rows)


def run_table(document: Mapping[str, Any]) -> Table:
    rows: list[list[Cell | str]] = []
    intervals = document.get("percentile_intervals") or {}
    for run in document.get("runs") or []:
        name, status = str(run.get("name")), str(run.get("status"))
        found = intervals.get(name) or {}
        parts = []
        for label, entry in found.items():
            if not isinstance(entry, Mapping):
                continue
            if "needs_queries" in entry:
                parts.append(f"{label}: needs >= {entry['needs_queries']:,} queries for an interval")
            elif _number(entry.get("low_ns")) is not None:
                parts.append(f"{label} {format_value(_number(entry.get('value_ns')), 'ns')} "
                             f"[{format_value(_number(entry['low_ns']), 'ns')}, "
                             f"{format_value(_number(entry.get('high_ns')), 'ns')}]")
        rows.append([name, Cell(status, "good" if status == "VALID" else "bad"), "; ".join(parts)])
    return Table(["run", "status", "latency percentiles with their per-run intervals"], rows)


def render_repeated_report(document: Mapping[str, Any], run_pages: Sequence[str]) -> Report:
    """The repeated-runs page and its markdown; run_pages are relative links to each run's own report."""
    title = (f"{document.get('scenario', '?')}: {document.get('n_included', 0)} runs of "
             f"{document.get('sut_name', '?')}")
    found = panels(document)
    figures: list[Block] = []
    if found:
        figures.append(Plot("runs", plots.repeated_runs(found),
                            "Each figure run by run, in the order the runs ran (a trend is drift), with the median, "
                            "the mean and its interval."))
    warnings = [str(w) for w in document.get("warnings") or []]
    warning_table: Block = Table(["warning", "what to do"], [[Cell(w, "warn"), remedy(w)] for w in warnings]) \
        if warnings else Text("No warning.", "good")
    links = Links([(page.split("/")[0], page, "") for page in run_pages])
    command = document.get("command")
    intro = Text(f"Command: {' '.join(map(str, command))}" if command else "", "muted")
    page: list[Block] = [
        Heading(1, title), intro,
        Heading(2, "Every figure, run by run"), *figures, figure_table(document),
        Heading(2, "Runs"), run_table(document), links,
        Heading(2, "Warnings"), warning_table,
    ]
    markdown: list[Block] = [
        Heading(1, "ML Model Benchmark Report"), Text(title), intro,
        Heading(2, "System Information"), Text(f"Hardware hash {document.get('hardware_hash')}"),
        Heading(2, "Benchmark Results Summary"), figure_table(document),
        Heading(3, "Repeated Runs Results"), *figures, run_table(document),
        Heading(2, "Recommendations"), warning_table,
    ]
    return build_report(title, page, markdown, IMAGE_DIR)
