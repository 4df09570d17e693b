"""mlperf_log_summary.txt and the console summary, rendered from a RunResult.

The summary file copies the layout of MLPerf LoadGen's own (its performance summary, its
test-parameters block and its warning/error footer) line for line, so that people who know that file
and the tools that grep it (`^Result is\\s*:`, `^Samples per second\\s*:`,
`^Completed samples per second\\s*:`, `^90.0th percentile latency (ns)`) read ours
unchanged. Every figure is read from the RunResult, which loadgen.metrics computed
once; a figure LoadGen prints but our result lacks is left out rather than made up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadgen.metrics.figures import EarlyStopping, LatencySummary, Metrics, percentile_label
from loadgen.metrics.percentile import REPORTED_PERCENTILES
from loadgen.metrics.result import RunResult
from reports.mlperf_keys import feature_values

BANNER = "================================================"
STAT_WIDTH = 32
"""LoadGen pads its Additional Stats labels so that the colons line up in this column."""
ISSUE_DELAY_WIDTH = 36
"""Our issue-delay labels are longer; LoadGen widens its column the same way for token latencies."""

LATENCY_SCENARIOS = ("SingleStream", "MultiStream")
CONSOLE_PERCENTILES = (0.5, 0.9, 0.99)

_OMIT = object()
"""Marks a test parameter our result cannot state."""


def render_summary(result: RunResult) -> str:
    """The text of mlperf_log_summary.txt, in LoadGen's layout."""
    lines = [
        *_header(result),
        *_verdict(result),
        *_early_stopping(result),
        "",
        *_banner("Additional Stats"),
        *_additional_stats(result),
        "",
        *_banner("Test Parameters Used"),
        *_test_parameters(result),
        *_footer(result),
    ]
    return "\n".join(lines) + "\n"


def _banner(title: str) -> list[str]:
    return [BANNER, title, BANNER]


def _header(result: RunResult) -> list[str]:
    lines = [
        *_banner("MLPerf Results Summary"),
        f"SUT name : {result.sut_name}",
        f"Scenario : {result.scenario}",
        f"Mode     : {result.mode}",
    ]
    headline = _headline(result)
    return lines + ([headline] if headline else []) + _token_headline(result)


def _token_headline(result: RunResult) -> list[str]:
    """LoadGen's token headline: the first-token percentile (SingleStream/MultiStream), the
    token rate (Offline, Server)."""
    metrics = result.metrics
    if metrics is None or metrics.tokens is None:
        return []
    if result.scenario in LATENCY_SCENARIOS:
        label = percentile_label(metrics.target_latency_percentile or 0)
        value = metrics.ttft.percentiles_ns.get(label) if metrics.ttft else None
        return [] if value is None else [f"{label}th first token percentile latency (ns) : {value}"]
    rate = metrics.tokens_per_second
    if rate is None:
        return []
    if result.scenario == "Offline":
        return [f"Tokens per second: {rate:g}"]
    return [f"Completed tokens per second: {rate:.2f}"]


def _headline(result: RunResult) -> str | None:
    """LoadGen's headline: SingleStream/MultiStream print the plain target percentile
    (the early-stopping estimate follows in its own block), Server the completed rate
    with two decimals, Offline the sample rate as C++ streams a double (%g)."""
    metrics = result.metrics
    if metrics is None:
        return None
    if result.scenario in LATENCY_SCENARIOS:
        value = metrics.target_percentile_latency_ns
        return None if value is None else f"{metrics.headline_name} : {value}"
    if result.scenario == "Server":
        rate = metrics.completed_samples_per_second
        return None if rate is None else f"Completed samples per second    : {rate:.2f}"
    rate = metrics.samples_per_second
    return None if rate is None else f"Samples per second: {rate:g}"


def _yes_no(ok: bool) -> str:
    return "Yes" if ok else "NO"


def _verdict(result: RunResult) -> list[str]:
    checks = result.checks
    lines = [f"Result is : {'VALID' if result.valid else 'INVALID'}"]
    if "performance_constraints" in checks:
        lines.append(f"  Performance constraints satisfied : {_yes_no(checks['performance_constraints'])}")
    elif result.scenario == "Server" and result.metrics is not None:  # token runs: the TTFT and TPOT bounds
        bounds = [ok for name, ok in checks.items() if name.endswith("_latency_constraint")]
        lines.append(f"  Performance constraints satisfied : {_yes_no(all(bounds))}")
    if "min_duration" in checks:
        lines.append(f"  Min duration satisfied : {_yes_no(checks['min_duration'])}")
    if "min_queries" in checks:
        lines.append(f"  Min queries satisfied : {_yes_no(checks['min_queries'])}")
    # Offline has no early-stopping rule; LoadGen reports it satisfied there.
    lines.append(f"  Early stopping satisfied: {_yes_no(checks.get('early_stopping', True))}")
    if not result.valid:
        lines.append("Recommendations:")
        lines += [" * " + reason.replace("\n", "\n   ") for reason in result.invalid_reasons]
    return lines


def _early_stopping(result: RunResult) -> list[str]:
    """LoadGen's "Early Stopping Result:" block (and, for token latencies, its TTFT and TPOT
    headings, which this harness does not compute: its early stopping is on query latency)."""
    lines = early_stopping_lines(result)
    if not lines:
        return []
    block = ["Early Stopping Result:", *lines]
    if result.settings_effective.get("use_token_latencies"):
        for heading in ("TTFT Early Stopping Result:", "TPOT Early Stopping Result:"):
            block += [heading, TOKEN_EARLY_STOPPING]
    return block


TOKEN_EARLY_STOPPING = " * Not computed by this harness: its early stopping is on query latency."


def early_stopping_lines(result: RunResult) -> list[str]:
    """The lines of LoadGen's early-stopping result, in its wording (the detail log joins them).

    LoadGen words the same figures differently: it "would discard" one fewer than the
    overlatency allowance (the estimate is the allowance-th largest latency), and a
    failed Server check names how many more queries were needed. SingleStream adds the
    99th-percentile estimate.
    """
    metrics = result.metrics
    stopping = metrics.early_stopping if metrics else None
    if stopping is None or metrics is None:
        return []
    label = percentile_label(stopping.percentile)
    if result.scenario == "Server":
        return _server_early_stopping(stopping)
    if not stopping.met:
        return [
            f" * Only processed {stopping.queries} queries.",
            f" * Need to process at least {stopping.min_queries} queries for early stopping.",
        ]
    lines = [
        f" * Processed at least {stopping.min_queries} queries ({stopping.queries}).",
        f" * Would discard {(stopping.overlatency_queries or 1) - 1} highest latency queries.",
        f" * Early stopping {label}th percentile estimate: {stopping.estimate_ns}",
    ]
    extra = metrics.early_stopping_99
    if extra is not None and extra.met:
        label_99 = percentile_label(extra.percentile)
        lines.append(f" * Early stopping {label_99}th percentile estimate: {extra.estimate_ns}")
    elif extra is not None:
        lines += [
            f" * Not enough queries processed for {percentile_label(extra.percentile)}th percentile",
            " early stopping estimate (would need to process at",
            f" least {extra.min_queries} total queries).",
        ]
    return lines


def _server_early_stopping(stopping: EarlyStopping) -> list[str]:
    if stopping.met:
        return [" * Run successful."]
    return [
        " * Run unsuccessful.",
        f" * Processed {stopping.queries} queries.",
        f" * Would need to run at least {stopping.min_queries - stopping.queries} more queries,",
        " with the run being successful if every additional",
        " query were under latency.",
    ]


def _stat(label: str, value: object, width: int = STAT_WIDTH) -> str:
    return f"{label.ljust(width)}: {value}"


def _latency_stats(latency: LatencySummary, noun: str, width: int = STAT_WIDTH, title: str | None = None,
                   percentile_width: int | None = None) -> list[str]:
    """Min/max/mean and LoadGen's fixed percentiles (printed as 50.00, 99.90, ...); LoadGen's
    token blocks name min/max/mean (`title`) apart from the percentiles and indent them less.

    LoadGen's mean is an integer (a sum of int64 nanoseconds divided by a count).
    """
    title = title or noun
    lines = [
        _stat(f"Min {title} (ns)", latency.min_ns, width),
        _stat(f"Max {title} (ns)", latency.max_ns, width),
        _stat(f"Mean {title} (ns)", int(latency.mean_ns), width),
    ]
    for p in REPORTED_PERCENTILES:
        value = latency.percentiles_ns.get(percentile_label(p))
        if value is not None:
            lines.append(_stat(f"{p * 100:.2f} percentile {noun} (ns)", value, percentile_width or width))
    return lines


def _additional_stats(result: RunResult) -> list[str]:
    """Latency statistics; MultiStream's are per query, under LoadGen's "Per-query latency:"
    heading. Server adds the issue delay (scheduled to issued), which LoadGen does not
    print, in the style of its latency lines."""
    metrics: Metrics | None = result.metrics
    if metrics is None or metrics.latency is None:
        return []
    lines = []
    if metrics.qps_with_loadgen_overhead is not None:
        lines.append(f"QPS w/ loadgen overhead         : {metrics.qps_with_loadgen_overhead:.2f}")
    if metrics.qps_without_loadgen_overhead is not None:
        lines += [f"QPS w/o loadgen overhead        : {metrics.qps_without_loadgen_overhead:.2f}", ""]
    if metrics.scheduled_samples_per_second is not None:
        lines.append(f"Scheduled samples per second : {metrics.scheduled_samples_per_second:.2f}")
    if result.scenario == "MultiStream":
        lines.append("Per-query latency:  ")
    lines += _latency_stats(metrics.latency, "latency")
    lines += _token_stats(result.scenario, metrics)
    if metrics.issue_delay is not None:
        lines += ["", *_latency_stats(metrics.issue_delay, "issue delay", ISSUE_DELAY_WIDTH)]
    return lines


def _token_stats(scenario: str, metrics: Metrics) -> list[str]:
    """LoadGen's token statistics: throughputs, first-token latency, time per output token."""
    if metrics.tokens is None:
        return []
    lines = [""]
    if scenario == "SingleStream":
        for label, value in (("TPS w/ loadgen overhead", metrics.token_throughput_with_loadgen_overhead),
                             ("TPS w/o loadgen overhead", metrics.token_throughput)):
            if value is not None:
                lines.append(_stat(label, f"{value:.2f}"))
    elif scenario == "Server" and metrics.tokens_per_second is not None:
        lines.append(_stat("Completed tokens per second", f"{metrics.tokens_per_second:.2f}", TOKEN_WIDTH))
    if scenario == "Offline":
        return lines
    if metrics.ttft is not None:
        lines += _named_stats(metrics.ttft, "First Token latency", "first token latency")
    if metrics.tpot is not None:
        lines += ["", *_named_stats(metrics.tpot, "Time per Output Token", "time to output token")]
    return lines


TOKEN_WIDTH = 44
"""LoadGen's token statistics line up their colons in a wider column."""


def _named_stats(latency: LatencySummary, title: str, noun: str) -> list[str]:
    return _latency_stats(latency, noun, TOKEN_WIDTH, title, TOKEN_WIDTH - 3)


def _cpp_value(value: Any) -> str:
    """A setting as LoadGen's C++ stream prints it: "no limit" (None) as 0, doubles as %g."""
    if value is None:
        return "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _test_parameters(result: RunResult) -> list[str]:
    effective = result.settings_effective
    tokens = bool(effective.get("use_token_latencies"))  # LoadGen then states the token bounds instead
    values: dict[str, Any] = {
        "samples_per_query : ": _samples_per_query(result),
        "target_qps : ": _target_qps(result.scenario, effective),
        "target_latency (ns): ": _OMIT if tokens else (
            effective["server_target_latency_ns"] if result.scenario == "Server" else 0),
        "ttft_latency (ns): ": effective.get("ttft_latency") if tokens else _OMIT,
        "tpot_latency (ns): ": effective.get("tpot_latency") if tokens else _OMIT,
        "max_async_queries : ": effective["server_max_async_queries"] if result.scenario == "Server" else 1,
        "min_duration (ms): ": effective["min_duration_ms"],
        "max_duration (ms): ": effective["max_duration_ms"],
        "min_query_count : ": effective["min_query_count"],
        "max_query_count : ": effective["max_query_count"],
        "qsl_rng_seed : ": effective["qsl_rng_seed"],
        "sample_index_rng_seed : ": effective["sample_index_rng_seed"],
        "schedule_rng_seed : ": effective["schedule_rng_seed"],
    }
    features = feature_values(effective)  # the one list, shared with the detail log
    values |= {f"{name} : ": int(value) if isinstance(value, bool) else value for name, value in features.items()}
    values["performance_sample_count : "] = result.performance_sample_count
    values["accuracy_sample_count : "] = effective.get("accuracy_sample_count_override") or result.total_sample_count
    return [label + _cpp_value(value) for label, value in values.items() if value is not _OMIT]


def _samples_per_query(result: RunResult) -> object:
    """Offline's one query holds every sample the run issued; MultiStream's size is a setting."""
    if result.scenario == "Offline":
        return result.metrics.samples_issued if result.metrics else _OMIT
    if result.scenario == "MultiStream":
        return result.settings_effective["multi_stream_samples_per_query"]
    return 1


def _target_qps(scenario: str, effective: Mapping[str, Any]) -> object:
    """LoadGen states SingleStream/MultiStream's expected latency as a rate: 1e9 / latency_ns."""
    key = {
        "SingleStream": "single_stream_expected_latency_ns",
        "MultiStream": "multi_stream_expected_latency_ns",
        "Server": "server_target_qps",
        "Offline": "offline_expected_qps",
    }[scenario]
    value = effective[key]
    if value is None:
        return _OMIT
    return 1e9 / value if scenario in LATENCY_SCENARIOS else float(value)


def _footer(result: RunResult) -> list[str]:
    """LoadGen's closing counts; ours then list the messages, as there is no other place to read them."""
    lines = [""]
    count = len(result.warnings)
    if count == 0:
        lines.append("No warnings encountered during test.")
    else:
        lines.append(f"{count} warning{'s' if count > 1 else ''} encountered:")
        lines += [f" * {warning}" for warning in result.warnings]
    lines.append("")
    if result.error is None:
        lines.append("No errors encountered during test.")
    else:
        lines += ["1 ERROR encountered:", f" * {result.error}"]
    return lines


def render_console(result: RunResult) -> str:
    """A one-screen summary for the terminal, in human units; the caller appends the output folder."""
    verdict = "VALID" if result.valid else "INVALID"
    mode = "" if result.mode == "PerformanceOnly" else f" ({result.mode})"
    lines = [f"{result.scenario}{mode} run of SUT {result.sut_name!r} on {result.qsl_name!r}: {verdict}"]
    lines += [f"  invalid: {reason}" for reason in result.invalid_reasons]
    accuracy = result.accuracy
    if accuracy is not None:
        top1 = f"top-1 {accuracy.top1:.4f}" if accuracy.top1 is not None else accuracy.note
        lines.append(f"  accuracy: {top1} ({accuracy.completed} of {accuracy.samples} samples answered)")
    metrics = result.metrics
    if metrics is not None:
        lines += _console_figures(metrics)
    elif accuracy is None:
        lines.append("  no figures: the run recorded nothing")
    for key, how in result.chosen_by_pilot.items():
        lines.append(f"  chosen by pilot: {key} = {_cpp_value(result.settings_effective.get(key))} ({how})")
    if result.warnings:
        lines.append(f"  {len(result.warnings)} warning(s): see the summary file")
    return "\n".join(lines) + "\n"


def _console_figures(metrics: Metrics) -> list[str]:
    lines = [f"  {_console_headline(metrics)}"]
    for name, stats in (("latency", metrics.latency), ("issue delay", metrics.issue_delay)):
        if stats is not None:
            labels = [percentile_label(p) for p in CONSOLE_PERCENTILES]
            shown = [
                f"p{label.removesuffix('.0')} {format_ns(stats.percentiles_ns[label])}"
                for label in labels
                if label in stats.percentiles_ns
            ]
            lines.append(f"  {name}: {', '.join(shown)}, max {format_ns(stats.max_ns)}")
    lines.append(
        f"  completed: {metrics.queries_completed:,} of {metrics.queries_issued:,} queries, "
        f"{metrics.samples_completed:,} of {metrics.samples_issued:,} samples, in {metrics.duration_ns / 1e9:.3f} s"
    )
    return lines


def format_ns(value: float) -> str:
    """A duration for people: 19.1 us, 1.234 ms, 2.500 s."""
    for scale, unit in ((1e9, "s"), (1e6, "ms")):
        if value >= scale:
            return f"{value / scale:.3f} {unit}"
    return f"{value / 1e3:.1f} us"


def _console_headline(metrics: Metrics) -> str:
    """The official metric; latencies in a readable unit rather than LoadGen's ns."""
    value = metrics.headline_value
    if value is None:
        return f"{metrics.headline_name}: none (nothing completed)"
    if metrics.headline_name.endswith(" (ns)"):
        stopping = metrics.early_stopping
        how = " (early-stopping estimate)" if stopping is not None and stopping.met else ""
        return f"{metrics.headline_name.removesuffix(' (ns)')}{how}: {format_ns(value)}"
    return f"{metrics.headline_name}: {value:,.2f}"
