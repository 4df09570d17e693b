"""mlperf_log_detail.txt, rendered from a RunResult in MLPerf LoadGen's format.

One `:::MLLOG {json}` line per key, laid out as LoadGen's logger writes them (key,
value, time_ms with six decimals, namespace "mlperf::logging", event_type
"POINT_IN_TIME", metadata {is_error, is_warning, file, line_no, pid, tid}), so MLCommons'
log_parser.py and submission tools read ours. Every key LoadGen 6.0 writes for the
scenario and mode is written, in LoadGen's order, with its JSON type (latencies in integer
ns, "no limit" as 0, "VALID"/"INVALID"), except reports.mlperf_keys.LOADGEN_INTERNAL_KEYS
(LoadGen's build details and logger counters); tests/mlperf/test_detail_keys.py compares
the key sets and types of both engines' logs. Figures we have and LoadGen does not log
follow under keys of their own (reports.mlperf_keys.HARNESS_KEYS).

Where LoadGen's key states something this harness does not do, the value says what the
harness did: settings it lacks are logged at LoadGen's off values (the way it ran);
early_stopping_ttft_result/tpot_result say that token early stopping is not computed;
power_begin/power_end are the run's start time and start + duration (LoadGen's are the
wall-clock ends of the timed window). loaded_qsl_set and generated_query_* are re-derived
from the effective settings with the schedule's own functions, which made the run's
schedule. Every figure is read from the RunResult; LoadGen's mean latency is a whole
number of ns, so ours is truncated as in the summary. time_ms is 0 for what is known at
the start and the run's duration for its results.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import threading
from typing import Any

import numpy as np

from loadgen.engine.accuracy import query_size
from loadgen.engine.schedule import closed_loop_query_count, select_loaded_samples, server_arrivals_ns
from loadgen.metrics.figures import EarlyStopping, LatencySummary, Metrics
from loadgen.metrics.result import RunResult
from loadgen.settings.effective import EffectiveSettings
from loadgen.settings.model import Scenario, TestSettings
from reports.mlperf_keys import (
    CHECK_KEYS,
    DETAIL_PREFIX,
    ENDING_PREFIX,
    check_key,
    effective_loadgen_values,
    percentile_key,
    percentile_text,
    requested_loadgen_values,
    stat_key,
)
from reports.summary import TOKEN_EARLY_STOPPING, early_stopping_lines

SOURCE_FILE = "loadgen.run"
"""What the metadata's "file" names: LoadGen names its C++ file; we name the writer."""

Event = tuple[str, Any, bool, bool]
"""(key, value, is_error, is_warning)."""


def render_detail(result: RunResult, pid: int | None = None, tid: int | None = None) -> str:
    """The text of mlperf_log_detail.txt; pid and tid default to this process and thread."""
    pid = os.getpid() if pid is None else pid
    tid = threading.get_native_id() if tid is None else tid
    end_ms = result.metrics.duration_ns / 1e6 if result.metrics else 0.0
    start = [*_header(result), *_settings(result), *_generated(result)]
    end = [*_ending(result), *_power(result), *_verdict(result), *_figures(result)]
    lines = [_line(event, 0.0, pid, tid) for event in start if _loggable(event[1])]
    lines += [_line(event, end_ms, pid, tid) for event in end if _loggable(event[1])]
    return "\n".join(lines) + "\n"


def _loggable(value: Any) -> bool:
    """LoadGen never logs null or a non-finite number (log_parser.py would reject it)."""
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def _line(event: Event, time_ms: float, pid: int, tid: int) -> str:
    key, value, is_error, is_warning = event
    metadata = {
        "is_error": is_error, "is_warning": is_warning, "file": SOURCE_FILE, "line_no": 0, "pid": pid, "tid": tid,
    }
    return (
        f'{DETAIL_PREFIX}{{"key": {json.dumps(key)}, "value": {json.dumps(value, allow_nan=False)}, '
        f'"time_ms": {time_ms:.6f}, "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", '
        f'"metadata": {json.dumps(metadata)}}}'
    )


def _point(key: str, value: Any) -> Event:
    return (key, value, False, False)


def _loadgen_datetime(started_at: str) -> str:
    """Our ISO started_at as LoadGen's test_datetime: UTC, to the second, with a Z."""
    try:
        moment = dt.datetime.fromisoformat(started_at)
    except ValueError:
        return started_at
    if moment.tzinfo is None:
        return moment.isoformat(timespec="seconds")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header(result: RunResult) -> list[Event]:
    return [
        _point("loadgen_version", result.tool),
        _point("test_datetime", _loadgen_datetime(result.started_at)),
        _point("sut_name", result.sut_name),
        _point("get_sut_name_duration_ns", result.sut_name_duration_ns),
        _point("qsl_name", result.qsl_name),
        _point("qsl_reported_total_count", result.total_sample_count),
        # the QSL's own count, where no override replaced it
        _point("qsl_reported_performance_count",
               None if result.settings_effective.get("performance_sample_count_override")
               else result.performance_sample_count),
    ]


def _settings(result: RunResult) -> list[Event]:
    scenario = result.scenario
    requested = requested_loadgen_values(scenario, result.settings_requested)
    counts = {
        "min_sample_count": _min_sample_count(result),
        "performance_sample_count": result.performance_sample_count,
        "accuracy_sample_count": result.settings_effective.get("accuracy_sample_count_override")
        or result.total_sample_count,
    }
    effective = effective_loadgen_values(scenario, result.settings_effective, _samples_per_query(result), counts)
    return [_point(f"requested_{name}", value) for name, value in requested.items()] + [
        _point(f"effective_{name}", value) for name, value in effective.items()
    ]


def _samples_per_query(result: RunResult) -> int | None:
    """Offline's one query holds every sample issued (in accuracy mode, the loaded set);
    MultiStream's size is a setting."""
    if result.scenario == "Offline":
        return result.metrics.samples_issued if result.metrics else result.performance_sample_count
    if result.scenario == "MultiStream":
        return result.settings_effective.get("multi_stream_samples_per_query")
    return 1


def _min_sample_count(result: RunResult) -> int:
    """LoadGen's min_sample_count: Offline's query size, MultiStream's queries x samples, else
    min_query_count."""
    effective = result.settings_effective
    min_queries = int(effective.get("min_query_count") or 0)
    if result.scenario == "Offline" and result.metrics is not None:
        return result.metrics.samples_issued
    if result.scenario == "MultiStream":
        return min_queries * int(effective.get("multi_stream_samples_per_query") or 1)
    return min_queries


def _harness_settings(result: RunResult) -> TestSettings | None:
    try:
        return TestSettings.model_validate(result.settings_effective)
    except ValueError:
        return None


def _generated(result: RunResult) -> list[Event]:
    """What LoadGen logs as each mode starts: the loaded set(s) and the generated queries."""
    events: list[Event] = []
    settings = _harness_settings(result)
    if settings is None:
        return events
    if result.mode in ("AccuracyOnly", "SubmissionRun"):
        events.append(_point("generic_message", "Starting accuracy mode"))
        events += _accuracy_sets(result, settings)
    if result.mode != "AccuracyOnly":
        events.append(_point("generic_message", "Starting performance mode"))
        total, count = result.total_sample_count, result.performance_sample_count
        loaded = select_loaded_samples(total, count, settings.qsl_rng_seed)
        events.append(_point("loaded_qsl_set", loaded.tolist()))
        events += _generated_queries(result, settings)
    return events


def _accuracy_sets(result: RunResult, settings: TestSettings) -> list[Event]:
    """Accuracy mode loads the shuffled accuracy set in chunks of the performance sample count."""
    order = np.random.default_rng(settings.qsl_rng_seed).permutation(result.total_sample_count)
    size = max(1, result.performance_sample_count)
    events: list[Event] = []
    for start in range(0, len(order), size):
        chunk = order[start:start + size]
        per_query = query_size(EffectiveSettings.of(settings), len(chunk))
        queries = -(-len(chunk) // per_query)
        events += [
            _point("loaded_qsl_set", chunk.tolist()),
            _point("generated_query_count", queries),
            _point("generated_samples_per_query", per_query),
            _point("generated_query_duration", _expected_duration(settings, queries)),
        ]
    return events


def _expected_duration(settings: TestSettings, queries: int) -> int | None:
    """LoadGen's generated_query_duration for a closed loop: queries x expected latency;
    Offline's is one query at the expected rate, 1e9 / expected qps; Server's queries / qps."""
    scenario = settings.scenario
    if scenario is Scenario.SingleStream and settings.single_stream_expected_latency_ns:
        return queries * settings.single_stream_expected_latency_ns
    if scenario is Scenario.MultiStream and settings.multi_stream_expected_latency_ns:
        return queries * settings.multi_stream_expected_latency_ns
    if scenario is Scenario.Offline and settings.offline_expected_qps:
        return round(1e9 / settings.offline_expected_qps)
    if scenario is Scenario.Server and settings.server_target_qps:
        return round(queries * 1e9 / settings.server_target_qps)
    return None


def _generated_queries(result: RunResult, settings: TestSettings) -> list[Event]:
    """The timed run's schedule, as the schedule's own functions generated it."""
    scenario = settings.scenario
    per_query = _samples_per_query(result)
    duration: int | None
    if scenario is Scenario.Server and settings.server_target_qps:
        arrivals = server_arrivals_ns(settings, settings.server_target_qps)
        queries, duration = len(arrivals), int(arrivals[-1]) if len(arrivals) else 0
    elif scenario is Scenario.Offline:
        queries = 1
        duration = _expected_duration(settings, 1)
    else:
        expected = (settings.single_stream_expected_latency_ns if scenario is Scenario.SingleStream
                    else settings.multi_stream_expected_latency_ns)
        if not expected:
            return []
        queries = closed_loop_query_count(EffectiveSettings.of(settings), expected)
        duration = _expected_duration(settings, queries)
    return [
        _point("generated_query_count", queries),
        _point("generated_samples_per_query", per_query),
        _point("generated_query_duration", duration),
    ]


def _power(result: RunResult) -> list[Event]:
    """power_begin/power_end as LoadGen words them (%m-%d-%Y %H:%M:%S.mmm): here the run's start
    and start + duration, in local time as LoadGen prints them."""
    try:
        begin = dt.datetime.fromisoformat(result.started_at)
    except ValueError:
        return []
    if begin.tzinfo is not None:
        begin = begin.astimezone()
    duration = result.metrics.duration_ns if result.metrics else 0
    end = begin + dt.timedelta(microseconds=duration / 1000)
    return [_point(key, moment.strftime("%m-%d-%Y %H:%M:%S.%f")[:-3]) for key, moment in
            (("power_begin", begin), ("power_end", end))]


def _ending(result: RunResult) -> list[Event]:
    events = [_point("generic_message", ENDING_PREFIX + result.stop_reason)]
    if result.error is not None:
        events.append(("error_runtime", result.error, True, False))
    events += [("warning_generic_message", warning, False, True) for warning in result.warnings]
    return events


def _verdict(result: RunResult) -> list[Event]:
    """LoadGen's result_validity and checks, then ours LoadGen lacks (run_completed, accuracy)."""
    checks = result.checks
    events = [_point("result_validity", "VALID" if result.valid else "INVALID")]
    if result.scenario == "Server" and result.metrics is not None and "performance_constraints" not in checks:
        # token-latency runs check TTFT and TPOT bounds; LoadGen logs them as its perf constraints
        bounds = [ok for name, ok in checks.items() if name.endswith("_latency_constraint")]
        events.append(_point(check_key("performance_constraints"), all(bounds)))
    ours = [name for name in CHECK_KEYS if name in checks and name != "early_stopping"]
    events += [_point(check_key(name), checks[name]) for name in ours]
    if result.metrics is not None:
        # Offline has no early-stopping rule; LoadGen logs it met there.
        events.append(_point(check_key("early_stopping"), checks.get("early_stopping", True)))
    events += [_point(check_key(name), ok) for name, ok in checks.items() if name not in CHECK_KEYS]
    if not result.valid:
        events.append(_point("result_invalid_reason", " ".join(r.replace("\n", " ") for r in result.invalid_reasons)))
    if result.metrics is not None:  # LoadGen logs "" where there is no early-stopping rule (Offline)
        events.append(_point("early_stopping_result", " ".join(early_stopping_lines(result))))
        if result.settings_effective.get("use_token_latencies"):
            note = "" if result.scenario == "Offline" else TOKEN_EARLY_STOPPING
            events += [_point("early_stopping_ttft_result", note), _point("early_stopping_tpot_result", note)]
    return events


def _figures(result: RunResult) -> list[Event]:
    """LoadGen's results block in its order: counts, the scenario's own figures, per-sample
    latencies, token figures; then ours; num_errors last."""
    metrics = result.metrics
    errors = [_point("num_errors", 0 if result.error is None else 1)]
    if metrics is None:
        return errors
    scenario = result.scenario
    stopping = metrics.early_stopping
    events = [_point("result_query_count", metrics.queries_issued)]
    if scenario == "Server" and stopping is not None:
        events.append(_point("result_overlatency_query_count", stopping.overlatency_queries))
    own_rate = {"Server": "result_completed_samples_per_sec", "Offline": "result_samples_per_second"}.get(scenario)
    if scenario == "SingleStream":
        events += [
            _point("result_qps_with_loadgen_overhead", metrics.qps_with_loadgen_overhead),
            _point("result_qps_without_loadgen_overhead", metrics.qps_without_loadgen_overhead),
            _point("early_stopping_latency_ss", _estimate(stopping)),
            _point("early_stopping_latency_ms", _estimate(metrics.early_stopping_99)),
        ]
    elif scenario == "MultiStream":
        events += _latency_events("query", metrics.latency)
        events.append(_point("early_stopping_latency_ms", _estimate(stopping)))
    elif scenario == "Server":
        events += [
            _point("result_scheduled_samples_per_sec", metrics.scheduled_samples_per_second),
            _point("result_completed_samples_per_sec", metrics.completed_samples_per_second),
        ]
    else:
        events.append(_point("result_samples_per_second", metrics.samples_per_second))
    events += _latency_events("sample", metrics.sample_latency if scenario == "MultiStream" else metrics.latency)
    events += _token_events(scenario, metrics)
    rates = (("result_completed_samples_per_sec", metrics.completed_samples_per_second),
             ("result_samples_per_second", metrics.samples_per_second))
    events += [_point(key, value) for key, value in rates if key != own_rate]  # ours, outside LoadGen's scenario
    return events + _harness_figures(metrics) + errors


def _token_events(scenario: str, metrics: Metrics) -> list[Event]:
    """LoadGen's token figures: first-token latencies, throughputs, time per output token."""
    if metrics.tokens is None:
        return []
    if scenario == "Offline":
        return [_point("result_tokens_per_second", metrics.tokens_per_second)]
    events: list[Event] = []
    ttft, tpot = metrics.ttft, metrics.tpot
    if ttft is not None:
        events += [
            _point("result_first_token_min_latency_ns", ttft.min_ns),
            _point("result_first_token_max_latency_ns", ttft.max_ns),
            _point("result_first_token_mean_latency_ns", int(ttft.mean_ns)),
        ]
        events += [_point(f"result_first_token_{percentile_text(label)}_percentile_latency_ns", value)
                   for label, value in ttft.percentiles_ns.items()]
    events += [
        _point("result_token_throughput_with_loadgen_overhead", metrics.token_throughput_with_loadgen_overhead),
        _point("result_token_throughput", metrics.token_throughput),
    ]
    if tpot is not None:
        events += [_point(f"result_time_per_output_token_{percentile_text(label)}_percentile_ns", value)
                   for label, value in tpot.percentiles_ns.items()]
        events += [
            _point("result_time_to_output_token_min", tpot.min_ns),
            _point("result_time_to_output_token_max", tpot.max_ns),
            _point("result_time_to_output_token_mean", int(tpot.mean_ns)),
        ]
    events.append(_point("result_completed_tokens_per_second", metrics.tokens_per_second))
    return events


def _estimate(stopping: EarlyStopping | None) -> int:
    """LoadGen's early_stopping_latency_*: the estimate, 0 when there is none."""
    return stopping.estimate_ns if stopping is not None and stopping.estimate_ns is not None else 0


def _latency_events(kind: str, latency: LatencySummary | None) -> list[Event]:
    if latency is None:
        return []
    events = [
        _point(stat_key(kind, "min"), latency.min_ns),
        _point(stat_key(kind, "max"), latency.max_ns),
        _point(stat_key(kind, "mean"), int(latency.mean_ns)),
    ]
    return events + [_point(percentile_key(kind, label), value) for label, value in latency.percentiles_ns.items()]


def _harness_figures(metrics: Metrics) -> list[Event]:
    """What LoadGen's log does not state (it waits for every sample and has no issue delay)."""
    events = [
        _point("result_completed_query_count", metrics.queries_completed),
        _point("result_issued_sample_count", metrics.samples_issued),
        _point("result_completed_sample_count", metrics.samples_completed),
        _point("result_duration_ns", metrics.duration_ns),
        _point("result_last_scheduled_ns", metrics.last_scheduled_ns),
        *_latency_events("issue_delay", metrics.issue_delay),
    ]
    stopping = metrics.early_stopping
    if stopping is not None:
        events += [
            _point("early_stopping_queries", stopping.queries),
            _point("early_stopping_min_queries", stopping.min_queries),
            _point("early_stopping_overlatency_queries", stopping.overlatency_queries),
        ]
    return events
