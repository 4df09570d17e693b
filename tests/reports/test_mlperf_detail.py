"""mlperf_log_detail.txt in LoadGen's format, from hand-made runs: every line, every key, every value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from loadgen.engine.trace import Trace
from loadgen.metrics.figures import compute_metrics
from loadgen.metrics.result import RunResult
from loadgen.metrics.verdict import judge
from loadgen.mlperf.log_reader import first_values, parse_detail
from loadgen.settings.model import TestSettings
from reports.mlperf_detail import render_detail
from reports.mlperf_keys import DETAIL_FILE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "loadgen_logs"
SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")
SETTINGS = {
    "SingleStream": dict(single_stream_expected_latency_ns=1_000_000),
    "MultiStream": dict(multi_stream_expected_latency_ns=1_000_000, multi_stream_samples_per_query=8),
    "Server": dict(server_target_qps=1000.0, server_target_latency_ns=50_000_000),
    "Offline": dict(offline_expected_qps=100.0),
}
QUERIES = {"SingleStream": 100, "MultiStream": 700, "Server": 500, "Offline": 1}
PID, TID = 4242, 4343


def make_trace(scenario: str, per_query: int) -> Trace:
    """Queries 1 ms apart, latency (i % 10 + 1) * 0.1 ms; Offline: 100 samples, one per ms."""
    if scenario == "Offline":
        rows = np.arange(100)
        zeros = np.zeros(100, dtype=np.int64)
        return Trace.from_sample_rows(
            query=np.zeros(100, dtype=np.int32), sample_index=(rows % 7).astype(np.int32),
            scheduled_ns=zeros, issued_ns=zeros.copy(), completed_ns=(rows + 1) * 1_000_000,
            response_size=np.full(100, 4, dtype=np.int64),
        )
    query = np.repeat(np.arange(QUERIES[scenario]), per_query)
    scheduled = query.astype(np.int64) * 1_000_000
    return Trace.from_sample_rows(
        query=query.astype(np.int32), sample_index=(np.arange(query.size) % 7).astype(np.int32),
        scheduled_ns=scheduled, issued_ns=scheduled + 50, completed_ns=scheduled + (query % 10 + 1) * 100_000 + 3,
        response_size=np.full(query.size, 4, dtype=np.int64),
    )


def make_result(
    scenario: str, error: str | None = None, warnings: tuple[str, ...] = (), **overrides: object
) -> RunResult:
    values = {"scenario": scenario, "min_duration_ms": 0, "min_query_count": 1} | SETTINGS[scenario] | overrides
    settings = TestSettings(**values)
    per_query = settings.multi_stream_samples_per_query if scenario == "MultiStream" else 1
    metrics = compute_metrics(make_trace(scenario, per_query), settings)
    validity = judge(metrics, settings, error)
    return RunResult(
        tool="tinyperf-loadgen test", started_at="2024-01-01T12:30:00+00:00", scenario=scenario,
        mode="PerformanceOnly", sut_name="FakeSUT", qsl_name="FakeQSL", valid=validity.valid,
        invalid_reasons=validity.reasons, checks=validity.checks, stop_reason="schedule done", error=error,
        metrics=metrics, settings_requested=settings.model_dump(mode="json"),
        settings_effective=settings.model_dump(mode="json"), chosen_by_pilot={}, warmup_queries=0,
        total_sample_count=100, performance_sample_count=7, fingerprint={}, load_average_end=None,
        warnings=list(warnings),
    )


def records(result: RunResult) -> list[dict]:
    return parse_detail(render_detail(result, pid=PID, tid=TID))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_line_is_an_mllog_json_event_in_loadgens_layout(scenario: str) -> None:
    text = render_detail(make_result(scenario, warnings=("slow start",)), pid=PID, tid=TID)
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith(":::MLLOG {")
        event = json.loads(line.removeprefix(":::MLLOG "))  # strict JSON: no NaN, no Infinity
        assert list(event) == ["key", "value", "time_ms", "namespace", "event_type", "metadata"]
        assert event["namespace"] == "mlperf::logging" and event["event_type"] == "POINT_IN_TIME"
        assert list(event["metadata"]) == ["is_error", "is_warning", "file", "line_no", "pid", "tid"]
        assert event["metadata"]["file"] == "loadgen.run" and event["metadata"]["line_no"] == 0
        assert (event["metadata"]["pid"], event["metadata"]["tid"]) == (PID, TID)
        assert event["value"] is not None
        assert line.count(', "time_ms": ') == 1 and f'"time_ms": {event["time_ms"]:.6f},' in line


def test_time_ms_is_zero_at_the_start_and_the_run_length_for_results() -> None:
    result = make_result("Server")
    times = {event["key"]: event["time_ms"] for event in records(result)}
    assert times["requested_server_target_qps"] == 0.0
    assert times["result_validity"] == pytest.approx(result.metrics.duration_ns / 1e6, abs=1e-6)


def test_pid_and_tid_default_to_this_process() -> None:
    event = parse_detail(render_detail(make_result("Offline")))[0]
    assert isinstance(event["metadata"]["pid"], int) and event["metadata"]["pid"] > 0
    assert isinstance(event["metadata"]["tid"], int)


REQUIRED = {
    "loadgen_version", "test_datetime", "sut_name", "qsl_name", "qsl_reported_total_count",
    "requested_scenario", "requested_test_mode", "requested_min_duration_ms", "requested_max_duration_ms",
    "requested_min_query_count", "requested_max_query_count", "requested_qsl_rng_seed",
    "requested_sample_index_rng_seed", "requested_schedule_rng_seed", "requested_performance_sample_count_override",
    "effective_scenario", "effective_test_mode", "effective_samples_per_query", "effective_target_qps",
    "effective_target_latency_ns", "effective_target_latency_percentile", "effective_max_async_queries",
    "effective_min_duration_ms", "effective_max_duration_ms", "effective_min_query_count",
    "effective_max_query_count", "effective_performance_sample_count",
    "result_validity", "result_min_duration_met", "result_min_queries_met", "early_stopping_met",
    "result_query_count", "num_errors",
}
REQUIRED_BY_SCENARIO = {
    "SingleStream": {
        "requested_single_stream_expected_latency_ns", "requested_single_stream_target_latency_percentile",
        "early_stopping_result", "early_stopping_latency_ss", "result_min_latency_ns", "result_max_latency_ns",
        "result_mean_latency_ns", "result_90.00_percentile_latency_ns", "result_99.90_percentile_latency_ns",
    },
    "MultiStream": {
        "requested_multi_stream_expected_latency_ns", "requested_multi_stream_samples_per_query",
        "early_stopping_result", "early_stopping_latency_ms", "result_min_query_latency_ns",
        "result_max_query_latency_ns", "result_mean_query_latency_ns", "result_99.00_percentile_per_query_latency_ns",
    },
    "Server": {
        "requested_server_target_qps", "requested_server_target_latency_ns", "requested_server_max_async_queries",
        "result_perf_constraints_met", "early_stopping_result", "result_overlatency_query_count",
        "result_completed_samples_per_sec", "result_min_latency_ns", "result_99.00_percentile_latency_ns",
    },
    "Offline": {"requested_offline_expected_qps", "result_samples_per_second", "result_max_latency_ns"},
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_required_keys_are_present(scenario: str) -> None:
    keys = {event["key"] for event in records(make_result(scenario))}
    assert REQUIRED | REQUIRED_BY_SCENARIO[scenario] <= keys


LOADGEN_KEYS_NOT_WRITTEN = {
    # LoadGen's build and process details; ours names itself in loadgen_version.
    "loadgen_build_date_local", "loadgen_build_date_utc", "loadgen_git_commit_date", "loadgen_git_log_message",
    "loadgen_git_status_message", "loadgen_file_sha1", "get_sut_name_duration_ns", "loaded_qsl_set",
    "generated_query_count", "generated_samples_per_query", "generated_query_duration", "power_begin", "power_end",
    # LoadGen settings this harness does not have, or derives otherwise.
    "requested_server_find_peak_qps_boundary_step_size", "requested_server_num_issue_query_threads",
    "requested_accuracy_sample_count_override", "requested_sample_concatenate_permutation",
    "effective_min_sample_count", "effective_accuracy_sample_count", "effective_sample_concatenate_permutation",
    "qsl_reported_performance_count",
    # Figures a RunResult does not hold.
    "result_qps_with_loadgen_overhead", "result_qps_without_loadgen_overhead", "result_scheduled_samples_per_sec",
}
CONDITIONAL = {"generic_message", "warning_generic_message", "error_runtime", "result_invalid_reason"}


@pytest.mark.parametrize(("folder", "scenario"), [
    ("single_stream", "SingleStream"), ("multi_stream", "MultiStream"), ("server", "Server"), ("offline", "Offline"),
])
def test_ours_has_every_key_a_real_loadgen_log_has_but_the_listed_gaps(folder: str, scenario: str) -> None:
    theirs = {e["key"] for e in parse_detail((FIXTURES / folder / DETAIL_FILE).read_text(encoding="utf-8"))}
    ours = {e["key"] for e in records(make_result(scenario))}
    theirs = {key for key in theirs if not key.startswith("logger_")} - LOADGEN_KEYS_NOT_WRITTEN - CONDITIONAL
    if scenario == "SingleStream":
        theirs.discard("early_stopping_latency_ms")  # LoadGen's 99th-percentile estimate; ours has one percentile
    if scenario == "MultiStream":  # LoadGen also logs per-sample latencies there; ours are per query
        theirs = {key for key in theirs if not (key.startswith("result_") and key.endswith("_latency_ns")
                                                 and "query" not in key)}
    assert theirs - ours == set()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_values_equal_the_run_results(scenario: str) -> None:
    result = make_result(scenario)
    values = first_values(records(result))
    metrics = result.metrics
    assert metrics is not None and metrics.latency is not None
    assert values["loadgen_version"] == "tinyperf-loadgen test"
    assert values["test_datetime"] == "2024-01-01T12:30:00Z"
    assert values["requested_scenario"] == values["effective_scenario"] == scenario
    assert values["requested_test_mode"] == "PerformanceOnly"
    assert values["result_validity"] == ("VALID" if result.valid else "INVALID")
    assert values["result_min_duration_met"] is result.checks["min_duration"]
    assert values["result_min_queries_met"] is result.checks["min_queries"]
    assert values["early_stopping_met"] is result.checks.get("early_stopping", True)
    assert values["result_query_count"] == metrics.queries_issued
    assert values["num_errors"] == 0
    assert values["requested_min_duration_ms"] == values["effective_min_duration_ms"] == 0
    assert values["requested_max_duration_ms"] == values["requested_max_query_count"] == 0  # None: no limit
    assert values["effective_performance_sample_count"] == 7
    assert values["qsl_reported_total_count"] == 100
    kind = ("query_latency", "per_query_latency") if scenario == "MultiStream" else ("latency", "latency")
    assert values[f"result_min_{kind[0]}_ns"] == metrics.latency.min_ns
    assert values[f"result_max_{kind[0]}_ns"] == metrics.latency.max_ns
    assert values[f"result_mean_{kind[0]}_ns"] == int(metrics.latency.mean_ns)  # LoadGen's mean is whole ns
    for label, value in metrics.latency.percentiles_ns.items():
        assert values[f"result_{float(label):.2f}_percentile_{kind[1]}_ns"] == value
    for key in values:
        if key.startswith("result_") and key.endswith("_ns"):
            assert isinstance(values[key], int) and not isinstance(values[key], bool), key


def test_scenario_figures_and_settings_in_loadgens_units() -> None:
    single = first_values(records(make_result("SingleStream")))
    result = make_result("SingleStream")
    assert single["requested_single_stream_expected_latency_ns"] == 1_000_000
    assert single["effective_target_qps"] == 1000.0  # LoadGen states expected latency as a rate
    assert single["effective_target_latency_percentile"] == 0.9
    assert single["early_stopping_latency_ss"] == result.metrics.early_stopping.estimate_ns
    server_result = make_result("Server")
    server = first_values(records(server_result))
    assert server["requested_server_target_qps"] == server["effective_target_qps"] == 1000.0
    assert server["effective_target_latency_ns"] == 50_000_000
    assert server["requested_server_max_async_queries"] == server["effective_max_async_queries"] == 0
    assert server["result_completed_samples_per_sec"] == server_result.metrics.completed_samples_per_second
    assert server["result_perf_constraints_met"] is server_result.checks["performance_constraints"]
    assert server["result_overlatency_query_count"] == server_result.metrics.early_stopping.overlatency_queries
    offline_result = make_result("Offline")
    offline = first_values(records(offline_result))
    assert offline["result_samples_per_second"] == offline_result.metrics.samples_per_second == 1000.0
    assert offline["effective_samples_per_query"] == 100
    assert offline["effective_target_duration_ms"] == 0
    multi = first_values(records(make_result("MultiStream")))
    assert multi["effective_samples_per_query"] == multi["requested_multi_stream_samples_per_query"] == 8


def test_an_error_is_an_error_line_and_counted() -> None:
    events = records(make_result("Server", error="the SUT raised ValueError: boom"))
    errors = [e for e in events if e["metadata"]["is_error"]]
    assert [(e["key"], e["value"]) for e in errors] == [("error_runtime", "the SUT raised ValueError: boom")]
    values = first_values(events)
    assert values["num_errors"] == 1
    assert values["result_validity"] == "INVALID" and values["result_run_completed_met"] is False
    assert "boom" in values["result_invalid_reason"]
    assert not any(e["metadata"]["is_warning"] for e in events)


def test_warnings_are_warning_lines() -> None:
    events = records(make_result("Offline", warnings=("first", "second")))
    warnings = [e for e in events if e["metadata"]["is_warning"]]
    assert [(e["key"], e["value"]) for e in warnings] == [
        ("warning_generic_message", "first"), ("warning_generic_message", "second"),
    ]
    assert not any(e["metadata"]["is_error"] for e in events)
    assert first_values(events)["num_errors"] == 0


def test_a_valid_run_has_no_invalid_reason_and_an_invalid_one_has_one_line() -> None:
    valid = make_result("Offline")
    assert valid.valid and "result_invalid_reason" not in first_values(records(valid))
    invalid = make_result("Offline", min_duration_ms=10_000)
    reasons = [e["value"] for e in records(invalid) if e["key"] == "result_invalid_reason"]
    assert len(reasons) == 1 and reasons[0].startswith("min duration not met")


def test_a_run_without_figures_logs_its_verdict_only() -> None:
    result = make_result("Offline").model_copy(update={"metrics": None, "checks": {"run_completed": True}})
    keys = [e["key"] for e in records(result)]
    assert "result_validity" in keys and "num_errors" in keys
    assert not any(key.endswith("_ns") or key == "result_query_count" for key in keys if key.startswith("result_"))


def test_rendering_is_pure() -> None:
    result = make_result("MultiStream")
    before = result.model_dump()
    assert render_detail(result, pid=1, tid=2) == render_detail(result, pid=1, tid=2)
    assert result.model_dump() == before
