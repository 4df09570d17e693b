"""mlperf_log_detail.txt, rendered from a RunResult in MLPerf LoadGen's format.

One `:::MLLOG {json}` line per key, laid out as LoadGen's logging.cc writes them (key,
value, time_ms with six decimals, namespace "mlperf::logging", event_type
"POINT_IN_TIME", metadata {is_error, is_warning, file, line_no, pid, tid}), so MLCommons'
log_parser.py and submission tools read ours. Key names, units and types are LoadGen's
(latencies in integer ns, "no limit" as 0, "VALID"/"INVALID"); loadgen.mlperf_logs holds
the mapping and reads the file back. Figures we have and LoadGen does not log follow
under keys of their own (loadgen.mlperf_logs.HARNESS_KEYS); figures LoadGen logs and we
lack are left out rather than made up: SingleStream's result_qps_with/without_loadgen_overhead
and its 99th-percentile early_stopping_latency_ms, Server's
result_scheduled_samples_per_sec, MultiStream's per-sample latencies (ours are per query,
logged under LoadGen's per-query keys), power_begin/power_end, and LoadGen's build
details. Every value is read from the RunResult; nothing is recomputed. LoadGen's mean
latency is a whole number of ns, so ours is truncated as in the summary. time_ms is 0
for what is known at the start and the run's duration for its results.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import threading
from typing import Any

from loadgen.metrics.figures import EarlyStopping, LatencySummary, Metrics
from loadgen.metrics.result import RunResult
from reports.mlperf_keys import (
    CHECK_KEYS,
    DETAIL_PREFIX,
    ENDING_PREFIX,
    check_key,
    effective_loadgen_values,
    percentile_key,
    requested_loadgen_values,
    stat_key,
)

SOURCE_FILE = "loadgen.run"
"""What the metadata's "file" names: LoadGen names its C++ file; we name the writer."""

Event = tuple[str, Any, bool, bool]
"""(key, value, is_error, is_warning)."""


def render_detail(result: RunResult, pid: int | None = None, tid: int | None = None) -> str:
    """The text of mlperf_log_detail.txt; pid and tid default to this process and thread."""
    pid = os.getpid() if pid is None else pid
    tid = threading.get_native_id() if tid is None else tid
    end_ms = result.metrics.duration_ns / 1e6 if result.metrics else 0.0
    start = [*_header(result), *_settings(result)]
    end = [*_ending(result), *_verdict(result), *_figures(result)]
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
        _point("qsl_name", result.qsl_name),
        _point("qsl_reported_total_count", result.total_sample_count),
    ]


def _settings(result: RunResult) -> list[Event]:
    scenario = result.scenario
    requested = requested_loadgen_values(scenario, result.settings_requested)
    effective = effective_loadgen_values(scenario, result.settings_effective, _samples_per_query(result))
    effective["performance_sample_count"] = result.performance_sample_count
    return [_point(f"requested_{name}", value) for name, value in requested.items()] + [
        _point(f"effective_{name}", value) for name, value in effective.items()
    ]


def _samples_per_query(result: RunResult) -> int | None:
    """Offline's one query holds every sample issued; MultiStream's size is a setting."""
    if result.scenario == "Offline":
        return result.metrics.samples_issued if result.metrics else None
    if result.scenario == "MultiStream":
        return result.settings_effective.get("multi_stream_samples_per_query")
    return 1


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
    ours = [name for name in CHECK_KEYS if name in checks and name != "early_stopping"]
    events += [_point(check_key(name), checks[name]) for name in ours]
    if result.metrics is not None:
        # Offline has no early-stopping rule; LoadGen logs it met there.
        events.append(_point(check_key("early_stopping"), checks.get("early_stopping", True)))
    events += [_point(check_key(name), ok) for name, ok in checks.items() if name not in CHECK_KEYS]
    if not result.valid:
        events.append(_point("result_invalid_reason", " ".join(r.replace("\n", " ") for r in result.invalid_reasons)))
    if result.metrics is not None:  # LoadGen logs "" where there is no early-stopping rule (Offline)
        stopping = result.metrics.early_stopping
        events.append(_point("early_stopping_result", stopping.message if stopping else ""))
    return events


def _figures(result: RunResult) -> list[Event]:
    metrics = result.metrics
    errors = [_point("num_errors", 0 if result.error is None else 1)]
    if metrics is None:
        return errors
    scenario = result.scenario
    stopping = metrics.early_stopping
    events = [_point("result_query_count", metrics.queries_issued)]
    if scenario == "Server" and stopping is not None:
        events.append(_point("result_overlatency_query_count", stopping.overlatency_queries))
    if scenario == "SingleStream":
        events.append(_point("early_stopping_latency_ss", _estimate(stopping)))
    if scenario == "MultiStream":
        events += _latency_events("query", metrics.latency)
        events.append(_point("early_stopping_latency_ms", _estimate(stopping)))
    events += [
        _point("result_completed_samples_per_sec", metrics.completed_samples_per_second),
        _point("result_samples_per_second", metrics.samples_per_second),
    ]
    if scenario != "MultiStream":
        events += _latency_events("sample", metrics.latency)
    return events + _harness_figures(metrics) + errors


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
