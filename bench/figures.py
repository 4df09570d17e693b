"""The figures of the benchmark, their targets, and the Markdown table.

Each figure reads one number from the result of every child run of one measurement
(`bench.child`), for our engine and for LoadGen; the table shows each engine's median
with the [min, max] over repetitions, the ratio of the medians (ours / LoadGen) and
whether the issue's target is met. The ratio is always ours divided by LoadGen's, so
"<= 0.5" means at most half of LoadGen's, ">= 2" at least twice.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

OURS, OURS_MLPERF, LOADGEN = "ours", "ours-mlperf", "loadgen"

Extract = Callable[[dict[str, Any], dict[str, Any]], "float | None"]
"""(child result, context with the idle baselines) -> the figure's value, or None."""


@dataclass(frozen=True)
class Target:
    """What a figure must reach.

    kind "ratio": ours/LoadGen `op` value; "ours": ours' median `op` value;
    "within": both engines' medians inside [low, high]; "true": ours is true in every run.
    """

    kind: str
    op: str = ""
    value: float = 0.0
    low: float = 0.0
    high: float = 0.0
    text: str = ""

    def describe(self) -> str:
        if self.text:
            return self.text
        if self.kind == "ratio":
            return f"ratio {self.op} {self.value:g}"
        if self.kind == "ours":
            return f"ours {self.op} {self.value:g}"
        if self.kind == "within":
            return f"both in [{self.low:g}, {self.high:g}]"
        return "ours valid"


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    group: str
    measurement: str
    extract: Extract
    unit: str = ""
    ours_engine: str = OURS
    target: Target | None = None
    has_theirs: bool = True
    kind: str = "number"  # "number" or "bool" (shown as count of true runs)


@dataclass
class FigureResult:
    figure: Figure
    ours: list[float | None] = field(default_factory=list)
    theirs: list[float | None] = field(default_factory=list)
    ratio: float | None = None
    status: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.figure.key,
            "label": self.figure.label,
            "group": self.figure.group,
            "unit": self.figure.unit,
            "ours_engine": self.figure.ours_engine,
            "ours": {"values": self.ours, **_stats(self.ours)},
            "loadgen": {"values": self.theirs, **_stats(self.theirs)} if self.figure.has_theirs else None,
            "ratio": self.ratio,
            "target": self.figure.target.describe() if self.figure.target else None,
            "status": self.status,
        }


def _numbers(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _stats(values: Sequence[float | None]) -> dict[str, float | None]:
    numbers = _numbers(values)
    if not numbers:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(numbers), "min": min(numbers), "max": max(numbers)}


# ------------------------------------------------------------------ extractors


def _get(*path: str, scale: float = 1.0) -> Extract:
    def extract(result: dict[str, Any], _ctx: dict[str, Any]) -> float | None:
        value: Any = result
        for key in path:
            if not isinstance(value, dict) or value.get(key) is None:
                return None
            value = value[key]
        if isinstance(value, bool):
            return 1.0 if value else 0.0
        return float(value) * scale

    return extract


def _rss_per_sample() -> Extract:
    """(peak RSS - the idle baseline of the same engine) / samples."""

    def extract(result: dict[str, Any], ctx: dict[str, Any]) -> float | None:
        baseline = ctx.get("idle_rss", {}).get(ctx.get("engine"))
        if baseline is None or not result.get("samples"):
            return None
        return (result["rss_bytes"] - baseline) / result["samples"]

    return extract


# ------------------------------------------------------------------ the figures


def _count(n: float) -> str:
    """1000000 -> 1M, 2500 -> 2.5k, 1024000 -> 1024k."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n / 1_000_000:g}M"
    return f"{n / 1000:g}k" if n >= 1000 else f"{n:g}"


def build_figures(sizes: Any) -> list[Figure]:
    """Every figure for the measurement sizes in use (`bench.run.Sizes`)."""
    figures: list[Figure] = []
    add = figures.append
    for n in sizes.offline_samples:
        m = f"offline-{n}"
        for engine, api in ((OURS, "batch API"), (OURS_MLPERF, "drop-in API")):
            tag = "batch" if engine == OURS else "dropin"
            add(Figure(f"offline_{n}_{tag}_rate", f"Offline {_count(n)}, null SUT: samples/s ({api})", "offline", m,
                       _get("samples_per_second"), "/s", engine,
                       Target("ratio", ">=", 2.0) if engine == OURS else None))
            add(Figure(f"offline_{n}_{tag}_wall", f"Offline {_count(n)}, null SUT: wall time, s ({api})", "offline", m,
                       _get("wall_s"), "s", engine))
            add(Figure(f"offline_{n}_{tag}_rss", f"Offline {_count(n)}, null SUT: peak RSS per sample, B ({api})",
                       "offline", m, _rss_per_sample(), "B", engine, Target("ratio", "<=", 0.25)))
    for scenario, m in (("SingleStream", "stream-single"), ("MultiStream", "stream-multi")):
        for p in ("p50", "p90", "p99"):
            target = Target("ratio", "<=", 1.0) if scenario == "SingleStream" and p == "p90" else None
            add(Figure(f"{m}_{p}", f"{scenario}, null SUT: latency {p}, us (harness overhead)", "stream", m,
                       _get("latency_ns", p, scale=1e-3), "us", OURS, target))
        add(Figure(f"{m}_qps", f"{scenario}, null SUT: queries/s (SUT side)", "stream", m,
                   _get("queries_per_second"), "/s"))
    for qps in sizes.server_delay_qps:
        m = f"server-{qps}"
        for p in ("p50", "p99", "max"):
            target = Target("ratio", "<=", 0.5) if qps == 10_000 and p == "p99" else None
            add(Figure(f"server_{qps}_delay_{p}", f"Server {_count(qps)} q/s, null SUT: issue delay {p}, us",
                       "server", m, _get("issue_delay_ns", p, scale=1e-3), "us", OURS, target))
        add(Figure(f"server_{qps}_valid", f"Server {_count(qps)} q/s, null SUT: VALID runs", "server", m,
                   _get("valid"), kind="bool"))
    for qps in sizes.server_ks_qps:
        m = f"server-{qps}"
        add(Figure(f"server_{qps}_ks", f"Server {_count(qps)} q/s: KS distance, SUT-seen gaps vs exponential",
                   "server", m, _get("ks_sut_gaps"), "", OURS, Target("ratio", "<=", 0.5)))
        add(Figure(f"server_{qps}_ks_floor", f"Server {_count(qps)} q/s: KS floor, scheduled gaps vs exponential",
                   "server", m, _get("ks_floor_scheduled_gaps"), ""))
    for _coalesce, m, how in ((False, "peak", "one query per issue"), (True, "peak-coalesce", "coalescing on")):
        add(Figure(f"{m}_qps", f"Server, null SUT: highest VALID rate, q/s ({how}; searched "
                   f"{_count(sizes.peak_start_qps)} to {_count(sizes.peak_cap_qps)})", "peak", m,
                   _get("peak_qps"), "/s", OURS, Target("ratio", ">=", 0.5)))
    s = sizes.fixed_service_us
    add(Figure("fixed_single_p50", f"Fixed {s:g} us SUT, SingleStream: latency p50, us", "fixed", "fixed-single",
               _get("latency_ns", "p50", scale=1e-3), "us", OURS,
               Target("within", low=s, high=1.5 * s, text=f"both in [{s:g}, {1.5 * s:g}] us (S to 1.5 S)")))
    add(Figure("fixed_single_p90", f"Fixed {s:g} us SUT, SingleStream: latency p90, us", "fixed", "fixed-single",
               _get("latency_ns", "p90", scale=1e-3), "us"))
    rate = 1e6 / s
    add(Figure("fixed_offline_rate", f"Fixed {s:g} us SUT, Offline: samples/s", "fixed", "fixed-offline",
               _get("samples_per_second"), "/s", OURS,
               Target("within", low=0.95 * rate, high=1.05 * rate, text=f"both in 1/S +-5% ({rate:,.0f}/s)")))
    rho = sizes.fixed_server_qps * s / 1e6
    add(Figure("fixed_server_p50", f"Fixed {s:g} us SUT, Server {_count(sizes.fixed_server_qps)} q/s "
               f"(rho {rho:g}): latency p50, us", "fixed", "fixed-server",
               _get("latency_ns", "p50", scale=1e-3), "us", OURS,
               Target("within", low=s, high=2 * s, text=f"both in [{s:g}, {2 * s:g}] us (M/D/1 median: S)")))
    mdl = s * (1 + rho / (2 * (1 - rho)))
    add(Figure("fixed_server_mean", f"Fixed {s:g} us SUT, Server {_count(sizes.fixed_server_qps)} q/s: "
               f"latency mean, us (M/D/1: {mdl:.0f})", "fixed", "fixed-server",
               _get("latency_ns", "mean", scale=1e-3), "us"))
    add(Figure("startup_per_query", "Startup cost per generated query, us (Server, to first issue)", "startup",
               "startup", _get("startup_s_per_query", scale=1e6), "us"))
    add(Figure("schedule_per_query", "Schedule generation per query, us", "startup", "startup",
               _get("schedule_s_per_query", scale=1e6), "us", OURS, Target("ratio", "<=", 0.1)))
    trace_m = f"server-{sizes.trace_qps}"
    add(Figure("trace_disk_bytes", "Trace on disk, bytes per sample (ours trace.npz; LoadGen trace JSON)", "trace",
               trace_m, _ours_or(_get("trace_npz_bytes_per_sample"), _get("chrome_trace_bytes_per_sample")), "B",
               OURS, Target("ours", "<=", 64.0)))
    add(Figure("trace_memory_bytes", "Trace in memory, bytes per sample (ours)", "trace", trace_m,
               _get("trace_memory_bytes_per_sample"), "B", has_theirs=False))
    add(Figure("trace_chrome_bytes", "Chrome trace JSON, bytes per sample", "trace", trace_m,
               _get("chrome_trace_bytes_per_sample"), "B"))
    add(Figure("trace_chrome_valid", "Chrome trace export is valid JSON (json.load)", "trace", trace_m,
               _get("chrome_json_valid"), kind="bool", target=Target("true")))
    return figures


def _ours_or(ours: Extract, theirs: Extract) -> Extract:
    """Ours reads one field, LoadGen another (the figure's context says which engine)."""

    def extract(result: dict[str, Any], ctx: dict[str, Any]) -> float | None:
        return ours(result, ctx) if ctx.get("engine") != LOADGEN else theirs(result, ctx)

    return extract


# ------------------------------------------------------------------ aggregation


def aggregate(figures: Sequence[Figure], runs: Sequence[dict[str, Any]]) -> list[FigureResult]:
    """Each figure's values per engine over the repetitions, the ratio and the verdict."""
    idle: dict[str, list[float]] = {}
    for run in runs:
        if run["measurement"] == "idle" and run.get("result"):
            idle.setdefault(run["engine"], []).append(run["result"]["rss_bytes"])
    ctx_base = {"idle_rss": {engine: statistics.median(values) for engine, values in idle.items()}}
    results = []
    for figure in figures:
        out = FigureResult(figure)
        for run in runs:
            if run["measurement"] != figure.measurement:
                continue
            if run["engine"] == figure.ours_engine:
                bucket = out.ours
            elif run["engine"] == LOADGEN and figure.has_theirs:
                bucket = out.theirs
            else:
                continue
            result = run.get("result")
            bucket.append(figure.extract(result, {**ctx_base, "engine": run["engine"]}) if result else None)
        ours, theirs = _stats(out.ours)["median"], _stats(out.theirs)["median"]
        if ours is not None and theirs not in (None, 0) and figure.kind == "number":
            out.ratio = ours / theirs
        out.status = verdict(figure, out, ours, theirs)
        results.append(out)
    return results


def verdict(figure: Figure, out: FigureResult, ours: float | None, theirs: float | None) -> str:
    target = figure.target
    if target is None:
        return ""
    if target.kind == "true":
        values = _numbers(out.ours)
        if not values:
            return "n/a"
        return "met" if all(v == 1.0 for v in values) else "MISSED"
    if target.kind == "within":
        if ours is None or theirs is None:
            return "n/a"
        ok_ours = target.low <= ours <= target.high
        ok_theirs = target.low <= theirs <= target.high
        if ok_ours and ok_theirs:
            return "met"
        who = [name for name, ok in (("ours", ok_ours), ("LoadGen", ok_theirs)) if not ok]
        return f"MISSED ({', '.join(who)})"
    value = out.ratio if target.kind == "ratio" else ours
    if value is None:
        return "n/a"
    ok = value >= target.value if target.op == ">=" else value <= target.value
    return "met" if ok else "MISSED"


# ------------------------------------------------------------------ formatting


def fmt_number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    magnitude = abs(value)
    if unit == "/s" or magnitude >= 1e5:
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if magnitude >= scale:
                return f"{value / scale:.3g}{suffix}"
    if magnitude >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def fmt_cell(values: Sequence[float | None], figure: Figure) -> str:
    numbers = _numbers(values)
    if not values:
        return "-"
    if not numbers:
        return "n/a"
    if figure.kind == "bool":
        return f"{sum(1 for v in numbers if v == 1.0)}/{len(values)}"
    stats = _stats(numbers)
    if len(numbers) == 1:
        return fmt_number(stats["median"], figure.unit)
    return (f"{fmt_number(stats['median'], figure.unit)} "
            f"[{fmt_number(stats['min'], figure.unit)}, {fmt_number(stats['max'], figure.unit)}]")


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.3g}" if ratio < 1000 else f"{ratio:.3g}".replace("e+0", "e").replace("e+", "e")


def markdown_table(results: Sequence[FigureResult]) -> str:
    lines = [
        "| figure | ours (median [min, max]) | LoadGen (median [min, max]) | ratio | target | met/MISSED |",
        "|---|---|---|---|---|---|",
    ]
    for out in results:
        figure = out.figure
        theirs = fmt_cell(out.theirs, figure) if figure.has_theirs else "-"
        target = figure.target.describe() if figure.target else ""
        lines.append(f"| {figure.label} | {fmt_cell(out.ours, figure)} | {theirs} | {fmt_ratio(out.ratio)} | "
                     f"{target} | {out.status} |")
    return "\n".join(lines)
