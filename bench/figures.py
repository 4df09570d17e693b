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
    why: str = ""
    """How bench.reasons explains a miss: "profile", "memory", "late", "ks", "import", "linear", "fixed" or ""."""
    probe: str | None = None
    """Rerun the measurement with this bench.child Probe mode ("cpu", "memory") when the target is missed."""


@dataclass
class FigureResult:
    figure: Figure
    ours: list[float | None] = field(default_factory=list)
    theirs: list[float | None] = field(default_factory=list)
    ratio: float | None = None
    status: str = ""
    limit: str = ""
    """What limits a missed target (bench.reasons), empty when met."""

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
            "limit": self.limit or None,
        }


def _numbers(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _stats(values: Sequence[float | None]) -> dict[str, float | None]:
    numbers = _numbers(values)
    if not numbers:
        return {"median": None, "min": None, "max": None}
    return {"median": statistics.median(numbers), "min": min(numbers), "max": max(numbers)}


def median(values: Sequence[float | None]) -> float | None:
    """The median of the measured values (None and NaN left out), None when there are none."""
    return _stats(values)["median"]


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


API = {OURS: "native API", OURS_MLPERF: "drop-in API"}
ISSUE15 = "(issue 15)"


def _offline_figures(sizes: Any) -> list[Figure]:
    figures: list[Figure] = []
    largest = max(sizes.offline_samples)
    for n in sizes.offline_samples:
        m = f"offline-{n}"
        for engine, api in ((OURS, "batch API"), (OURS_MLPERF, "drop-in API")):
            tag = "batch" if engine == OURS else "dropin"
            rate_target = Target("ratio", ">=", 2.0) if engine == OURS else None
            rss_target = Target("ratio", "<=", 0.25) if engine == OURS else None  # the batch API's target
            if engine == OURS_MLPERF and n == largest:  # issue 15's drop-in targets
                rate_target = Target("ratio", ">=", 2.0, text=f"ratio >= 2 {ISSUE15}")
                rss_target = Target("ratio", "<=", 0.5, text=f"ratio <= 0.5 {ISSUE15}")
            figures.append(Figure(f"offline_{n}_{tag}_rate", f"Offline {_count(n)}, null SUT: samples/s ({api})",
                                  "offline", m, _get("samples_per_second"), "/s", engine, rate_target,
                                  why="profile", probe="cpu"))
            figures.append(Figure(f"offline_{n}_{tag}_wall", f"Offline {_count(n)}, null SUT: wall time, s ({api})",
                                  "offline", m, _get("wall_s"), "s", engine))
            figures.append(Figure(f"offline_{n}_{tag}_rss",
                                  f"Offline {_count(n)}, null SUT: peak RSS per sample, B ({api})", "offline", m,
                                  _rss_per_sample(), "B", engine, rss_target, why="memory", probe="memory"))
    return figures


def _stream_figures() -> list[Figure]:
    figures: list[Figure] = []
    for scenario, m in (("SingleStream", "stream-single"), ("MultiStream", "stream-multi")):
        for engine in (OURS, OURS_MLPERF):
            tag = m if engine == OURS else f"{m}_dropin"
            api = "harness overhead" if engine == OURS else "drop-in API"
            for p in ("p50", "p90", "p99"):
                target = None
                if scenario == "SingleStream" and p == "p90":
                    target = (Target("ratio", "<=", 1.0) if engine == OURS
                              else Target("ratio", "<=", 0.5, text=f"ratio <= 0.5 {ISSUE15}"))
                figures.append(Figure(f"{tag}_{p}", f"{scenario}, null SUT: latency {p}, us ({api})", "stream", m,
                                      _get("latency_ns", p, scale=1e-3), "us", engine, target,
                                      why="profile", probe="cpu"))
            target = (Target("ratio", ">=", 1.2, text=f"ratio >= 1.2 {ISSUE15}")
                      if scenario == "SingleStream" and engine == OURS_MLPERF else None)
            suffix = "SUT side" if engine == OURS else "SUT side, drop-in API"
            figures.append(Figure(f"{tag}_qps", f"{scenario}, null SUT: queries/s ({suffix})", "stream", m,
                                  _get("queries_per_second"), "/s", engine, target, why="profile", probe="cpu"))
    return figures


def _server_figures(sizes: Any) -> list[Figure]:
    figures: list[Figure] = []
    for qps in sizes.server_delay_qps:
        m = f"server-{qps}"
        for engine in (OURS, OURS_MLPERF):
            tag, api = ("", "") if engine == OURS else ("_dropin", " (drop-in API)")
            for p in ("p50", "p99", "max"):
                target = Target("ratio", "<=", 0.5) if qps == 10_000 and p == "p99" and engine == OURS else None
                figures.append(Figure(f"server_{qps}{tag}_delay_{p}",
                                      f"Server {_count(qps)} q/s, null SUT: issue delay {p}, us{api}", "server", m,
                                      _get("issue_delay_ns", p, scale=1e-3), "us", engine, target, why="late"))
            target = (Target("ratio", "<=", 0.3, text=f"ratio <= 0.3 {ISSUE15}")
                      if qps == 10_000 and engine == OURS_MLPERF else None)
            figures.append(Figure(f"server_{qps}{tag}_latency_p99",
                                  f"Server {_count(qps)} q/s, null SUT: latency p99, us{api}", "server", m,
                                  _get("latency_ns", "p99", scale=1e-3), "us", engine, target, why="late",
                                  probe="cpu"))
            figures.append(Figure(f"server_{qps}{tag}_valid", f"Server {_count(qps)} q/s, null SUT: VALID runs{api}",
                                  "server", m, _get("valid"), ours_engine=engine, kind="bool"))
        figures.append(Figure(f"server_{qps}_floor_p99",
                              f"Server {_count(qps)} q/s: machine floor, issue delay p99 of an issuer that costs "
                              "nothing (a spinning thread's stalls, each child before its run), us", "server", m,
                              _get("machine_floor_p99_ns", scale=1e-3), "us", OURS_MLPERF))
    for qps in sizes.server_ks_qps:
        m = f"server-{qps}"
        for engine in (OURS, OURS_MLPERF):
            tag, api = ("", "") if engine == OURS else ("_dropin", " (drop-in API)")
            target = Target("ratio", "<=", 0.5)
            if engine == OURS_MLPERF:
                target = Target("ratio", "<=", 0.5, text=f"ratio <= 0.5 {ISSUE15}") if qps == 10_000 else None
            figures.append(Figure(f"server_{qps}{tag}_ks",
                                  f"Server {_count(qps)} q/s: KS distance, SUT-seen gaps vs exponential{api}",
                                  "server", m, _get("ks_sut_gaps"), "", engine, target, why="ks"))
        figures.append(Figure(f"server_{qps}_ks_floor", f"Server {_count(qps)} q/s: KS floor, scheduled gaps vs "
                              "exponential", "server", m, _get("ks_floor_scheduled_gaps"), ""))
    return figures


def _fixed_figures(sizes: Any) -> list[Figure]:
    figures: list[Figure] = []
    s = sizes.fixed_service_us
    rate = 1e6 / s
    rho = sizes.fixed_server_qps * s / 1e6
    mdl = s * (1 + rho / (2 * (1 - rho)))
    server = f"Server {_count(sizes.fixed_server_qps)} q/s"
    for engine in (OURS, OURS_MLPERF):
        tag, api = ("", "") if engine == OURS else ("_dropin", " (drop-in API)")
        add = figures.append
        add(Figure(f"fixed_single{tag}_p50", f"Fixed {s:g} us SUT, SingleStream: latency p50, us{api}", "fixed",
                   "fixed-single", _get("latency_ns", "p50", scale=1e-3), "us", engine,
                   Target("within", low=s, high=1.5 * s, text=f"both in [{s:g}, {1.5 * s:g}] us (S to 1.5 S)"),
                   why="fixed"))
        add(Figure(f"fixed_single{tag}_p90", f"Fixed {s:g} us SUT, SingleStream: latency p90, us{api}", "fixed",
                   "fixed-single", _get("latency_ns", "p90", scale=1e-3), "us", engine))
        add(Figure(f"fixed_offline{tag}_rate", f"Fixed {s:g} us SUT, Offline: samples/s{api}", "fixed",
                   "fixed-offline", _get("samples_per_second"), "/s", engine,
                   Target("within", low=0.95 * rate, high=1.05 * rate, text=f"both in 1/S +-5% ({rate:,.0f}/s)"),
                   why="fixed"))
        add(Figure(f"fixed_server{tag}_p50", f"Fixed {s:g} us SUT, {server} (rho {rho:g}): latency p50, us{api}",
                   "fixed", "fixed-server", _get("latency_ns", "p50", scale=1e-3), "us", engine,
                   Target("within", low=s, high=2 * s, text=f"both in [{s:g}, {2 * s:g}] us (M/D/1 median: S)"),
                   why="fixed"))
        add(Figure(f"fixed_server{tag}_mean", f"Fixed {s:g} us SUT, {server}: latency mean, us (M/D/1: {mdl:.0f}){api}",
                   "fixed", "fixed-server", _get("latency_ns", "mean", scale=1e-3), "us", engine))
    return figures


def _trace_figures(sizes: Any) -> list[Figure]:
    trace_m = f"server-{sizes.trace_qps}"
    n = _count(sizes.trace_save_samples)
    return [
        Figure("trace_disk_bytes", "Trace on disk, bytes per sample (ours trace.npz; LoadGen trace JSON)", "trace",
               trace_m, _ours_or(_get("trace_npz_bytes_per_sample"), _get("chrome_trace_bytes_per_sample")), "B",
               OURS, Target("ours", "<=", 64.0)),
        Figure("trace_memory_bytes", "Trace in memory, bytes per sample (ours)", "trace", trace_m,
               _get("trace_memory_bytes_per_sample"), "B", has_theirs=False),
        Figure("trace_chrome_bytes", "Chrome trace JSON, bytes per sample", "trace", trace_m,
               _get("chrome_trace_bytes_per_sample"), "B"),
        Figure("trace_chrome_valid", "Chrome trace export is valid JSON (json.load)", "trace", trace_m,
               _get("chrome_json_valid"), kind="bool", target=Target("true")),
        Figure("trace_save_s", f"Trace save, {n}-sample Server trace: Trace.save inside write_outputs, s", "trace",
               "trace-save", _get("trace_save_s"), "s", has_theirs=False,
               target=Target("ours", "<=", 0.25, text=f"ours <= 0.25 s {ISSUE15}"), why="profile", probe="cpu"),
        Figure("trace_save_bytes", f"Trace save, {n}-sample Server trace: trace.npz bytes per sample", "trace",
               "trace-save", _get("trace_npz_bytes_per_sample"), "B", has_theirs=False),
        Figure("trace_save_write_outputs_s", f"Trace save, {n}-sample Server trace: whole write_outputs, s",
               "trace", "trace-save", _get("write_outputs_s"), "s", has_theirs=False),
        Figure("trace_save_load_s", f"Trace save, {n}-sample Server trace: read back (load_trace), s", "trace",
               "trace-save", _get("trace_load_s"), "s", has_theirs=False),
        Figure("trace_save_exact", "trace.npz reads back exactly (every column, values and dtype)", "trace",
               "trace-save", _get("reads_back_exactly"), has_theirs=False, kind="bool",
               target=Target("true", text="true in every run")),
    ]


def _import_figures(sizes: Any) -> list[Figure]:
    limit = Target("ours", "<=", 150.0, text=f"ours <= 150 ms {ISSUE15}")
    best = f"best of {sizes.import_repeats} fresh interpreters a repetition"
    both = _ours_or(_get("import_s", "loadgen.mlperf", scale=1e3), _get("import_s", "mlperf_loadgen", scale=1e3))
    return [
        Figure("import_dropin_ms", f"import loadgen.mlperf, ms, {best} (LoadGen: import mlperf_loadgen)", "import",
               "imports", both, "ms", OURS_MLPERF, limit, why="import"),
        Figure("import_loadgen_ms", f"import loadgen, ms, {best}", "import", "imports",
               _get("import_s", "loadgen", scale=1e3), "ms", OURS_MLPERF, limit, has_theirs=False, why="import"),
        Figure("import_numpy_ms", "import numpy, ms (the floor: both engines import it)", "import", "imports",
               _get("import_s", "numpy", scale=1e3), "ms", OURS_MLPERF),
        Figure("import_process_ms", "python -c 'import loadgen.mlperf' (LoadGen: mlperf_loadgen), whole process, ms",
               "import", "imports", _ours_or(_get("process_s", "loadgen.mlperf", scale=1e3),
                                             _get("process_s", "mlperf_loadgen", scale=1e3)), "ms", OURS_MLPERF),
    ]


def _scaling_figures(sizes: Any) -> list[Figure]:
    figures: list[Figure] = []
    for n in sizes.scaling_samples:
        m = f"scaling-{n}"
        label = f"Native Offline {_count(n)}, null SUT"
        figures.append(Figure(f"scaling_{n}_rate", f"{label}: samples/s", "scaling", m, _get("samples_per_second"),
                              "/s", has_theirs=False))
        figures.append(Figure(f"scaling_{n}_post_run", f"{label}: post-run time (completion to results written), s",
                              "scaling", m, _get("post_run_s"), "s", has_theirs=False))
        figures.append(Figure(f"scaling_{n}_post_run_per_sample", f"{label}: post-run time per sample, ns",
                              "scaling", m, _get("post_run_ns_per_sample"), "ns", has_theirs=False))
    if len(sizes.scaling_samples) >= 2:
        small, large = sorted(sizes.scaling_samples)[-2:]
        figures.append(Figure("scaling_linear", f"Post-run time per sample, {_count(large)} / {_count(small)} "
                              "(linear growth: about 1)", "scaling", f"scaling-{large}",
                              _per_sample_growth(f"scaling-{small}"), "", has_theirs=False,
                              target=Target("ours", "<=", 1.5, text="ours <= 1.5 (linear)"), why="linear"))
    return figures


def build_figures(sizes: Any) -> list[Figure]:
    """Every figure for the measurement sizes in use (`bench.run.Sizes`)."""
    figures = _offline_figures(sizes) + _stream_figures() + _server_figures(sizes)
    for _coalesce, m, how in ((False, "peak", "one query per issue"), (True, "peak-coalesce", "coalescing on")):
        figures.append(Figure(f"{m}_qps", f"Server, null SUT: highest VALID rate, q/s ({how}; searched "
                              f"{_count(sizes.peak_start_qps)} to {_count(sizes.peak_cap_qps)})", "peak", m,
                              _get("peak_qps"), "/s", OURS, Target("ratio", ">=", 0.5)))
    figures += _fixed_figures(sizes)
    figures.append(Figure("startup_per_query", "Startup cost per generated query, us (Server, to first issue)",
                          "startup", "startup", _get("startup_s_per_query", scale=1e6), "us"))
    figures.append(Figure("schedule_per_query", "Schedule generation per query, us", "startup", "startup",
                          _get("schedule_s_per_query", scale=1e6), "us", OURS, Target("ratio", "<=", 0.1)))
    return figures + _trace_figures(sizes) + _import_figures(sizes) + _scaling_figures(sizes)


def _per_sample_growth(smaller: str) -> Extract:
    """Post-run ns per sample of this run / that of the same repetition's run of `smaller`."""

    def extract(result: dict[str, Any], ctx: dict[str, Any]) -> float | None:
        other = ctx.get("index", {}).get((smaller, ctx.get("engine"), ctx.get("rep")))
        if not other or not other.get("post_run_ns_per_sample") or result.get("post_run_ns_per_sample") is None:
            return None
        return float(result["post_run_ns_per_sample"]) / float(other["post_run_ns_per_sample"])

    return extract


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
    index = {(run["measurement"], run["engine"], run.get("rep")): run["result"] for run in runs if run.get("result")}
    ctx_base = {"idle_rss": {engine: statistics.median(values) for engine, values in idle.items()}, "index": index}
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
            ctx = {**ctx_base, "engine": run["engine"], "rep": run.get("rep")}
            bucket.append(figure.extract(result, ctx) if result else None)
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
    status = _verdict(target, out, ours, theirs)
    return "MISSED (no value)" if status == "n/a" else status


def _verdict(target: Target, out: FigureResult, ours: float | None, theirs: float | None) -> str:
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
