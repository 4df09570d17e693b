"""LoadGen's log vocabulary: key names, units and settings lists.

Shared by the detail-log renderer here and loadgen.mlperf.log_reader, so both read and write
the same names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from loadgen.settings.model import TestSettings

SUMMARY_FILE = "mlperf_log_summary.txt"


DETAIL_FILE = "mlperf_log_detail.txt"


DETAIL_PREFIX = ":::MLLOG "


SCENARIO_SETTINGS: dict[str, tuple[str, ...]] = {
    "SingleStream": ("single_stream_expected_latency_ns", "single_stream_target_latency_percentile"),
    "MultiStream": (
        "multi_stream_expected_latency_ns",
        "multi_stream_target_latency_percentile",
        "multi_stream_samples_per_query",
    ),
    "Server": (
        "server_target_qps",
        "server_target_latency_ns",
        "server_target_latency_percentile",
        "server_coalesce_queries",
        "server_find_peak_qps_decimals_of_precision",
        "server_max_async_queries",
    ),
    "Offline": ("offline_expected_qps",),
}
"""The requested_* settings LoadGen logs per scenario; our names equal LoadGen's."""


COMMON_SETTINGS = (
    "min_duration_ms",
    "max_duration_ms",
    "min_query_count",
    "max_query_count",
    "qsl_rng_seed",
    "sample_index_rng_seed",
    "schedule_rng_seed",
)
"""The requested_* settings of every scenario, in LoadGen's order; FEATURE_SETTINGS and
TRAILING_SETTINGS follow them."""


TRAILING_SETTINGS: dict[str, Any] = {
    "performance_sample_count_override": 0,
    "accuracy_sample_count_override": 0,
    "sample_concatenate_permutation": False,
}
"""The requested_* settings LoadGen logs after the features: ours where we have them, else the
value LoadGen logs when unset."""


LOADGEN_ONLY_SERVER_SETTINGS: dict[str, Any] = {
    "server_find_peak_qps_boundary_step_size": 1,
    "server_num_issue_query_threads": 0,
}
"""Server settings LoadGen logs that this harness lacks; logged at LoadGen's defaults, which is
how the harness runs (one issue thread, LoadGen's default peak-search step)."""


SERVER_SETTINGS_ORDER = (
    "server_target_qps",
    "server_target_latency_ns",
    "server_target_latency_percentile",
    "server_coalesce_queries",
    "server_find_peak_qps_decimals_of_precision",
    "server_find_peak_qps_boundary_step_size",
    "server_max_async_queries",
    "server_num_issue_query_threads",
)
"""LoadGen's order of the requested Server settings."""


TOKEN_SETTINGS = {"ttft_latency": "server_ttft_latency", "tpot_latency": "server_tpot_latency"}
"""The token-latency bounds: our name -> LoadGen's requested_* name (logged but for Offline)."""


DOUBLE_KEYS = frozenset(
    {
        "requested_single_stream_expected_latency_ns",
        "requested_single_stream_target_latency_percentile",
        "requested_multi_stream_expected_latency_ns",
        "requested_multi_stream_target_latency_percentile",
        "requested_server_target_qps",
        "requested_server_target_latency_percentile",
        "requested_server_find_peak_qps_boundary_step_size",
        "requested_offline_expected_qps",
        "requested_accuracy_log_probability",
        "effective_target_qps",
        "effective_target_latency_percentile",
        "effective_accuracy_log_probability",
        "result_qps_with_loadgen_overhead",
        "result_qps_without_loadgen_overhead",
        "result_scheduled_samples_per_sec",
        "result_completed_samples_per_sec",
        "result_samples_per_second",
        "result_token_throughput",
        "result_token_throughput_with_loadgen_overhead",
        "result_completed_tokens_per_second",
        "result_tokens_per_second",
    }
)
"""Keys whose value LoadGen holds as a C++ double and prints with 6 significant digits, so the
same figure is a JSON integer in one log (300) and a float in another (1e+06): their JSON type
is "number"."""


LOADGEN_INTERNAL_KEYS = frozenset(
    {
        "loadgen_build_date_local",
        "loadgen_build_date_utc",
        "loadgen_git_commit_date",
        "loadgen_git_log_message",
        "loadgen_git_status_message",
        "loadgen_file_sha1",
        "logger_swap_request_slots_retry_count",
        "logger_swap_request_slots_retry_retry_count",
        "logger_swap_request_slots_retry_reencounter_count",
        "logger_start_reading_entries_retry_count",
        "logger_tls_total_log_cas_fail_count",
        "logger_tls_total_swap_buffers_slot_retry_count",
    }
)
"""What LoadGen logs about its own build (git commit, file hashes) and its logger's lock-free
buffers; this harness has neither, so its detail log leaves them out. Every other key LoadGen
writes, ours writes too (tests/mlperf/test_detail_keys.py compares both engines' logs)."""


HARNESS_SETTINGS = ("warmup_ms", "pilot_ms", "sample_timeout_ms")
"""Our settings without a LoadGen counterpart, logged as requested_<name> all the same."""


RENAMED_SETTINGS = {"mode": "test_mode"}
"""Our name -> LoadGen's, where they differ."""


FEATURE_SETTINGS: dict[str, Any] = {
    "accuracy_log_rng_seed": 0,
    "accuracy_log_probability": 0,
    "accuracy_log_sampling_target": 0,
    "print_timestamps": False,
    "performance_issue_unique": False,
    "performance_issue_same": False,
    "performance_issue_same_index": 0,
}
"""LoadGen's feature settings and the value it logs when a feature is off: ours where our
settings have the feature, else this (the harness lacks it)."""


PERCENTILE_SETTING = {
    "SingleStream": "single_stream_target_latency_percentile",
    "MultiStream": "multi_stream_target_latency_percentile",
    "Server": "server_target_latency_percentile",
    "Offline": "server_target_latency_percentile",  # LoadGen logs Server's for Offline too
}


EXPECTED_LATENCY_SETTING = {
    "SingleStream": "single_stream_expected_latency_ns",
    "MultiStream": "multi_stream_expected_latency_ns",
}


EXPECTED_RATE_SETTING = {"Server": "server_target_qps", "Offline": "offline_expected_qps"}


LIMIT_SETTINGS = ("min_duration_ms", "max_duration_ms", "min_query_count", "max_query_count")


SEED_SETTINGS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")


CHECK_KEYS = {
    "performance_constraints": "result_perf_constraints_met",
    "min_duration": "result_min_duration_met",
    "min_queries": "result_min_queries_met",
    "early_stopping": "early_stopping_met",
}
"""Our check -> LoadGen's key; our other checks are logged as result_<check>_met."""


STAT_NOUNS = {
    "sample": ("latency", "latency"),
    "query": ("query_latency", "per_query_latency"),
    "issue_delay": ("issue_delay", "issue_delay"),
}
"""Latency kind -> (noun in result_min_<noun>_ns, noun in result_<p>_percentile_<noun>_ns).
"query" is MultiStream's per-query latency; "issue_delay" is ours alone."""


HARNESS_KEYS = (
    "requested_warmup_ms",
    "requested_pilot_ms",
    "requested_sample_timeout_ms",
    "result_run_completed_met",
    "result_accuracy_met",
    "result_completed_query_count",
    "result_issued_sample_count",
    "result_completed_sample_count",
    "result_duration_ns",
    "result_last_scheduled_ns",
    "result_min_issue_delay_ns",
    "result_max_issue_delay_ns",
    "result_mean_issue_delay_ns",
    "result_<p>_percentile_issue_delay_ns",
    "early_stopping_queries",
    "early_stopping_min_queries",
    "early_stopping_overlatency_queries",
)
"""Keys ours writes that LoadGen does not; also result_samples_per_second and
result_completed_samples_per_sec outside LoadGen's one scenario each, our other checks as
result_<check>_met, early_stopping_result beside LoadGen's TTFT/TPOT results in token runs,
our verdict in accuracy mode (result_validity, num_errors), and a generic_message "Ending:
<stop reason>". MLPerf's tools ignore keys they do not know."""


EVENT_KEYS = frozenset({"error_runtime", "warning_generic_message", "result_invalid_reason"})
"""Keys either tool writes only when something happened (an error, a warning, an INVALID run)."""


def is_harness_key(key: str) -> bool:
    """Whether a key is one of ours that LoadGen does not write (documented in HARNESS_KEYS)."""
    if key in HARNESS_KEYS or key in EVENT_KEYS:
        return True
    if re.fullmatch(r"result_\d+\.\d+_percentile_issue_delay_ns", key):
        return True
    return key in (
        "result_samples_per_second", "result_completed_samples_per_sec", "early_stopping_result",
        "result_validity", "num_errors",
    ) or bool(re.fullmatch(r"result_\w+_met", key))


ENDING_PREFIX = "Ending: "
"""Ours logs its stop reason as a generic_message with this prefix; LoadGen's read "Ending naturally: ..."."""


ESTIMATE_KEYS = {"SingleStream": "early_stopping_latency_ss", "MultiStream": "early_stopping_latency_ms"}
"""The official SingleStream/MultiStream figure: the early-stopping estimate (0 when there is none)."""


LAST_ISSUE_RATE_KEYS = {
    "Server": "result_scheduled_samples_per_sec", "SingleStream": "result_qps_with_loadgen_overhead",
}
"""LoadGen's (n - 1) / time of the last scheduled (Server) or issued (SingleStream) query."""


def loadgen_setting_name(name: str) -> str:
    return RENAMED_SETTINGS.get(name, name)


def check_key(check: str) -> str:
    return CHECK_KEYS.get(check, f"result_{check}_met")


def percentile_text(label: str) -> str:
    """Our '99.9' as LoadGen prints a percentile, '99.90'; more decimals only when needed."""
    text = f"{float(label):.2f}"
    return text if float(text) == float(label) else label


def stat_key(kind: str, stat: str) -> str:
    """result_min_latency_ns, result_mean_query_latency_ns, result_max_issue_delay_ns, ..."""
    return f"result_{stat}_{STAT_NOUNS[kind][0]}_ns"


def percentile_key(kind: str, label: str) -> str:
    """result_99.90_percentile_latency_ns, result_50.00_percentile_per_query_latency_ns, ..."""
    return f"result_{percentile_text(label)}_percentile_{STAT_NOUNS[kind][1]}_ns"


def to_loadgen(value: Any) -> Any:
    """Our explicit "no limit" / "unset" (None) is LoadGen's 0."""
    return 0 if value is None else value


def to_ours(name: str, value: Any) -> Any:
    """A LoadGen setting value in our field's type; 0 is None where our field allows None
    (all those fields are >= 1, so 0 never means anything else)."""
    annotation = str(TestSettings.model_fields[name].annotation)
    if "bool" in annotation:
        return bool(value)
    if value == 0 and "None" in annotation:
        return None
    if "int" in annotation and isinstance(value, float) and value.is_integer():
        return int(value)
    if "float" in annotation and isinstance(value, int):
        return float(value)
    return value


def requested_loadgen_values(scenario: str, requested: Mapping[str, Any]) -> dict[str, Any]:
    """LoadGen's requested_* settings (without the prefix) from our requested settings, in
    LoadGen's order; settings we lack get the value LoadGen logs when they are unset."""
    values: dict[str, Any] = {"scenario": requested.get("scenario", scenario), "test_mode": requested.get("mode")}
    ours = SERVER_SETTINGS_ORDER if scenario == "Server" else SCENARIO_SETTINGS.get(scenario, ())
    for name in (*ours, *COMMON_SETTINGS):
        if name in requested:
            values[loadgen_setting_name(name)] = to_loadgen(requested[name])
        elif scenario == "Server" and name in LOADGEN_ONLY_SERVER_SETTINGS:
            values[name] = LOADGEN_ONLY_SERVER_SETTINGS[name]
    values |= feature_values(requested)
    values |= {name: to_loadgen(requested.get(name, off)) for name, off in TRAILING_SETTINGS.items()}
    if requested.get("use_token_latencies"):
        values["use_token_latencies"] = True
        if scenario != "Offline":
            values |= {theirs: requested.get(name) for name, theirs in TOKEN_SETTINGS.items() if name in requested}
    values |= {name: to_loadgen(requested[name]) for name in HARNESS_SETTINGS if name in requested}
    return values


def effective_loadgen_values(
    scenario: str, effective: Mapping[str, Any], samples_per_query: int | None = None,
    sample_counts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """LoadGen's effective_* settings (without the prefix), in its order, as
    LoadGen's internal test settings derive them: expected latencies become a target_qps of
    1e9 / latency. `sample_counts` gives min_sample_count, performance_sample_count and
    accuracy_sample_count, which come from the run rather than the settings."""
    counts = dict(sample_counts or {})
    values: dict[str, Any] = {"scenario": scenario, "test_mode": effective.get("mode")}
    if samples_per_query is not None:
        values["samples_per_query"] = samples_per_query
    if scenario in EXPECTED_LATENCY_SETTING:
        latency = effective.get(EXPECTED_LATENCY_SETTING[scenario])
        values["target_qps"] = 1e9 / latency if latency else 0
    else:
        values["target_qps"] = to_loadgen(effective.get(EXPECTED_RATE_SETTING[scenario]))
    values["target_latency_ns"] = effective.get("server_target_latency_ns", 0) if scenario == "Server" else 0
    values["target_latency_percentile"] = effective.get(PERCENTILE_SETTING[scenario])
    values["max_async_queries"] = to_loadgen(effective.get("server_max_async_queries")) if scenario == "Server" else 1
    values["target_duration_ms"] = 0 if scenario == "Offline" else effective.get("min_duration_ms")
    values |= {name: to_loadgen(effective.get(name)) for name in LIMIT_SETTINGS}
    if "min_sample_count" in counts:
        values["min_sample_count"] = counts["min_sample_count"]
    values |= {name: to_loadgen(effective.get(name)) for name in SEED_SETTINGS}
    values |= feature_values(effective)
    values |= {name: counts[name] for name in ("performance_sample_count", "accuracy_sample_count") if name in counts}
    values["sample_concatenate_permutation"] = bool(effective.get("sample_concatenate_permutation", False))
    return values


def feature_values(settings: Mapping[str, Any]) -> dict[str, Any]:
    """LoadGen's feature settings as it logs them: ours where we have the feature, else off."""
    return {name: to_loadgen(settings[name]) if name in settings else off for name, off in FEATURE_SETTINGS.items()}


def settings_from_requested(values: Mapping[str, Any]) -> dict[str, Any]:
    """Our settings from LoadGen's requested_* values (prefix removed); others dropped."""
    ours = {"test_mode": "mode"}
    settings = {}
    for key, value in values.items():
        name = ours.get(key, key)
        if name in TestSettings.model_fields:
            settings[name] = to_ours(name, value)
    return settings


def settings_from_effective(scenario: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Our settings from LoadGen's effective_* values (prefix removed), inverting
    effective_loadgen_values; LoadGen prints doubles to 6 digits, so its rates are rounded."""
    settings: dict[str, Any] = {}
    if "test_mode" in values:
        settings["mode"] = values["test_mode"]
    ours = (name for name in FEATURE_SETTINGS if name in TestSettings.model_fields)
    for name in (*LIMIT_SETTINGS, *SEED_SETTINGS, *ours):
        if name in values:
            settings[name] = values[name]
    rate = values.get("target_qps")
    if rate is not None and scenario in EXPECTED_LATENCY_SETTING:
        settings[EXPECTED_LATENCY_SETTING[scenario]] = round(1e9 / rate) if rate else 0
    elif rate is not None and scenario in EXPECTED_RATE_SETTING:
        settings[EXPECTED_RATE_SETTING[scenario]] = rate
    if "target_latency_percentile" in values and scenario in PERCENTILE_SETTING:
        settings[PERCENTILE_SETTING[scenario]] = values["target_latency_percentile"]
    if scenario == "Server":
        pairs = (("server_target_latency_ns", "target_latency_ns"), ("server_max_async_queries", "max_async_queries"))
        settings |= {ours: values[theirs] for ours, theirs in pairs if theirs in values}
    if scenario == "MultiStream" and "samples_per_query" in values:
        settings["multi_stream_samples_per_query"] = values["samples_per_query"]
    return {name: to_ours(name, value) if name != "mode" else value for name, value in settings.items()}
