"""The comparison's report: a forest plot of every figure's ratio, overlaid latency CDFs of A's and B's runs,
the course's normalized metrics with their formulas, the accuracy gate, and what differs between the machines.

Pure: compare's JSON (read defensively: loadgen.cli.compare may add keys) and each run's
latency histogram in, a Report out. No statistic is computed here: every ratio, interval
and verdict is the comparison's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reports import plots
from reports.comparison import format_value
from reports.document import Block, Cell, Heading, Items, Links, Plot, Report, Table, Text, build_report
from reports.plots import ForestRow
from reports.series import LogHistogram

IMAGE_DIR = "report-images"
NORMALIZED_KEYS = ("speedup", "compression_ratio", "accuracy_delta", "efficiency_score")


@dataclass(frozen=True)
class SideCurves:
    """One side's runs as latency histograms on shared edges, for the overlaid CDFs."""

    label: str
    colour: str
    runs: Sequence[tuple[str, LogHistogram]]
    unit: str


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def forest_rows(report: Mapping[str, Any]) -> list[ForestRow]:
    rows = []
    for row in report.get("comparisons") or []:
        rows.append(ForestRow(str(row.get("metric", "?")), _number(row.get("ratio")), _number(row.get("ci_low")),
                              _number(row.get("ci_high")), str(row.get("verdict", ""))))
    return rows


def _tone(verdict: str) -> str:
    if verdict in ("not enough evidence", ""):
        return ""
    if verdict == "equivalent":
        return "good"
    return "warn"


def figure_table(report: Mapping[str, Any]) -> Table:
    rows: list[list[Cell | str]] = []
    for row in report.get("comparisons") or []:
        unit = str(row.get("unit", ""))
        low, high = _number(row.get("ci_low")), _number(row.get("ci_high"))
        ratio = _number(row.get("ratio"))
        interval = f"[{low:.3f}, {high:.3f}]" if low is not None and high is not None else "n/a"
        level, method = _number(row.get("level")), row.get("method")
        if interval != "n/a" and method:
            interval += f" ({f'{level:.0%} ' if level is not None else ''}{method})"
        p_value = _number(row.get("p_value"))
        name = str(row.get("metric")) + (f" ({row['role']})" if row.get("role") else "")
        rows.append([name, format_value(_number(row.get("a_mean")), unit),
                     format_value(_number(row.get("b_mean")), unit), "n/a" if ratio is None else f"{ratio:.3f}",
                     interval, "n/a" if p_value is None else f"{p_value:.2g}",
                     Cell(str(row.get("verdict", "")), _tone(str(row.get("verdict", "")))),
                     str(row.get("summary", ""))])
    return Table(["figure", "A mean", "B mean", "ratio (B better > 1)", "interval", "p", "verdict", "in words"], rows)


def normalized_table(report: Mapping[str, Any]) -> list[Block]:
    block = report.get("normalized") or {}
    rows: list[list[Cell | str]] = []
    for key in NORMALIZED_KEYS:
        entry = block.get(key) or {}
        value = _number(entry.get("value"))
        shown = "n/a" if value is None else (f"{value:+.4f}" if key == "accuracy_delta" else f"{value:.3f}")
        extra = {k: v for k, v in entry.items() if k not in ("formula", "value", "why")}
        detail = entry.get("why") or ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in extra.items() if v is not None)
        rows.append([key.replace("_", " "), str(entry.get("formula", "")), shown, str(detail)])
    blocks: list[Block] = [Table(["metric", "formula", "value", "from / why not"], rows)]
    gated = block.get("gated_speedup") or {}
    if gated:
        flagged = bool(gated.get("flagged"))
        tone = "bad" if flagged else "warn" if gated.get("accuracy_delta") is None else "good"
        blocks.append(Text(f"Accuracy gate: {'FLAGGED: ' if flagged else ''}{gated.get('note', '')}", tone))
    return blocks


def side_table(report: Mapping[str, Any]) -> Table:
    rows: list[list[Cell | str]] = []
    for label in ("a", "b"):
        side = report.get(label) or {}
        rows.append([label.upper(), str(side.get("sut_name", "?")), str(side.get("runs", "?")),
                     str(side.get("left_out", 0)), str(side.get("mode", "?")), str(side.get("folder", "?"))])
    return Table(["side", "SUT", "runs used", "left out", "mode", "folder"], rows)


def cdf_plot(sides: Sequence[SideCurves]) -> list[Block]:
    curves = [(f"{side.label} {name}" if k == 0 else "", side.colour, histogram)
              for side in sides for k, (name, histogram) in enumerate(side.runs)]
    if not curves:
        return [Text("No traces: the runs' latency distributions cannot be overlaid.", "muted")]
    unit = sides[0].unit
    return [Plot("latency_cdfs", plots.latency_cdf(curves, [], unit),
                 f"Latency CDF of every run, A in blue and B in orange (one line per run; per {unit}).")]


def render_comparison_report(report: Mapping[str, Any], sides: Sequence[SideCurves],
                             side_links: Sequence[tuple[str, str]] = ()) -> Report:
    """The comparison page and its markdown; side_links are (label, relative link) of each side's own page."""
    scenario = str(report.get("scenario", "?"))
    a, b = report.get("a") or {}, report.get("b") or {}
    title = f"{scenario}: {b.get('sut_name', 'B')} against {a.get('sut_name', 'A')}"
    rows = forest_rows(report)
    margin = _number(report.get("margin"))
    forest: list[Block] = []
    if any(row.ratio is not None for row in rows):
        forest.append(Plot("forest", plots.forest(rows, margin),
                           "Every figure's ratio (how many times better B is than A) with its interval, and the "
                           f"verdict compare reached; the shaded band is the equivalence margin "
                           f"({margin if margin is not None else 'n/a'})."))
    environment = [Text(line, "warn") for line in report.get("environment") or []]
    noise = [Text(line, "warn") for line in report.get("noise") or []]
    intro = Text(f"B against A, {report.get('metrics_tested', 0)} figures tested, alpha {report.get('alpha')}, "
                 f"equivalence margin {margin if margin is not None else 'n/a'}; ratios > 1 mean B is better.", "muted")
    differences: list[Block] = [Items(environment)] if environment else [
        Text("The two sides' fingerprints, modes and settings agree.", "good")]
    links = Links([(label, href, "") for label, href in side_links])
    page: list[Block] = [
        Heading(1, title), intro, side_table(report),
        Heading(2, "Every figure"), *forest, figure_table(report),
        Heading(2, "Latency distributions"), *cdf_plot(sides),
        Heading(2, "The course's normalized metrics"), *normalized_table(report),
        Heading(2, "Fingerprint and settings differences"), *differences,
        Heading(2, "Noise"), Items(noise) if noise else Text("No noise warning.", "good"),
        Heading(2, "Runs"), links,
    ]
    markdown: list[Block] = [
        Heading(1, "ML Model Benchmark Report"), Text(title), intro,
        Heading(2, "System Information"), side_table(report), *differences,
        Heading(2, "Benchmark Results Summary"), figure_table(report), *forest,
        Heading(3, "Latency Results"), *cdf_plot(sides),
        Heading(3, "Normalized Metrics Results"), *normalized_table(report),
        Heading(2, "Recommendations"),
        Items(noise + environment) if noise or environment else Text("Nothing disturbed the comparison."),
    ]
    return build_report(title, page, markdown, IMAGE_DIR)
