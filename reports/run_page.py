"""One run's report: the verdict first, then the headline, the latency, throughput and (Server) arrival plots,
accuracy, settings, the machine and its warnings, and links to the raw files.

Pure: a finished RunResult and its trace (None for a LoadGen log folder, which has none)
in, a Report out. Every number printed is read from the RunResult (computed once by
loadgen.metrics); the plots bin the trace with reports.series, which uses the same
latency functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadgen.engine.trace import Trace
from loadgen.metrics.figures import Metrics, percentile_label
from loadgen.metrics.result import RunResult
from loadgen.settings.model import Scenario
from reports import plots
from reports.advice import remedy
from reports.document import Block, Cell, Heading, Items, Links, Plot, Report, Table, Text, build_report
from reports.plots import Mark, format_duration
from reports.series import RunSeries, run_series

IMAGE_DIR = "report-images"
SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")
FILE_NOTES = {
    "result.json": "everything: verdict, metrics, settings, fingerprint, file hashes",
    "mlperf_log_summary.txt": "LoadGen's summary layout",
    "mlperf_log_detail.txt": "LoadGen's detail log (:::MLLOG lines)",
    "trace.npz": "one row per sample, lossless (numpy)",
    "mlperf_log_trace.json": "Chrome trace: open in Perfetto",
    "mlperf_log_accuracy.json": "logged responses",
    "report.md": "this report as markdown, for GitHub",
}


@dataclass(frozen=True)
class RunInputs:
    """What the run page needs besides the result: its trace, the files beside it, the official seeds."""

    result: RunResult
    trace: Trace | None
    files: Sequence[str] = ()
    official_seeds: Mapping[str, int] | None = None
    source: str = ""
    siblings: Sequence[tuple[str, str]] = field(default_factory=tuple)
    """(label, relative link) of related pages, e.g. the repeated-runs page above this run."""


def _yes(ok: bool) -> Cell:
    return Cell("passed" if ok else "FAILED", "good" if ok else "bad")


def _ns(value: float | None) -> str:
    return "n/a" if value is None else format_duration(value)


def _setting(result: RunResult, key: str) -> Any:
    return result.settings_effective.get(key)


def verdict_rows(result: RunResult, official: Mapping[str, int] | None) -> list[list[Cell | str]]:
    """One row per rule: the rule, what the run measured, what the rule requires, passed or failed."""
    metrics, checks = result.metrics, result.checks
    rows: list[list[Cell | str]] = []
    if "run_completed" in checks:
        ended = result.error or result.stop_reason
        rows.append(["the run completed", ended, "no error", _yes(checks["run_completed"])])
    if metrics is not None:
        rows += _metric_rules(result, metrics)
    if "accuracy" in checks:
        accuracy = result.accuracy
        seen = f"{accuracy.completed:,} of {accuracy.samples:,} samples answered" if accuracy else "not measured"
        rows.append(["accuracy pass", seen, "every sample answered once", _yes(checks["accuracy"])])
    known = {"run_completed", "min_duration", "min_queries", "early_stopping", "performance_constraints", "accuracy"}
    for name, ok in checks.items():
        if name not in known:
            rows.append([name.replace("_", " "), "see the reasons below", "", _yes(ok)])
    rows.append(_seed_row(result, official))
    return rows


def _metric_rules(result: RunResult, metrics: Metrics) -> list[list[Cell | str]]:
    checks = result.checks
    rows: list[list[Cell | str]] = []
    server = result.scenario == Scenario.Server.value
    if "min_duration" in checks:
        span = metrics.last_scheduled_ns if server else metrics.duration_ns
        what = "last scheduled query" if server else "last completion"
        rows.append(["min duration", f"{what} at {format_duration(span)}",
                     f">= {_setting(result, 'min_duration_ms')} ms", _yes(checks["min_duration"])])
    if "min_queries" in checks:
        offline = result.scenario == Scenario.Offline.value
        counted = metrics.samples_completed if offline else metrics.queries_completed
        rows.append(["min queries", f"{counted:,} {'samples' if offline else 'queries'} completed",
                     f">= {_setting(result, 'min_query_count')}", _yes(checks["min_queries"])])
    stopping = metrics.early_stopping
    if "early_stopping" in checks and stopping is not None:
        rows.append(["early stopping", stopping.message, f">= {stopping.min_queries:,} queries at 99% confidence",
                     _yes(checks["early_stopping"])])
    if "performance_constraints" in checks:
        label = percentile_label(metrics.target_latency_percentile or 0.99)
        rows.append(["latency bound", f"p{label} latency {_ns(metrics.target_percentile_latency_ns)}",
                     f"<= {_ns(_setting(result, 'server_target_latency_ns'))}",
                     _yes(checks["performance_constraints"])])
    return rows


def _seed_row(result: RunResult, official: Mapping[str, int] | None) -> list[Cell | str]:
    used = {key: _setting(result, key) for key in SEED_KEYS}
    shown = ", ".join(f"{key.removesuffix('_rng_seed').replace('_', ' ')} {value}" for key, value in used.items())
    if not official:
        return ["seeds", shown, "recorded", Cell("recorded", "")]
    same = all(used.get(key) == official.get(key) for key in SEED_KEYS)
    required = "MLPerf's official seeds (round 6.1) for a submission"
    return ["seeds", shown, required, Cell("official" if same else "not official: fine for practice",
                                           "good" if same else "warn")]


def headline_blocks(result: RunResult) -> list[Block]:
    metrics = result.metrics
    if metrics is None or metrics.headline_value is None:
        return [Text("No headline figure: the run completed no query.", "bad")]
    value = metrics.headline_value
    shown = format_duration(value) if metrics.headline_name.endswith("(ns)") else f"{value:,.2f}"
    name = metrics.headline_name.removesuffix(" (ns)")
    blocks: list[Block] = [Text(f"{name}: {shown}", "good" if result.valid else "bad")]
    stopping = metrics.early_stopping
    if stopping is not None and stopping.estimate_ns is not None and stopping.met:
        label = percentile_label(stopping.percentile)
        bound = format_duration(stopping.estimate_ns)
        blocks.append(Text(f"Early-stopping estimate: the p{label} latency is under {bound} with 99% confidence "
                           f"({stopping.queries:,} queries)."))
    return blocks


def latency_table(metrics: Metrics, unit: str) -> list[Block]:
    latency = metrics.latency
    if latency is None:
        return [Text("No latencies: nothing completed.")]
    rows: list[list[Cell | str]] = [["min", format_duration(latency.min_ns)],
                                    ["mean", format_duration(latency.mean_ns)]]
    rows += [[f"p{label.removesuffix('.0')}", format_duration(value)]
             for label, value in latency.percentiles_ns.items()]
    rows.append(["max", format_duration(latency.max_ns)])
    if metrics.issue_delay is not None:
        delay = metrics.issue_delay
        rows.append(["issue delay p50 / p99 / max", " / ".join(
            format_duration(v) for v in (delay.percentiles_ns.get("50.0", 0), delay.percentiles_ns.get("99.0", 0),
                                         delay.max_ns))])
    header = [f"latency per {unit} ({latency.count:,})", "value"]
    return [Table(header, rows)]


def count_table(metrics: Metrics) -> Table:
    rate = metrics.samples_per_second
    completed = metrics.completed_samples_per_second
    return Table(["figure", "value"], [
        ["queries completed / issued", f"{metrics.queries_completed:,} / {metrics.queries_issued:,}"],
        ["samples completed / issued", f"{metrics.samples_completed:,} / {metrics.samples_issued:,}"],
        ["time of the last completion", format_duration(metrics.duration_ns)],
        ["samples per second", "n/a" if rate is None else f"{rate:,.2f}"],
        ["completed samples per second", "n/a" if completed is None else f"{completed:,.2f}"],
    ])


def latency_marks(result: RunResult) -> list[Mark]:
    """p50, p90, p99, the early-stopping estimate and (Server) the latency bound, as the result reports them."""
    metrics = result.metrics
    if metrics is None or metrics.latency is None:
        return []
    found = metrics.latency.percentiles_ns
    marks = [Mark(f"p{label.removesuffix('.0')}", found[label]) for label in ("50.0", "90.0", "99.0") if label in found]
    stopping = metrics.early_stopping
    if stopping is not None and stopping.estimate_ns is not None and stopping.met:
        marks.append(Mark("early-stopping estimate", stopping.estimate_ns, dashed=True))
    if result.scenario == Scenario.Server.value and _setting(result, "server_target_latency_ns"):
        marks.append(Mark("bound", float(_setting(result, "server_target_latency_ns")), dashed=True))
    return marks


def throughput_target(result: RunResult) -> tuple[float | None, str]:
    """The rate the settings asked for, and the setting it comes from."""
    scenario = result.scenario
    if scenario == Scenario.Server.value:
        return _setting(result, "server_target_qps"), "server_target_qps"
    if scenario == Scenario.Offline.value:
        return _setting(result, "offline_expected_qps"), "offline_expected_qps"
    key = "single_stream_expected_latency_ns" if scenario == Scenario.SingleStream.value else \
        "multi_stream_expected_latency_ns"
    expected = _setting(result, key)
    single = scenario == Scenario.SingleStream.value
    per_query = 1 if single else int(_setting(result, "multi_stream_samples_per_query"))
    return (per_query * 1e9 / expected if expected else None), f"1 / {key}"


def series_of(result: RunResult, trace: Trace) -> RunSeries | None:
    metrics = result.metrics
    if metrics is None or metrics.latency is None:
        return None
    rate = _setting(result, "server_target_qps")
    return run_series(trace, Scenario(result.scenario), metrics.latency.min_ns, metrics.latency.max_ns,
                      float(rate) if rate else None)


def latency_plots(result: RunResult, series: RunSeries) -> list[Block]:
    marks = latency_marks(result)
    blocks: list[Block] = []
    if series.latency is not None:
        blocks.append(Plot("latency_histogram", plots.latency_histogram(series.latency, marks, series.unit),
                           f"Latency per {series.unit}, log axis, with p50/p90/p99 and the early-stopping estimate "
                           "marked (values from result.json)."))
        blocks.append(Plot("latency_cdf", plots.latency_cdf([("", plots.BLUE, series.latency)], marks, series.unit),
                           f"Cumulative distribution of the latency per {series.unit}."))
    if series.time is not None and result.scenario != Scenario.Offline.value:
        bound = _setting(result, "server_target_latency_ns") if result.scenario == Scenario.Server.value else None
        per_decade = series.latency.bins_per_decade if series.latency else 1
        blocks.append(Plot("latency_over_time", plots.latency_over_time(series.time, bound),
                           "p50, p90 and p99 of the queries completing in each time bin (read from a log histogram "
                           f"per bin: exact to a factor of 10^(1/{per_decade})): warm-up, stalls and throttling "
                           "show here."))
    elif result.scenario == Scenario.Offline.value:
        blocks.append(Text("Offline: every sample is scheduled at the start, so a sample's latency is its completion "
                           "time; the throughput plot below shows how the run went over time.", "muted"))
    return blocks


def throughput_plots(result: RunResult, series: RunSeries) -> list[Block]:
    if series.time is None:
        return []
    target, label = throughput_target(result)
    return [
        Plot("throughput_over_time", plots.throughput_over_time(series.time, target, label),
             f"Samples completed per second in each time bin, against {label}."),
        Plot("outstanding", plots.outstanding_over_time(series.time, series.unit),
             f"Outstanding {plots.plural(series.unit)} over time: a queue that grows means the SUT cannot keep up."),
    ]


def server_plots(result: RunResult, series: RunSeries) -> list[Block]:
    blocks: list[Block] = []
    metrics = result.metrics
    if series.issue_delay is not None and metrics is not None and metrics.issue_delay is not None:
        delay = metrics.issue_delay.percentiles_ns
        marks = [Mark(f"p{k.removesuffix('.0')}", v) for k, v in delay.items() if k in ("50.0", "99.0")]
        blocks.append(Plot("issue_delay", plots.issue_delay_histogram(series.issue_delay, marks),
                           "How late the harness issued each query after its scheduled (Poisson) time; latency counts "
                           "from the scheduled time, so lateness is charged to the SUT, never hidden."))
    if series.gaps is not None:
        blocks.append(Plot("arrival_gaps", plots.arrival_gaps(series.gaps),
                           "Inter-arrival gaps, scheduled and as issued, against the intended exponential "
                           "(rate server_target_qps)."))
    return blocks


def ladder_plot(result: RunResult) -> list[Block]:
    """Without a trace (a LoadGen log folder), the reported percentiles are what can be drawn."""
    metrics = result.metrics
    if metrics is None or metrics.latency is None:
        return []
    points = sorted((float(label) / 100, float(value)) for label, value in metrics.latency.percentiles_ns.items())
    bound = [m for m in latency_marks(result) if m.label in ("bound", "early-stopping estimate")]
    return [
        Text("This folder has no per-sample trace (MLPerf LoadGen logs percentiles, not samples), so the histogram, "
             "time and arrival plots cannot be drawn; the percentiles below are the log's own.", "warn"),
        Plot("latency_percentiles", plots.percentile_ladder(points, bound),
             "Latency at each reported percentile, from the log."),
    ]


def accuracy_blocks(result: RunResult) -> list[Block]:
    accuracy = result.accuracy
    if accuracy is None:
        return [Text("Accuracy was not measured in this run (use --mode accuracy or --mode submission).", "muted")]
    top1 = "n/a" if accuracy.top1 is None else f"{accuracy.top1:.4f}"
    rows: list[list[Cell | str]] = [["samples in the accuracy set", f"{accuracy.samples:,}"],
                                    ["answered", f"{accuracy.completed:,}"], ["top-1 accuracy", top1],
                                    ["note", accuracy.note]]
    return [Table(["figure", "value"], rows)]


def _shown(value: Any) -> str:
    return "unset" if value is None else json.dumps(value) if not isinstance(value, str) else value


def settings_table(result: RunResult) -> Table:
    """Every setting as requested and as effective; a difference says why (the pilot, the rules)."""
    rows: list[list[Cell | str]] = []
    for key in sorted(set(result.settings_requested) | set(result.settings_effective)):
        requested, effective = result.settings_requested.get(key), result.settings_effective.get(key)
        note = result.chosen_by_pilot.get(key, "")
        tone = "warn" if requested != effective else ""
        rows.append([key, _shown(requested), Cell(_shown(effective), tone), note])
    return Table(["setting", "requested", "effective", "why it differs"], rows)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        found: list[tuple[str, str]] = []
        for key, item in value.items():
            found += _flatten(item, f"{prefix}{key}.")
        return found
    if isinstance(value, list) and len(value) > 8:
        return [(prefix.rstrip("."), f"{len(value)} entries")]
    return [(prefix.rstrip("."), _shown(value))]


def machine_blocks(result: RunResult) -> list[Block]:
    blocks: list[Block] = []
    if result.fingerprint:
        blocks.append(Table(["fingerprint", "value"], [[k, v] for k, v in _flatten(result.fingerprint)]))
    else:
        blocks.append(Text("No fingerprint (a LoadGen log folder records none).", "muted"))
    if result.memory:
        blocks.append(Table(["memory", "bytes"], [[k, f"{v:,}"] for k, v in result.memory.items()]))
    return blocks


def warning_blocks(result: RunResult) -> list[Block]:
    if not result.warnings:
        return [Text("No noise warning: nothing known disturbed the run.", "good")]
    return [Table(["warning", "what to do"], [[Cell(w, "warn"), remedy(w)] for w in result.warnings])]


def recommendation_items(result: RunResult) -> list[Text]:
    items = [Text(reason, "bad") for reason in result.invalid_reasons]
    items += [Text(f"{w}: {remedy(w)}", "warn") for w in result.warnings]
    return items or [Text("The run is VALID and nothing disturbed it: compare it with repeated runs "
                          "(--runs N) before claiming a difference.", "good")]


def file_links(files: Sequence[str]) -> Links:
    return Links([(name, name, f"({FILE_NOTES[name]})" if name in FILE_NOTES else "") for name in files])


def _title(result: RunResult) -> str:
    return f"{result.scenario} run of {result.sut_name}: {'VALID' if result.valid else 'INVALID'}"


def render_run_report(inputs: RunInputs) -> Report:
    """The single-run page and its markdown."""
    result = inputs.result
    series = series_of(result, inputs.trace) if inputs.trace is not None else None
    if series is not None:
        latency = latency_plots(result, series)
        throughput = throughput_plots(result, series)
        server = server_plots(result, series)
    else:
        latency, throughput, server = ladder_plot(result), [], []
    unit = "sample" if result.scenario == Scenario.Offline.value else "query"
    verdict = Table(["rule", "this run", "requires", "result"], verdict_rows(result, inputs.official_seeds))
    reasons: list[Block] = [Items([Text(r, "bad") for r in result.invalid_reasons])] if result.invalid_reasons else []
    numbers = [*latency_table(result.metrics, unit), count_table(result.metrics)] if result.metrics else []
    source = [Text(inputs.source, "muted")] if inputs.source else []
    siblings: list[Block] = [Links([(label, href, "") for label, href in inputs.siblings])] if inputs.siblings else []
    started = Text(f"SUT {result.sut_name!r} on QSL {result.qsl_name!r}, {result.mode}, started {result.started_at}, "
                   f"{result.tool}.", "muted")
    page: list[Block] = [
        Heading(1, _title(result)), started, *source, *siblings,
        Heading(2, "Verdict"), Text("VALID" if result.valid else "INVALID", "good" if result.valid else "bad"),
        verdict, *reasons,
        Heading(2, "Headline"), *headline_blocks(result),
        Heading(2, "Latency"), *latency, *numbers,
        Heading(2, "Throughput"), *(throughput or [Text("No trace: no throughput over time.", "muted")]),
        *([Heading(2, "Server arrivals"), *server] if server else []),
        Heading(2, "Accuracy"), *accuracy_blocks(result),
        Heading(2, "Settings: requested and effective"), settings_table(result),
        Heading(2, "Machine"), *machine_blocks(result),
        Heading(2, "Noise warnings"), *warning_blocks(result),
        Heading(2, "Raw files"), file_links(inputs.files),
    ]
    markdown: list[Block] = [
        Heading(1, "ML Model Benchmark Report"), Text(_title(result)), started,
        Heading(2, "System Information"), *machine_blocks(result),
        Heading(2, "Benchmark Results Summary"), verdict, *headline_blocks(result), *numbers,
        Heading(3, "Latency Results"), *latency,
        Heading(3, "Throughput Results"), *throughput,
        *([Heading(3, "Server Arrival Results"), *server] if server else []),
        Heading(3, "Accuracy Results"), *accuracy_blocks(result),
        Heading(2, "Recommendations"), Items(recommendation_items(result)),
        Heading(2, "Settings"), settings_table(result),
        Heading(2, "Raw files"), file_links(inputs.files),
    ]
    return build_report(_title(result), page, markdown, IMAGE_DIR)
