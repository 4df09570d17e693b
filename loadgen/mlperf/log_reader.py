"""MLPerf LoadGen's log files read into our RunResult, and the key names both sides share.

LoadGen (mlcommons-loadgen 6.0.17) writes mlperf_log_summary.txt for people (its layout is
copied by reports.summary) and mlperf_log_detail.txt for tools: one line per event,

    :::MLLOG {"key": "result_validity", "value": "VALID", "time_ms": 305.184121,
    "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": {"is_error":
    false, "is_warning": false, "file": "results.cc", "line_no": 674, "pid": 24149, "tid": 24149}}

(one line in the file). reports.mlperf_detail writes ours with LoadGen's keys, units and
types, plus HARNESS_KEYS for figures LoadGen does not log, so `load_log_folder` reads a
folder from either tool into one RunResult. The tables below are the mapping both use.

Quirks of LoadGen's detail log that the reader tolerates:
- doubles are printed with 6 significant digits (`1e+06`, `3942.15`), non-finite ones as
  bare `inf`/`nan` (not JSON);
- keys repeat (`warning_generic_message`, `generic_message`); like MLCommons' own
  log_parser.py, the first value of a key is the one read;
- values are any JSON (`loadgen_file_sha1` is an object, `loaded_qsl_set` a list);
- a run that crashed leaves a partial last line;
- the detail's `result_validity` also requires min queries; the summary's "Result is"
  does not (unless enforce_max_duration): the detail's verdict is taken.

What a LoadGen folder does not say gets a neutral value: warmup_queries 0,
chosen_by_pilot {}, fingerprint {}, memory {}, model, accuracy, peak_search and
load_average_end None; settings LoadGen has and we do not are dropped. Figures LoadGen
does not log are derived where its log fixes them: samples = queries x samples per query
and completed = issued (LoadGen waits for every sample); Offline's duration is its max
latency, the others' the power_begin..power_end window (to the ms); Server's last
scheduled time is (n - 1) / its scheduled rate, SingleStream's last issue (n - 1) / its
rate with loadgen overhead; a met Server early-stopping threshold is h_min(t) + t. Else
None (rates outside the scenario's own, issue delay), or 0 for the required
last_scheduled_ns (MultiStream) and duration_ns (no power window).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.errors import LoadgenError
from loadgen.metrics import early_stopping
from loadgen.metrics.figures import HEADLINES, EarlyStopping, LatencySummary, Metrics, percentile_label
from loadgen.metrics.result import RunResult
from loadgen.settings.model import Scenario
from reports.mlperf_keys import (
    CHECK_KEYS,
    DETAIL_FILE,
    DETAIL_PREFIX,
    ENDING_PREFIX,
    ESTIMATE_KEYS,
    EXPECTED_LATENCY_SETTING,
    LAST_ISSUE_RATE_KEYS,
    PERCENTILE_SETTING,
    STAT_NOUNS,
    SUMMARY_FILE,
    settings_from_effective,
    settings_from_requested,
    stat_key,
)

MAX_LINE_CHARS = 1 << 20
"""Longest line read (LoadGen's longest, loadgen_file_sha1, is about 3 KB)."""


MAX_FILE_BYTES = 256 << 20
"""Largest summary or detail file read; a detail log without the trace is tens of KB."""


POWER_TIME_FORMAT = "%m-%d-%Y %H:%M:%S.%f"


class LogFormatError(LoadgenError):
    """A file that is not an MLPerf log, or too large to be one; names the file and line."""


_NON_FINITE = re.compile(r'("value": )(-?)(nan|inf)\b')


def _fix_non_finite(body: str) -> str:
    """LoadGen streams a non-finite double as inf/nan; Python's JSON reads Infinity/NaN."""

    def replace(match: re.Match[str]) -> str:
        word = "NaN" if match.group(3) == "nan" else match.group(2) + "Infinity"
        return match.group(1) + word

    return _NON_FINITE.sub(replace, body)


def _check_size(text: str, source: str) -> list[str]:
    if len(text) > MAX_FILE_BYTES:
        raise LogFormatError(f"{source}: larger than {MAX_FILE_BYTES} bytes; not read")
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_CHARS:
            raise LogFormatError(f"{source}: line {number} is longer than {MAX_LINE_CHARS} characters; not read")
    return lines


def _loads(body: str) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return json.loads(_fix_non_finite(body))


def _record(body: str) -> dict[str, Any]:
    try:
        record = _loads(body)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(record, dict) or not isinstance(record.get("key"), str) or "value" not in record:
        raise ValueError("not an object with a string 'key' and a 'value'")
    if not isinstance(record.get("metadata", {}), dict):
        raise ValueError("'metadata' is not an object")
    return record


def parse_detail(text: str, source: str = DETAIL_FILE) -> list[dict[str, Any]]:
    """The `:::MLLOG {json}` records of a detail log, in order.

    Lines without the marker are skipped, as MLCommons' log_parser.py does, but the first
    line must carry it; a malformed record is an error naming its line, except a partial
    last line (a run that crashed mid-write), which is dropped.
    """
    lines = _check_size(text, source)
    records: list[dict[str, Any]] = []
    marker = DETAIL_PREFIX.rstrip()
    first = next((line for line in lines if line.strip()), "")
    if not first.startswith(marker):
        raise LogFormatError(f"{source}: not an MLPerf detail log (the first line does not start with {marker!r})")
    partial = not text.endswith("\n")
    for number, line in enumerate(lines, 1):
        if not line.startswith(marker):
            continue
        try:
            records.append(_record(line[len(marker):].strip()))
        except ValueError as exc:
            if partial and number == len(lines):
                break
            raise LogFormatError(f"{source}: line {number}: malformed {marker} record: {exc}") from None
    return records


def first_values(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Each key's first value, as MLCommons' log_parser.py reads a detail log."""
    values: dict[str, Any] = {}
    for record in records:
        values.setdefault(record["key"], record["value"])
    return values


_HEADER_FIELD = re.compile(r"^(SUT name|Scenario|Mode)\s*: (.*)$")


_HEADLINE = re.compile(
    r"^(\d+(?:\.\d+)?th percentile latency \(ns\)|Samples per second|Completed samples per second)\s*: ?(\S+)$"
)


_SATISFIED = re.compile(r"^\s+(.+?) satisfied\s*: ?(Yes|NO|Skipped)$")


_STAT = re.compile(r"^(\S.*?)\s*: ?(\S*)$")


_COUNT = re.compile(r"^(No|\d+) (warning|ERROR)S? encountered", re.IGNORECASE)


_SECTIONS = {"Additional Stats": "additional_stats", "Test Parameters Used": "test_parameters"}


BANNER = "=" * 48


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_summary(text: str, source: str = SUMMARY_FILE) -> dict[str, Any]:
    """The fields of a summary file (LoadGen's layout, or ours, which copies it)."""
    lines = [line.rstrip("\r") for line in _check_size(text, source)]
    if "MLPerf Results Summary" not in lines[:4]:
        raise LogFormatError(f"{source}: not an MLPerf summary (no 'MLPerf Results Summary' banner)")
    parsed: dict[str, Any] = {
        "satisfied": {}, "recommendations": [], "early_stopping": [],
        "additional_stats": {}, "test_parameters": {}, "num_warnings": 0, "num_errors": 0,
    }
    section, block = "header", None
    for line in lines:
        if line == BANNER or line == "MLPerf Results Summary":
            continue
        if line in _SECTIONS:
            section, block = _SECTIONS[line], None
        elif (count := _COUNT.match(line)) is not None:
            number = 0 if count.group(1) == "No" else int(count.group(1))
            parsed["num_warnings" if count.group(2).lower() == "warning" else "num_errors"] = number
            section = "footer"
        elif section == "header":
            block = _summary_header_line(parsed, line, block)
        elif section in _SECTIONS.values() and (stat := _STAT.match(line)) and stat.group(2):
            parsed[section][stat.group(1)] = _number(stat.group(2))
    return parsed


def _summary_header_line(parsed: dict[str, Any], line: str, block: str | None) -> str | None:
    """One line of the part above Additional Stats; returns the block it opens or continues."""
    if (field := _HEADER_FIELD.match(line)) is not None:
        parsed[field.group(1).lower().replace(" ", "_")] = field.group(2).strip()
    elif (headline := _HEADLINE.match(line)) is not None and "headline_name" not in parsed:
        parsed["headline_name"], parsed["headline_value"] = headline.group(1), _number(headline.group(2))
    elif line.startswith("Result is"):
        parsed["result"] = line.partition(":")[2].strip()
    elif (satisfied := _SATISFIED.match(line)) is not None:
        parsed["satisfied"][satisfied.group(1)] = {"Yes": True, "NO": False}.get(satisfied.group(2))
    elif line in ("Recommendations:", "Early Stopping Result:"):
        return "recommendations" if line.startswith("Rec") else "early_stopping"
    elif block == "recommendations" and line.startswith(" * "):
        parsed["recommendations"].append(line[3:])
    elif block == "recommendations" and line.startswith("   ") and parsed["recommendations"]:
        parsed["recommendations"][-1] += "\n" + line[3:]
    elif block == "early_stopping" and line.strip():
        parsed["early_stopping"].append(line)
    else:
        return None
    return block


def _iso_datetime(text: Any) -> str:
    """LoadGen's test_datetime (2026-11-28T16:14:30Z) as our started_at (ISO, +00:00)."""
    try:
        return dt.datetime.fromisoformat(str(text)).isoformat(timespec="seconds")
    except ValueError:
        return str(text)


def _tool(version: Any) -> str:
    """Ours logs "tinyperf-loadgen X"; LoadGen logs "6.0.17 @ d6147c7eb7"."""
    text = str(version) if version is not None else "unknown"
    return f"mlperf_loadgen {text}" if text[:1].isdigit() else text


def _prefixed(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {key.removeprefix(prefix): value for key, value in values.items() if key.startswith(prefix)}


def _power_window_ns(values: Mapping[str, Any]) -> int | None:
    """LoadGen's timed window, from power_begin/power_end (millisecond resolution)."""
    try:
        begin, end = (dt.datetime.strptime(str(values[key]), POWER_TIME_FORMAT) for key in ("power_begin", "power_end"))
    except (KeyError, ValueError):
        return None
    return int((end - begin).total_seconds() * 1e9)


def _latency_summary(values: Mapping[str, Any], kind: str, count: int) -> LatencySummary | None:
    if stat_key(kind, "min") not in values:
        return None
    pattern = re.compile(rf"^result_(\d+(?:\.\d+)?)_percentile_{STAT_NOUNS[kind][1]}_ns$")
    percentiles = {}
    for key, value in values.items():
        if (match := pattern.match(key)) is not None:
            percentiles[percentile_label(float(match.group(1)) / 100)] = int(value)
    return LatencySummary(
        count=count,
        min_ns=int(values[stat_key(kind, "min")]),
        max_ns=int(values[stat_key(kind, "max")]),
        mean_ns=float(values[stat_key(kind, "mean")]),
        percentiles_ns=dict(sorted(percentiles.items(), key=lambda item: float(item[0]))),
    )


def _search_int(pattern: str, text: str) -> int | None:
    match = re.search(pattern, text)
    return int(match.group(1)) if match else None


def _first_int(*candidates: Any) -> int | None:
    return next((int(value) for value in candidates if value is not None), None)


def _early_stopping(values: Mapping[str, Any], scenario: str, p: float | None, queries: int) -> EarlyStopping | None:
    """Ours logs every field; LoadGen's are read from early_stopping_result's wording
    (its C++ results code), and a met Server check's threshold, which LoadGen does not print, is
    derived with the same rule (h_min(t) + t)."""
    if scenario == "Offline" or p is None or "early_stopping_met" not in values:
        return None
    met = bool(values["early_stopping_met"])
    text = str(values.get("early_stopping_result", ""))
    processed = _first_int(
        values.get("early_stopping_queries"),
        _search_int(r"Processed at least \d+ queries \((\d+)\)", text),
        _search_int(r"(?:Only processed|Processed) (\d+) queries", text),
        queries,
    )
    assert processed is not None
    discarded = _search_int(r"Would discard (\d+) highest", text)
    over = _first_int(
        values.get("early_stopping_overlatency_queries"),
        values.get("result_overlatency_query_count") if scenario == "Server" else None,
        None if discarded is None else discarded + 1,
    )
    more = _search_int(r"Would need to run at least (\d+) more", text)
    needed = _first_int(
        values.get("early_stopping_min_queries"),
        _search_int(r"(?:Processed|process) at least (\d+) queries", text),
        None if more is None else processed + more,
        early_stopping.h_min(over, p) + over if scenario == "Server" and over is not None else None,
    )
    estimate_key = ESTIMATE_KEYS.get(scenario)
    estimate = int(values.get(estimate_key, 0) or 0) if estimate_key else 0
    return EarlyStopping(
        met=met,
        queries=processed,
        overlatency_queries=over,
        min_queries=needed if needed is not None else processed,
        estimate_ns=estimate or None,
        percentile=p,
        message=text,
    )


def _last_scheduled_ns(values: Mapping[str, Any], scenario: str, queries: int) -> int:
    """Ours logs it; from LoadGen, Server's (n - 1) / scheduled rate and SingleStream's
    (n - 1) / rate with loadgen overhead (its last issue) give it; Offline's is 0."""
    if "result_last_scheduled_ns" in values:
        return int(values["result_last_scheduled_ns"])
    key = LAST_ISSUE_RATE_KEYS.get(scenario)
    rate = values.get(key) if key else None
    return round((queries - 1) * 1e9 / rate) if rate and queries > 1 else 0


def _metrics(values: Mapping[str, Any], scenario: str, p: float | None) -> Metrics | None:
    """The figures, from ours exactly, from LoadGen's as far as its log states them."""
    if "result_query_count" not in values:
        return None
    queries = int(values["result_query_count"])
    per_query = int(values.get("effective_samples_per_query", 1) or 1)
    completed_queries = _first_int(values.get("result_completed_query_count"), queries)
    samples = _first_int(values.get("result_issued_sample_count"), queries * per_query)
    completed_samples = _first_int(values.get("result_completed_sample_count"), samples)
    assert completed_queries is not None and samples is not None and completed_samples is not None
    count = completed_samples if scenario == "Offline" else completed_queries
    latency = _latency_summary(values, "query" if scenario == "MultiStream" else "sample", count)
    duration = _first_int(
        values.get("result_duration_ns"),
        values.get("result_max_latency_ns") if scenario == "Offline" else None,
        _power_window_ns(values),
        0,
    )
    assert duration is not None  # the last candidate is 0
    stopping = _early_stopping(values, scenario, p, queries)
    target = latency.percentiles_ns.get(percentile_label(p)) if latency and p else None
    rates = {name: values.get(key) for name, key in (
        ("samples_per_second", "result_samples_per_second"),
        ("completed_samples_per_second", "result_completed_samples_per_sec"),
    )}
    headline = {"Server": rates["completed_samples_per_second"], "Offline": rates["samples_per_second"]}.get(scenario)
    if scenario in EXPECTED_LATENCY_SETTING:
        headline = stopping.estimate_ns if stopping and stopping.met else target
    return Metrics(
        headline_name=HEADLINES[Scenario(scenario)].format(p=percentile_label(p or 0)),
        headline_value=headline,
        queries_issued=queries,
        queries_completed=completed_queries,
        samples_issued=samples,
        samples_completed=completed_samples,
        duration_ns=duration,
        last_scheduled_ns=_last_scheduled_ns(values, scenario, queries),
        latency=latency,
        target_latency_percentile=p,
        target_percentile_latency_ns=target,
        issue_delay=_latency_summary(values, "issue_delay", queries),
        early_stopping=stopping,
        **rates,
        **_loadgen_figures(values, scenario, queries, completed_samples),
    )


def _loadgen_figures(values: Mapping[str, Any], scenario: str, queries: int, samples: int) -> dict[str, Any]:
    """LoadGen's further figures, from their keys. SingleStream's 99th-percentile early-stopping
    verdict is rebuilt by the same rule from its query count and logged estimate."""
    figures: dict[str, Any] = {
        name: values[key] for name, key in (
            ("qps_with_loadgen_overhead", "result_qps_with_loadgen_overhead"),
            ("qps_without_loadgen_overhead", "result_qps_without_loadgen_overhead"),
            ("scheduled_samples_per_second", "result_scheduled_samples_per_sec"),
            ("token_throughput", "result_token_throughput"),
            ("token_throughput_with_loadgen_overhead", "result_token_throughput_with_loadgen_overhead"),
        ) if key in values
    }
    if scenario == "MultiStream":
        figures["sample_latency"] = _latency_summary(values, "sample", samples)
    if scenario == "SingleStream" and "early_stopping_latency_ms" in values and queries > 0:
        estimate = int(values["early_stopping_latency_ms"] or 0)
        figures["early_stopping_99"] = early_stopping.latency_estimate(np.full(queries, estimate, np.int64), 0.99)
    return figures


def _checks(values: Mapping[str, Any], scenario: str) -> dict[str, bool]:
    theirs = {key: name for name, key in CHECK_KEYS.items()}
    checks = {"run_completed": int(values.get("num_errors", 0) or 0) == 0}
    for key, value in values.items():
        match = re.fullmatch(r"result_(\w+)_met", key)
        name = theirs.get(key) or (match.group(1) if match else None)
        if name is not None and isinstance(value, bool):
            checks[name] = value
    if scenario == "Offline":
        checks.pop("early_stopping", None)  # LoadGen logs it met; there is no such rule
    return checks


def _stop_reason(records: Iterable[Mapping[str, Any]]) -> str:
    for record in records:
        value = record["value"]
        if record["key"] in ("generic_message", "error_runtime") and str(value).startswith("Ending"):
            return str(value).removeprefix(ENDING_PREFIX)
    return "not logged"


def _invalid_reasons(
    valid: bool, values: Mapping[str, Any], summary: Mapping[str, Any] | None, checks: Mapping[str, bool]
) -> list[str]:
    """The summary's Recommendations, one per reason; else the detail's one-line reason."""
    if valid:
        return []
    reasons = list(summary.get("recommendations", [])) if summary else []
    if not reasons and str(values.get("result_invalid_reason", "")).strip():
        reasons = [str(values["result_invalid_reason"]).strip()]
    if not reasons:
        failed = ", ".join(name for name, ok in checks.items() if not ok) or "none named"
        reasons = [f"the log says INVALID; checks not met: {failed}"]
    return reasons


def result_from_logs(records: list[dict[str, Any]], summary: Mapping[str, Any] | None = None) -> RunResult:
    """A RunResult from a parsed detail log (and summary, for the mode and the reasons)."""
    try:
        return _result(records, summary)
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise LogFormatError(f"the detail log's values do not make a result: {exc}") from None


def _result(records: list[dict[str, Any]], summary: Mapping[str, Any] | None) -> RunResult:
    values = first_values(records)
    summary = summary or {}
    scenario_text = values.get("effective_scenario") or values.get("requested_scenario") or summary.get("scenario")
    try:
        scenario = Scenario.parse(str(scenario_text)).value
    except ValueError:
        raise LogFormatError(f"the detail log names no known scenario (found {scenario_text!r})") from None
    requested = settings_from_requested(_prefixed(values, "requested_"))
    effective = requested | settings_from_effective(scenario, _prefixed(values, "effective_"))
    p = None if scenario == "Offline" else effective.get(PERCENTILE_SETTING[scenario])
    checks = _checks(values, scenario)
    valid = values.get("result_validity") == "VALID"
    errors = [str(r["value"]) for r in records if r.get("metadata", {}).get("is_error")]
    return RunResult(
        tool=_tool(values.get("loadgen_version")),
        started_at=_iso_datetime(values.get("test_datetime", "")),
        scenario=scenario,
        mode=str(summary.get("mode") or values.get("effective_test_mode") or values.get("requested_test_mode", "")),
        sut_name=str(values.get("sut_name", summary.get("sut_name", "unknown"))),
        qsl_name=str(values.get("qsl_name", "unknown")),
        valid=valid,
        invalid_reasons=_invalid_reasons(valid, values, summary, checks),
        checks=checks,
        stop_reason=_stop_reason(records),
        error="; ".join(errors) or None,
        metrics=_metrics(values, scenario, p),
        settings_requested=requested,
        settings_effective=effective,
        chosen_by_pilot={},
        warmup_queries=0,
        total_sample_count=int(values.get("qsl_reported_total_count", 0) or 0),
        performance_sample_count=int(values.get("effective_performance_sample_count", 0) or 0),
        fingerprint={},
        load_average_end=None,
        warnings=[str(r["value"]) for r in records if r.get("metadata", {}).get("is_warning")],
    )


def _read_bounded(path: Path) -> tuple[str, str]:
    """A log file's text and sha256, refusing files over MAX_FILE_BYTES before reading."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise LogFormatError(f"{path}: {size} bytes, larger than {MAX_FILE_BYTES}; not read")
    data = path.read_bytes()
    try:
        return data.decode("utf-8"), hashlib.sha256(data).hexdigest()
    except UnicodeDecodeError as exc:
        raise LogFormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load_log_folder(folder: Path | str) -> RunResult:
    """Read an MLPerf log folder (LoadGen's, or one `python -m loadgen.run` wrote) into a
    RunResult; `files` lists the logs read, with their sha256."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LogFormatError(f"{folder}: not a folder")
    detail_path = folder / DETAIL_FILE
    if not detail_path.is_file():
        raise LogFormatError(f"{folder}: no {DETAIL_FILE}, so not an MLPerf log folder")
    detail_text, detail_sha = _read_bounded(detail_path)
    files = {DETAIL_FILE: detail_sha}
    summary = None
    summary_path = folder / SUMMARY_FILE
    if summary_path.is_file():
        summary_text, files[SUMMARY_FILE] = _read_bounded(summary_path)
        summary = parse_summary(summary_text, str(summary_path))
    result = result_from_logs(parse_detail(detail_text, str(detail_path)), summary)
    return result.model_copy(update={"files": files})
