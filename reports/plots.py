"""The reports' figures as PNG bytes, drawn with matplotlib (the course's choice) on its Agg canvas.

Every function takes plot data (reports.series, or plain numbers a caller read from a
result) and returns PNG bytes: no pyplot, no global style, no file written. Figures have
a white background so that they read the same on a light or dark page and in print.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from reports.series import Gaps, LogHistogram, TimeBins

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 3.3, 100
INK = "#1f2933"
BLUE, ORANGE, GREEN, RED, PURPLE, GREY = "#1f6fb2", "#e07b00", "#2e8b57", "#c0392b", "#7b4fa0", "#8a949e"
MARK_COLOURS = (GREEN, ORANGE, RED, PURPLE, INK)


@dataclass(frozen=True)
class Mark:
    """A vertical line at a latency, labelled (p50, the early-stopping estimate, the bound)."""

    label: str
    value_ns: float
    dashed: bool = False


def plural(unit: str) -> str:
    """'queries' for 'query', 'samples' for 'sample'."""
    return "queries" if unit == "query" else f"{unit}s"


def format_duration(ns: float) -> str:
    """Nanoseconds as people read them on an axis: 850 ns, 12 us, 3.4 ms, 2 s."""
    for scale, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "us")):
        if abs(ns) >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


_DURATION_AXIS = FuncFormatter(lambda value, _pos: format_duration(value))


def _duration_axis(axis: Axis) -> None:
    """Durations on the major ticks, no labels on a log axis' minor ticks (they crowd into each other)."""
    axis.set_major_formatter(_DURATION_AXIS)
    axis.set_minor_formatter(NullFormatter())


def _figure(height: float = HEIGHT_IN, columns: int = 1, width: float = WIDTH_IN) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(1, columns, k + 1) for k in range(columns)]
    for ax in axes:
        ax.set_facecolor("white")
        ax.grid(True, color="#dde3e8", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.tick_params(labelsize=8, colors=INK)
    figure.subplots_adjust(left=0.09, right=0.98, bottom=0.17, top=0.9, wspace=0.28)
    return figure, axes


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white", metadata={"Software": None})
    return buffer.getvalue()


def _marks(ax: Axes, marks: Sequence[Mark]) -> None:
    for k, mark in enumerate(marks):
        colour = MARK_COLOURS[k % len(MARK_COLOURS)]
        ax.axvline(mark.value_ns, color=colour, linewidth=1.2, linestyle="--" if mark.dashed else "-",
                   label=f"{mark.label} {format_duration(mark.value_ns)}")
    if marks:
        ax.legend(fontsize=7, loc="best", frameon=False)


def latency_histogram(histogram: LogHistogram, marks: Sequence[Mark], unit: str) -> bytes:
    """Counts per log-spaced latency bin, with the reported percentiles marked."""
    figure, (ax,) = _figure()
    ax.stairs(histogram.counts, histogram.edges_ns, fill=True, color=BLUE, alpha=0.75)
    ax.set_xscale("log")
    _duration_axis(ax.xaxis)
    ax.set_xlabel(f"latency per {unit} (log axis, {histogram.bins_per_decade} bins a decade)", fontsize=9)
    ax.set_ylabel(f"{unit} count", fontsize=9)
    ax.set_title(f"Latency distribution ({histogram.total:,} {plural(unit)})", fontsize=10)
    _marks(ax, marks)
    return _png(figure)


def latency_cdf(curves: Sequence[tuple[str, str, LogHistogram]], marks: Sequence[Mark], unit: str) -> bytes:
    """Cumulative share of latencies at or below x, one curve per (label, colour, histogram)."""
    figure, (ax,) = _figure()
    for label, colour, histogram in curves:
        share = np.cumsum(histogram.counts) / max(histogram.total, 1)
        ax.step(histogram.edges_ns[1:], share, where="post", color=colour, linewidth=1.3, label=label or None)
    ax.set_xscale("log")
    _duration_axis(ax.xaxis)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"latency per {unit} (log axis)", fontsize=9)
    ax.set_ylabel("share at or below", fontsize=9)
    ax.set_title("Latency CDF", fontsize=10)
    _marks(ax, marks)
    if any(label for label, _, _ in curves) and not marks:
        ax.legend(fontsize=7, loc="lower right", frameon=False)
    return _png(figure)


def _seconds(edges_ns: np.ndarray) -> np.ndarray:
    return np.asarray(edges_ns, dtype=np.float64) / 1e9


def latency_over_time(bins: TimeBins, bound_ns: float | None) -> bytes:
    """p50, p90 and p99 of the queries completing in each time bin: warm-up, stalls and throttling show."""
    figure, (ax,) = _figure()
    x = _seconds(bins.edges_ns)
    centres = (x[:-1] + x[1:]) / 2
    low, high = bins.bands_ns[0.5], bins.bands_ns[0.99]
    ax.fill_between(centres, low, high, color=BLUE, alpha=0.15, linewidth=0, label="p50 to p99")
    for p, colour in ((0.5, GREEN), (0.9, ORANGE), (0.99, RED)):
        ax.plot(centres, bins.bands_ns[p], color=colour, linewidth=1.2, label=f"p{p * 100:g}")
    if bound_ns:
        ax.axhline(bound_ns, color=INK, linestyle="--", linewidth=1, label=f"bound {format_duration(bound_ns)}")
    ax.set_yscale("log")
    _duration_axis(ax.yaxis)
    ax.set_xlabel("time since the start of timing (s)", fontsize=9)
    ax.set_ylabel("latency (log axis)", fontsize=9)
    ax.set_title(f"Latency over time ({len(centres)} bins)", fontsize=10)
    ax.legend(fontsize=7, loc="best", frameon=False, ncols=5)
    return _png(figure)


def throughput_over_time(bins: TimeBins, target_per_s: float | None, target_label: str) -> bytes:
    """Samples completed per second in each time bin, against the rate the settings asked for."""
    figure, (ax,) = _figure()
    x = _seconds(bins.edges_ns)
    rate = bins.completed_samples / np.maximum(np.diff(x), 1e-12)
    ax.stairs(rate, x, fill=True, color=BLUE, alpha=0.6, label="completed samples/s")
    if target_per_s:
        ax.axhline(target_per_s, color=RED, linestyle="--", linewidth=1.2,
                   label=f"{target_label} {target_per_s:,.4g}/s")
    ax.set_xlabel("time since the start of timing (s)", fontsize=9)
    ax.set_ylabel("samples per second", fontsize=9)
    ax.set_title("Throughput over time", fontsize=10)
    ax.legend(fontsize=7, loc="lower center", frameon=False)
    return _png(figure)


def outstanding_over_time(bins: TimeBins, unit: str) -> bytes:
    """How many queries (Offline: samples) were issued and not yet complete."""
    figure, (ax,) = _figure()
    x = _seconds(bins.edges_ns)
    ax.step(x[1:], bins.outstanding, where="post", color=PURPLE, linewidth=1.3)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("time since the start of timing (s)", fontsize=9)
    ax.set_ylabel(f"outstanding {plural(unit)}", fontsize=9)
    ax.set_title(f"Outstanding {plural(unit)} (issued, not complete) at each bin's end", fontsize=10)
    return _png(figure)


def issue_delay_histogram(histogram: LogHistogram, marks: Sequence[Mark]) -> bytes:
    """How late each query was issued after its scheduled time."""
    figure, (ax,) = _figure()
    ax.stairs(histogram.counts, histogram.edges_ns, fill=True, color=ORANGE, alpha=0.75)
    ax.set_xscale("log")
    _duration_axis(ax.xaxis)
    ax.set_xlabel("issue delay: issued - scheduled (log axis; the first bin holds everything below it)", fontsize=9)
    ax.set_ylabel("queries", fontsize=9)
    ax.set_title(f"Server issue delay ({histogram.total:,} queries)", fontsize=10)
    _marks(ax, marks)
    return _png(figure)


def arrival_gaps(gaps: Gaps) -> bytes:
    """Scheduled and issued inter-arrival gaps against rate * exp(-rate * t): density, and survival on a log axis."""
    figure, (left, right) = _figure(columns=2)
    edges = gaps.density_edges_ns
    t = np.linspace(edges[0], edges[-1], 200)
    rate_ns = gaps.rate_per_s / 1e9
    left.stairs(gaps.scheduled_density, edges, color=BLUE, linewidth=1.2, label="scheduled")
    left.stairs(gaps.issued_density, edges, color=ORANGE, linewidth=1.2, label="issued")
    left.plot(t, gaps.rate_per_s * np.exp(-rate_ns * t), color=INK, linestyle="--", linewidth=1, label="intended")
    _duration_axis(left.xaxis)
    left.set_xlabel("gap between arrivals", fontsize=9)
    left.set_ylabel("density (per second)", fontsize=9)
    left.set_title(f"Arrival gaps at {gaps.rate_per_s:,.4g} queries/s", fontsize=10)
    left.legend(fontsize=7, frameon=False)
    x = gaps.survival_x_ns
    right.plot(x, gaps.scheduled_survival, color=BLUE, linewidth=1.2, label="scheduled")
    right.plot(x, gaps.issued_survival, color=ORANGE, linewidth=1.2, label="issued")
    right.plot(x, np.exp(-rate_ns * x), color=INK, linestyle="--", linewidth=1, label="exp(-rate t)")
    right.set_yscale("log")
    right.set_ylim(max(1e-5, 0.3 / max(len(x), 1) / 1e3), 1.2)
    _duration_axis(right.xaxis)
    right.set_xlabel("gap longer than", fontsize=9)
    right.set_ylabel("share of gaps (log axis)", fontsize=9)
    right.set_title("Survival: a straight line is exponential", fontsize=10)
    right.legend(fontsize=7, frameon=False)
    return _png(figure)


@dataclass(frozen=True)
class ForestRow:
    """One figure's ratio (B better when > 1) with its interval and verdict, as compare reported them."""

    name: str
    ratio: float | None
    low: float | None
    high: float | None
    verdict: str


def forest(rows: Sequence[ForestRow], margin: float | None) -> bytes:
    """Each figure's ratio with its interval on a log axis, 1 (no difference) and the equivalence margin marked."""
    figure, (ax,) = _figure(height=0.9 + 0.42 * max(len(rows), 1))
    figure.subplots_adjust(left=0.24, right=0.72, bottom=0.55 / (0.9 + 0.42 * max(len(rows), 1)) + 0.05, top=0.92)
    y = np.arange(len(rows))[::-1]
    if margin:
        ax.axvspan(1 / (1 + margin), 1 + margin, color=GREEN, alpha=0.15)
    ax.axvline(1.0, color=INK, linewidth=1)
    for yk, row in zip(y, rows, strict=True):
        if row.ratio is None:
            continue
        colour = {"equivalent": GREEN, "not enough evidence": GREY}.get(row.verdict, BLUE if row.ratio >= 1 else RED)
        if row.low is not None and row.high is not None:
            ax.plot([row.low, row.high], [yk, yk], color=colour, linewidth=2)
        ax.plot([row.ratio], [yk], "o", color=colour, markersize=6)
    ax.set_yticks(y, [row.name for row in rows], fontsize=8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.3g}x"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("ratio: how many times better B is than A (log axis; > 1: B better)", fontsize=9)
    ax.set_title("Every figure's ratio with its interval", fontsize=10)
    for yk, row in zip(y, rows, strict=True):
        ax.annotate(row.verdict, xy=(1.02, yk), xycoords=("axes fraction", "data"), fontsize=8, va="center",
                    color=INK, annotation_clip=False)
    return _png(figure)


@dataclass(frozen=True)
class RunsPanel:
    """One figure over repeated runs, in run order, with its summaries (None where not computed)."""

    name: str
    unit: str
    values: list[float]
    median: float | None
    mean: float | None
    interval: tuple[float, float] | None
    interval_label: str


def repeated_runs(panels: Sequence[RunsPanel]) -> bytes:
    """Per figure, each run's value in order (drift shows), the median, the mean and its interval."""
    columns = 2 if len(panels) > 1 else 1
    rows = (len(panels) + columns - 1) // columns
    figure = Figure(figsize=(WIDTH_IN, 2.3 * rows + 0.4), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.1, right=0.98, bottom=0.08, top=0.94, hspace=0.7, wspace=0.3)
    for k, panel in enumerate(panels):
        ax = figure.add_subplot(rows, columns, k + 1)
        ax.grid(True, color="#dde3e8", linewidth=0.6)
        ax.tick_params(labelsize=7)
        runs = np.arange(1, len(panel.values) + 1)
        if panel.interval is not None:
            ax.axhspan(panel.interval[0], panel.interval[1], color=BLUE, alpha=0.12, label=panel.interval_label)
        if panel.mean is not None:
            ax.axhline(panel.mean, color=BLUE, linewidth=1, label="mean")
        if panel.median is not None:
            ax.axhline(panel.median, color=GREEN, linewidth=1, linestyle="--", label="median")
        ax.plot(runs, panel.values, "o-", color=INK, markersize=4, linewidth=0.8)
        ax.set_xticks(runs)
        if panel.unit == "ns":
            _duration_axis(ax.yaxis)
        ax.set_title(panel.name, fontsize=9)
        ax.set_xlabel("run", fontsize=8)
        if k == 0:
            ax.legend(fontsize=6, frameon=False, loc="best")
    return _png(figure)


@dataclass(frozen=True)
class ParetoPoint:
    """One model on the Pareto plot: its time (ns), accuracy, size (MiB) and whether it is on the frontier."""

    name: str
    time_ns: float
    accuracy: float
    size_mb: float | None
    on_frontier: bool


def pareto(points: Sequence[ParetoPoint], time_label: str) -> bytes:
    """Latency against accuracy, marker area by model size; the frontier joined, dominated models hollow."""
    figure, (ax,) = _figure(height=4.2)
    sizes = [p.size_mb for p in points if p.size_mb]
    largest = max(sizes) if sizes else 1.0
    for point in points:
        area = 60 + 540 * ((point.size_mb or 0) / largest)
        if point.on_frontier:
            ax.scatter([point.time_ns], [point.accuracy], s=area, color=BLUE, alpha=0.8, edgecolors=INK, zorder=3)
        else:
            ax.scatter([point.time_ns], [point.accuracy], s=area, facecolors="none", edgecolors=GREY, zorder=3,
                       linewidths=1.5)
        size = f", {point.size_mb:.3g} MiB" if point.size_mb else ""
        tag = "" if point.on_frontier else " (dominated)"
        ax.annotate(f"{point.name}{size}{tag}", (point.time_ns, point.accuracy), textcoords="offset points",
                    xytext=(8, 6), fontsize=8, color=INK)
    frontier = sorted((p for p in points if p.on_frontier), key=lambda p: p.time_ns)
    if len(frontier) > 1:
        ax.plot([p.time_ns for p in frontier], [p.accuracy for p in frontier], color=BLUE, linewidth=1, zorder=2,
                label="Pareto frontier")
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    ax.set_xscale("log")
    _duration_axis(ax.xaxis)
    ax.margins(x=0.45, y=0.15)
    ax.set_xlabel(f"{time_label} (log axis; left is faster)", fontsize=9)
    ax.set_ylabel("top-1 accuracy (up is better)", fontsize=9)
    ax.set_title("Accuracy against latency; marker area is model size", fontsize=10)
    return _png(figure)


def percentile_ladder(points: Sequence[tuple[float, float]], marks: Sequence[Mark]) -> bytes:
    """Latency at each reported percentile (from the log's own figures, where no trace exists)."""
    figure, (ax,) = _figure()
    tail = [1.0 / (1.0 - p) for p, _ in points]
    ax.plot(tail, [value for _, value in points], "o-", color=BLUE, linewidth=1.3)
    for (p, value), x in zip(points, tail, strict=True):
        ax.annotate(f"p{p * 100:g}", (x, value), textcoords="offset points", xytext=(4, -12), fontsize=7)
    for k, mark in enumerate(marks):
        ax.axhline(mark.value_ns, color=MARK_COLOURS[k % len(MARK_COLOURS)], linestyle="--", linewidth=1,
                   label=f"{mark.label} {format_duration(mark.value_ns)}")
    if marks:
        ax.legend(fontsize=7, frameon=False, loc="upper left")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"p{(1 - 1 / v) * 100:g}" if v >= 1 else ""))
    _duration_axis(ax.yaxis)
    ax.set_xlabel("percentile (log axis of 1 / (1 - p): the tail spreads out)", fontsize=9)
    ax.set_ylabel("latency", fontsize=9)
    ax.set_title("Latency at each reported percentile", fontsize=10)
    return _png(figure)
