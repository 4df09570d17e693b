"""Many models at once (baseline, int8, pruned, CNN, ...): the course's normalized metrics against the baseline
and a Pareto plot of latency against accuracy, size as marker area, frontier marked, as module 19 teaches.

Pure: one ModelEntry per results folder (its figures as loadgen.analysis gathers them)
in, a Report out. The normalized metrics are loadgen.analysis.stats' formulas; the
frontier is the one judgement made here: a model is dominated when another is no slower,
no less accurate and no larger, and better in one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadgen.analysis import stats
from reports import plots
from reports.document import Block, Cell, Heading, Items, Plot, Report, Table, Text, build_report
from reports.plots import ParetoPoint, format_duration

IMAGE_DIR = "report-images"


@dataclass(frozen=True)
class ModelEntry:
    """One model's folder and its mean figures over its runs (None where the runs lack one)."""

    name: str
    folder: str
    runs: int
    time_ns: float | None
    accuracy: float | None
    size_mb: float | None
    valid_runs: int


def dominates(a: ModelEntry, b: ModelEntry) -> bool:
    """a is no worse than b in time, accuracy and (where both have one) size, and better in at least one."""
    if a.time_ns is None or b.time_ns is None or a.accuracy is None or b.accuracy is None:
        return False
    pairs = [(a.time_ns, b.time_ns), (-a.accuracy, -b.accuracy)]
    if a.size_mb is not None and b.size_mb is not None:
        pairs.append((a.size_mb, b.size_mb))
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def frontier(entries: Sequence[ModelEntry]) -> dict[str, list[str]]:
    """For every model with a time and an accuracy: the names of the models that dominate it ([] on the frontier)."""
    plotted = [e for e in entries if e.time_ns is not None and e.accuracy is not None]
    return {e.name: [o.name for o in plotted if o is not e and dominates(o, e)] for e in plotted}


def _normalized(baseline: ModelEntry, entry: ModelEntry) -> list[Cell | str]:
    speedup = stats.speedup(baseline.time_ns, entry.time_ns) if baseline.time_ns and entry.time_ns else None
    compression = stats.compression_ratio(baseline.size_mb, entry.size_mb) \
        if baseline.size_mb and entry.size_mb else None
    delta = stats.accuracy_delta(baseline.accuracy, entry.accuracy) \
        if baseline.accuracy is not None and entry.accuracy is not None else None
    efficiency = stats.efficiency_score(speedup, compression, delta) \
        if speedup is not None and compression is not None and delta is not None else None
    return ["n/a" if speedup is None else f"{speedup:.3f}", "n/a" if compression is None else f"{compression:.3f}",
            "n/a" if delta is None else f"{delta:+.4f}", "n/a" if efficiency is None else f"{efficiency:.3f}"]


def metrics_table(entries: Sequence[ModelEntry], baseline: ModelEntry, dominated: dict[str, list[str]],
                  time_label: str) -> Table:
    rows: list[list[Cell | str]] = []
    for entry in entries:
        standing = "baseline" if entry is baseline else ""
        if entry.name in dominated:
            by = dominated[entry.name]
            standing = (standing + "; " if standing else "") + (f"dominated by {', '.join(by)}" if by else "frontier")
        rows.append([entry.name, f"{entry.valid_runs} of {entry.runs}",
                     "n/a" if entry.time_ns is None else format_duration(entry.time_ns),
                     "n/a" if entry.accuracy is None else f"{entry.accuracy:.4f}",
                     "n/a" if entry.size_mb is None else f"{entry.size_mb:.4g}",
                     *_normalized(baseline, entry), Cell(standing or "no accuracy: not placed",
                                                         "good" if standing.endswith("frontier") else "")])
    return Table(["model", "VALID runs", time_label, "top-1 accuracy", "size (MiB)", "speedup", "compression",
                  "accuracy delta", "efficiency", "Pareto"], rows)


def render_models_report(entries: Sequence[ModelEntry], baseline: ModelEntry, scenario: str,
                         time_label: str) -> Report:
    """The many-models page and its markdown."""
    dominated = frontier(entries)
    points = [ParetoPoint(e.name, float(e.time_ns), float(e.accuracy), e.size_mb, not dominated[e.name])
              for e in entries if e.name in dominated and e.time_ns is not None and e.accuracy is not None]
    title = f"{len(entries)} models, {scenario}, against {baseline.name}"
    formulas = Items([Text(f) for f in (stats.SPEEDUP_FORMULA, stats.COMPRESSION_FORMULA,
                                        stats.ACCURACY_DELTA_FORMULA, stats.EFFICIENCY_FORMULA)])
    missing = [e.name for e in entries if e.name not in dominated]
    notes: list[Block] = [Text(f"Not on the plot (no top-1 accuracy or no {time_label}): {', '.join(missing)}; "
                               "run them with --mode submission.", "warn")] if missing else []
    pareto: list[Block] = [Plot("pareto", plots.pareto(points, time_label),
                                "Accuracy against latency, marker area proportional to model size; filled models "
                                "are on the Pareto frontier, hollow ones are dominated.")] if points else []
    table = metrics_table(entries, baseline, dominated, time_label)
    advice = [Text(f"{name}: dominated by {', '.join(by)}; prefer those") for name, by in dominated.items() if by]
    advice = advice or [Text("Every placed model is on the frontier: pick by your constraint.")]
    page: list[Block] = [
        Heading(1, title), Text(f"Baseline: {baseline.name} ({baseline.folder}); each figure is the mean over a "
                                "model's runs.", "muted"),
        Heading(2, "Normalized metrics against the baseline"), table, formulas,
        Heading(2, "Pareto frontier"), *pareto, *notes,
    ]
    markdown: list[Block] = [
        Heading(1, "ML Model Benchmark Report"), Text(title),
        Heading(2, "System Information"), Text("Each model's machine is in its own folder's report."),
        Heading(2, "Benchmark Results Summary"), table, formulas,
        Heading(3, "Pareto Results"), *pareto, *notes,
        Heading(2, "Recommendations"), Items(advice),
    ]
    return build_report(title, page, markdown, IMAGE_DIR)
