"""mlperf_log_summary.txt in LoadGen's exact layout, and the console summary, from hand-made runs."""

from __future__ import annotations

import re

import numpy as np
import pytest

from loadgen.engine.trace import NOT_YET, Trace
from loadgen.metrics.figures import compute_metrics
from loadgen.metrics.result import RunResult
from loadgen.metrics.verdict import judge
from loadgen.settings.model import TestSettings
from reports.summary import render_console, render_summary

BANNER = "=" * 48

# Latency of query i: (i % 10 + 1) * 0.1 ms, so every percentile is known by hand.
SETTINGS = {
    "SingleStream": dict(single_stream_expected_latency_ns=1_000_000),
    "MultiStream": dict(multi_stream_expected_latency_ns=1_000_000, multi_stream_samples_per_query=8),
    "Server": dict(server_target_qps=1000.0, server_target_latency_ns=50_000_000),
    "Offline": dict(offline_expected_qps=100.0),
}
QUERIES = {"SingleStream": 100, "MultiStream": 700, "Server": 500, "Offline": 1}


def make_trace(scenario: str, queries: int, per_query: int = 1) -> Trace:
    """Queries 1 ms apart; Offline's one query of 100 samples completes one sample per ms."""
    if scenario == "Offline":
        rows = np.arange(100)
        zeros = np.zeros(100, dtype=np.int64)
        return Trace.from_sample_rows(
            query=np.zeros(100, dtype=np.int32),
            sample_index=(rows % 7).astype(np.int32),
            scheduled_ns=zeros,
            issued_ns=zeros.copy(),
            completed_ns=(rows + 1) * 1_000_000,
            response_size=np.full(100, 4, dtype=np.int64),
        )
    query = np.repeat(np.arange(queries), per_query)
    scheduled = query.astype(np.int64) * 1_000_000
    return Trace.from_sample_rows(
        query=query.astype(np.int32),
        sample_index=(np.arange(query.size) % 7).astype(np.int32),
        scheduled_ns=scheduled,
        issued_ns=scheduled.copy(),
        completed_ns=scheduled + (query % 10 + 1) * 100_000,
        response_size=np.full(query.size, 4, dtype=np.int64),
    )


def make_result(
    scenario: str,
    trace: Trace | None = None,
    error: str | None = None,
    warnings: tuple[str, ...] = (),
    **overrides: object,
) -> RunResult:
    values = {"scenario": scenario, "min_duration_ms": 0, "min_query_count": 1} | SETTINGS[scenario] | overrides
    settings = TestSettings(**values)
    per_query = settings.multi_stream_samples_per_query if scenario == "MultiStream" else 1
    trace = make_trace(scenario, QUERIES[scenario], per_query) if trace is None else trace
    metrics = compute_metrics(trace, settings)
    validity = judge(metrics, settings, error)
    return RunResult(
        tool="tinyperf-loadgen test",
        started_at="2024-01-01T00:00:00+00:00",
        scenario=scenario,
        mode="PerformanceOnly",
        sut_name="FakeSUT",
        qsl_name="FakeQSL",
        valid=validity.valid,
        invalid_reasons=validity.reasons,
        checks=validity.checks,
        stop_reason="schedule done",
        error=error,
        metrics=metrics,
        settings_requested=settings.model_dump(mode="json"),
        settings_effective=settings.model_dump(mode="json"),
        chosen_by_pilot={},
        warmup_queries=0,
        total_sample_count=100,
        performance_sample_count=7,
        fingerprint={},
        load_average_end=None,
        warnings=list(warnings),
    )


OFFLINE_SUMMARY = f"""\
{BANNER}
MLPerf Results Summary
{BANNER}
SUT name : FakeSUT
Scenario : Offline
Mode     : PerformanceOnly
Samples per second: 1000
Result is : VALID
  Min duration satisfied : Yes
  Min queries satisfied : Yes
  Early stopping satisfied: Yes

{BANNER}
Additional Stats
{BANNER}
Min latency (ns)                : 1000000
Max latency (ns)                : 100000000
Mean latency (ns)               : 50500000
50.00 percentile latency (ns)   : 51000000
90.00 percentile latency (ns)   : 91000000
95.00 percentile latency (ns)   : 96000000
97.00 percentile latency (ns)   : 98000000
99.00 percentile latency (ns)   : 100000000
99.90 percentile latency (ns)   : 100000000

{BANNER}
Test Parameters Used
{BANNER}
samples_per_query : 100
target_qps : 100
target_latency (ns): 0
max_async_queries : 1
min_duration (ms): 0
max_duration (ms): 0
min_query_count : 1
max_query_count : 0
qsl_rng_seed : 0
sample_index_rng_seed : 0
schedule_rng_seed : 0
accuracy_log_rng_seed : 0
accuracy_log_probability : 0
accuracy_log_sampling_target : 0
print_timestamps : 0
performance_issue_unique : 0
performance_issue_same : 0
performance_issue_same_index : 0
performance_sample_count : 7
accuracy_sample_count : 100

No warnings encountered during test.

No errors encountered during test.
"""


def test_offline_summary_is_loadgens_layout_exactly() -> None:
    assert render_summary(make_result("Offline")) == OFFLINE_SUMMARY


HEADLINES = {
    "SingleStream": "90.0th percentile latency (ns) : 1000000",
    "MultiStream": "99.0th percentile latency (ns) : 1000000",
    "Server": "Completed samples per second    : 998.00",  # 499 intervals over 500 ms
    "Offline": "Samples per second: 1000",
}
CHECKS = ["  Min duration satisfied : Yes", "  Min queries satisfied : Yes", "  Early stopping satisfied: Yes"]


@pytest.mark.parametrize("scenario", list(HEADLINES))
def test_header_headline_and_checks(scenario: str) -> None:
    lines = render_summary(make_result(scenario)).splitlines()
    checks = (["  Performance constraints satisfied : Yes"] if scenario == "Server" else []) + CHECKS
    expected = [
        BANNER,
        "MLPerf Results Summary",
        BANNER,
        "SUT name : FakeSUT",
        f"Scenario : {scenario}",
        "Mode     : PerformanceOnly",
        HEADLINES[scenario],
        "Result is : VALID",
        *checks,
    ]
    assert lines[: len(expected)] == expected
    assert lines.count(BANNER) == 6
    assert lines[-3:] == ["No warnings encountered during test.", "", "No errors encountered during test."]


@pytest.mark.parametrize("scenario", list(HEADLINES))
def test_mlperf_tools_regexes_match(scenario: str) -> None:
    text = render_summary(make_result(scenario))
    assert re.search(r"^Result is\s*:\s*(VALID|INVALID)$", text, re.M).group(1) == "VALID"
    headline = {
        "SingleStream": r"^90\.0th percentile latency \(ns\)\s*:\s*(\d+)$",
        "MultiStream": r"^99\.0th percentile latency \(ns\)\s*:\s*(\d+)$",
        "Server": r"^Completed samples per second\s*:\s*([\d.]+)$",
        "Offline": r"^Samples per second\s*:\s*([\d.]+)$",
    }[scenario]
    assert re.search(headline, text, re.M)
    assert re.search(r"^90\.00 percentile latency \(ns\)\s*:\s*\d+$", text, re.M)


def test_single_stream_early_stopping_block() -> None:
    result = make_result("SingleStream")
    stopping = result.metrics.early_stopping
    text = render_summary(result)
    assert (
        "Early Stopping Result:\n"
        " * Processed at least 64 queries (100).\n"
        f" * Would discard {stopping.overlatency_queries - 1} highest latency queries.\n"
        f" * Early stopping 90.0th percentile estimate: {stopping.estimate_ns}\n"
        # LoadGen's own 99th-percentile line: 100 queries are too few for it
        " * Not enough queries processed for 99.0th percentile\n"
        " early stopping estimate (would need to process at\n"
        " least 662 total queries).\n"
        "\n" + BANNER + "\nAdditional Stats\n"
    ) in text


def test_multi_stream_stats_are_per_query() -> None:
    text = render_summary(make_result("MultiStream"))
    assert "Additional Stats\n" + BANNER + "\nPer-query latency:  \nMin latency (ns)                : 100000\n" in text
    assert "samples_per_query : 8\n" in text
    assert "target_qps : 1000\n" in text


def test_multi_stream_too_few_queries_fails_early_stopping() -> None:
    text = render_summary(make_result("MultiStream", trace=make_trace("MultiStream", 100, 8)))
    assert "Result is : INVALID\n" in text
    assert "  Early stopping satisfied: NO\n" in text
    assert "Early Stopping Result:\n * Only processed 100 queries.\n * Need to process at least 662 queries" in text


def test_server_lines_and_parameters() -> None:
    text = render_summary(make_result("Server", server_max_async_queries=None, max_duration_ms=60_000))
    assert "Early Stopping Result:\n * Run successful.\n" in text
    assert "\nMin issue delay (ns)                : 0\n" in text
    for line in (
        "samples_per_query : 1",
        "target_qps : 1000",
        "target_latency (ns): 50000000",
        "max_async_queries : 0",
        "max_duration (ms): 60000",
    ):
        assert f"\n{line}\n" in text


def test_server_over_latency_is_invalid_with_reasons() -> None:
    result = make_result("Server", server_target_latency_ns=500_000)
    text = render_summary(result)
    assert not result.valid
    assert "Result is : INVALID\n  Performance constraints satisfied : NO\n" in text
    recommendations = text.split("Recommendations:\n", 1)[1].split("Early Stopping Result:", 1)[0]
    assert recommendations.splitlines() == [f" * {reason}" for reason in result.invalid_reasons]
    assert " * Run unsuccessful.\n * Processed 500 queries.\n * Would need to run at least " in text


def test_invalid_reasons_errors_and_warnings_are_listed() -> None:
    result = make_result(
        "Offline", error="the SUT raised RuntimeError", warnings=("late issue", "slow load"), min_query_count=1000
    )
    text = render_summary(result)
    assert "Result is : INVALID\n  Min duration satisfied : Yes\n  Min queries satisfied : NO\n" in text
    assert "Recommendations:\n * the run did not complete: the SUT raised RuntimeError\n * min queries not met" in text
    assert text.endswith(
        "\n2 warnings encountered:\n * late issue\n * slow load\n"
        "\n1 ERROR encountered:\n * the SUT raised RuntimeError\n"
    )


def test_nothing_completed_omits_figures() -> None:
    trace = make_trace("Server", 10)
    trace.completed_ns[:] = NOT_YET
    result = make_result("Server", trace=trace)
    assert result.metrics.headline_value is None and result.metrics.latency is None
    text = render_summary(result)
    assert "samples per second" not in text.lower()
    assert "Result is : INVALID\n" in text
    assert "Additional Stats\n" + BANNER + "\n\n" + BANNER + "\nTest Parameters Used" in text
    assert "nothing completed" in render_console(result)


def test_no_metrics_at_all() -> None:
    result = make_result("SingleStream").model_copy(update={"metrics": None, "valid": False})
    text = render_summary(result)
    assert "Result is : INVALID\n" in text
    assert "percentile latency" not in text
    assert "no figures" in render_console(result)


def test_console_is_one_screen_in_human_units() -> None:
    result = make_result("SingleStream").model_copy(
        update={"chosen_by_pilot": {"single_stream_expected_latency_ns": "pilot: mean latency of 5 queries"}}
    )
    text = render_console(result)
    assert len(text.splitlines()) <= 20
    assert text.splitlines()[0] == "SingleStream run of SUT 'FakeSUT' on 'FakeQSL': VALID"
    assert "90.0th percentile latency (early-stopping estimate): 1.000 ms" in text
    assert "latency: p50 600.0 us, p90 1.000 ms, p99 1.000 ms, max 1.000 ms" in text
    assert "completed: 100 of 100 queries, 100 of 100 samples, in 0.100 s" in text
    assert "chosen by pilot: single_stream_expected_latency_ns = 1000000 (pilot: mean latency of 5 queries)" in text


def test_console_lists_invalid_reasons() -> None:
    result = make_result("Offline", min_query_count=1000)
    text = render_console(result)
    assert "INVALID" in text.splitlines()[0]
    assert f"  invalid: {result.invalid_reasons[0]}" in text
    assert "Samples per second: 1,000.00" in text
