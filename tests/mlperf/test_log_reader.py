"""MLPerf log folders, from the real LoadGen (tests/fixtures/loadgen_logs, made by
tests/fixtures/make_loadgen_logs.py with mlcommons-loadgen 6.0.17) and from our own runs,
read into one result model. Needs no mlperf_loadgen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import loadgen.mlperf.log_reader as mlperf_logs
from loadgen.benchmark.runner import run_benchmark
from loadgen.cli.report import main as report_main
from loadgen.engine.query import IndexQSL
from loadgen.metrics.figures import Metrics
from loadgen.metrics.result import RunResult
from loadgen.mlperf.log_reader import (
    LogFormatError,
    load_log_folder,
    parse_detail,
    parse_summary,
    result_from_logs,
)
from loadgen.results.folder import write_outputs
from loadgen.settings.model import TestSettings
from reports.mlperf_keys import DETAIL_FILE, SUMMARY_FILE
from sut.null import NullSUT

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "loadgen_logs"
CASES = {
    "single_stream": ("SingleStream", True),
    "single_stream_invalid": ("SingleStream", False),
    "multi_stream": ("MultiStream", True),
    "server": ("Server", True),
    "server_invalid": ("Server", False),
    "offline": ("Offline", True),
    "offline_invalid": ("Offline", False),
}
SATISFIED = {
    "Performance constraints": "performance_constraints",
    "Min duration": "min_duration",
    "Min queries": "min_queries",
    "Early stopping": "early_stopping",
}


def summary_of(folder: str) -> dict:
    return parse_summary((FIXTURES / folder / SUMMARY_FILE).read_text(encoding="utf-8"))


@pytest.mark.parametrize("folder", sorted(CASES))
def test_a_real_loadgen_folder_parses(folder: str) -> None:
    scenario, valid = CASES[folder]
    result = load_log_folder(FIXTURES / folder)
    summary = summary_of(folder)
    assert (result.scenario, result.valid) == (scenario, valid)
    assert result.valid == (summary["result"] == "VALID")
    assert result.tool.startswith("mlperf_loadgen 6.0.")
    assert (result.mode, result.sut_name, result.qsl_name) == ("PerformanceOnly", "PySUT", "PyQSL")
    assert result.started_at.endswith("+00:00")
    assert (result.total_sample_count, result.performance_sample_count) == (64, 64)
    assert bool(result.invalid_reasons) == (not valid)
    assert result.invalid_reasons == summary["recommendations"]
    for label, ok in summary["satisfied"].items():  # Offline has no early-stopping rule, LoadGen says "Yes"
        assert result.checks.get(SATISFIED[label], True) is ok, label
    assert len(result.warnings) == summary["num_warnings"]
    assert (result.error is not None) == (summary["num_errors"] > 0)
    assert set(result.files) == {DETAIL_FILE, SUMMARY_FILE}
    assert (result.warmup_queries, result.chosen_by_pilot, result.fingerprint) == (0, {}, {})
    RunResult.model_validate_json(result.model_dump_json())  # a complete, valid result.json


@pytest.mark.parametrize("folder", sorted(CASES))
def test_the_headline_and_latencies_match_the_loadgen_summary(folder: str) -> None:
    scenario, _ = CASES[folder]
    metrics = load_log_folder(FIXTURES / folder).metrics
    summary = summary_of(folder)
    assert metrics is not None and metrics.latency is not None
    assert metrics.headline_name == summary["headline_name"]
    if scenario in ("SingleStream", "MultiStream"):
        # The summary's headline line is the plain percentile; the official figure is the estimate.
        assert metrics.target_percentile_latency_ns == summary["headline_value"]
        estimate = next(line for line in summary["early_stopping"] if "percentile estimate" in line)
        assert metrics.headline_value == int(estimate.rsplit(":", 1)[1])
    else:  # the summary prints 2 decimals (Server) or %g; the detail log 6 significant digits
        assert metrics.headline_value == pytest.approx(summary["headline_value"], rel=1e-5, abs=0.006)
    stats = summary["additional_stats"]
    assert metrics.latency.min_ns == stats["Min latency (ns)"]
    assert metrics.latency.max_ns == stats["Max latency (ns)"]
    assert metrics.latency.mean_ns == stats["Mean latency (ns)"]
    for label, value in metrics.latency.percentiles_ns.items():
        assert value == stats[f"{float(label):.2f} percentile latency (ns)"]
    assert metrics.queries_completed == metrics.queries_issued


def test_loadgen_figures_map_to_ours() -> None:
    single = load_log_folder(FIXTURES / "single_stream")
    assert single.settings_requested["single_stream_expected_latency_ns"] == 1_000_000  # logged as 1e+06
    assert single.settings_requested["max_duration_ms"] is None  # LoadGen's 0: no limit
    assert single.settings_effective["single_stream_expected_latency_ns"] == 1_000_000  # from target_qps 1000
    stopping = single.metrics.early_stopping
    assert (stopping.met, stopping.queries, stopping.min_queries, stopping.overlatency_queries) == (True, 266, 64, 15)
    server = load_log_folder(FIXTURES / "server_invalid")
    assert server.settings_effective["server_target_qps"] == 2000.0
    assert server.settings_effective["server_target_latency_ns"] == 10_000_000
    assert server.settings_effective["server_max_async_queries"] is None
    stopping = server.metrics.early_stopping
    assert (stopping.met, stopping.queries, stopping.overlatency_queries) == (False, 600, 587)
    assert stopping.min_queries == 600 + 63959  # "Would need to run at least 63959 more queries"
    assert server.metrics.completed_samples_per_second == 897.558
    offline = load_log_folder(FIXTURES / "offline")
    assert offline.metrics.samples_issued == offline.metrics.samples_completed == 330
    assert offline.metrics.duration_ns == offline.metrics.latency.max_ns
    assert offline.metrics.early_stopping is None and "early_stopping" not in offline.checks
    multi = load_log_folder(FIXTURES / "multi_stream")
    assert multi.metrics.samples_issued == 700 * 8
    assert multi.metrics.latency.count == 700  # per query, from the per_query keys


def test_a_loadgen_error_line_is_the_results_error() -> None:
    result = load_log_folder(FIXTURES / "single_stream_invalid")
    assert result.error is not None and "Ran out of generated queries" in result.error
    assert result.checks["run_completed"] is False
    assert result.stop_reason.startswith("Ending early")


# ---------------------------------------------------------------- our own folders

QUICK = {
    "SingleStream": dict(single_stream_expected_latency_ns=20_000),
    "MultiStream": dict(multi_stream_expected_latency_ns=20_000, multi_stream_samples_per_query=4),
    "Server": dict(server_target_qps=5000.0, server_target_latency_ns=10_000_000),
    "Offline": dict(offline_expected_qps=100_000.0),
}


def our_folder(scenario: str, folder: Path) -> RunResult:
    settings = TestSettings(scenario=scenario, min_duration_ms=30, min_query_count=50, **QUICK[scenario])
    benchmark = run_benchmark(NullSUT(), IndexQSL(64), settings, fingerprint={})
    return write_outputs(benchmark, folder, chrome_trace=False)  # the result as written, files included


def whole_ns_means(metrics: Metrics) -> Metrics:
    """LoadGen logs a mean latency in whole ns, so ours goes through the detail log truncated."""
    update = {
        name: summary.model_copy(update={"mean_ns": float(int(summary.mean_ns))})
        for name in ("latency", "issue_delay", "sample_latency")
        if (summary := getattr(metrics, name)) is not None
    }
    return metrics.model_copy(update=update)


@pytest.mark.parametrize("scenario", sorted(QUICK))
def test_our_folder_parses_back_to_the_same_result(scenario: str, tmp_path: Path) -> None:
    original = our_folder(scenario, tmp_path)
    parsed = load_log_folder(tmp_path)
    assert original.metrics is not None and parsed.metrics is not None
    # the detail log words the early-stopping result as LoadGen does, so its message is LoadGen's
    expected = whole_ns_means(original.metrics)
    if expected.early_stopping is not None and parsed.metrics.early_stopping is not None:
        message = parsed.metrics.early_stopping.message
        expected = expected.model_copy(update={"early_stopping": expected.early_stopping.model_copy(
            update={"message": message})})
    assert parsed.metrics == expected
    same = ("tool", "started_at", "scenario", "mode", "sut_name", "qsl_name", "valid", "invalid_reasons",
            "checks", "stop_reason", "error", "warnings", "total_sample_count", "performance_sample_count")
    assert {name: getattr(parsed, name) for name in same} == {name: getattr(original, name) for name in same}
    for logged, full in ((parsed.settings_requested, original.settings_requested),
                         (parsed.settings_effective, original.settings_effective)):
        assert logged.items() <= full.items()
    assert parsed.settings_requested["min_duration_ms"] == 30
    assert parsed.files[DETAIL_FILE] == original.files[DETAIL_FILE]  # write_outputs listed it


def populated(result: RunResult) -> set[str]:
    return {name for name, value in result if value is not None}


@pytest.mark.parametrize(("scenario", "folder"), [
    ("SingleStream", "single_stream"), ("MultiStream", "multi_stream"), ("Server", "server"), ("Offline", "offline"),
])
def test_ours_and_loadgens_fill_the_same_fields(scenario: str, folder: str, tmp_path: Path) -> None:
    our_folder(scenario, tmp_path)
    ours, theirs = load_log_folder(tmp_path), load_log_folder(FIXTURES / folder)
    assert populated(ours) == populated(theirs)
    assert set(ours.checks) == set(theirs.checks)
    assert ours.metrics.headline_name == theirs.metrics.headline_name


# ---------------------------------------------------------------- what is refused

LINE = ':::MLLOG {"key": "%s", "value": %s, "time_ms": 0.0, "namespace": "mlperf::logging", ' \
       '"event_type": "POINT_IN_TIME", "metadata": {"is_error": false, "is_warning": false}}'


def test_a_folder_without_a_detail_log_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LogFormatError, match="not an MLPerf log folder"):
        load_log_folder(tmp_path)
    with pytest.raises(LogFormatError, match="not a folder"):
        load_log_folder(tmp_path / "missing")


@pytest.mark.parametrize(("text", "message"), [
    ("hello\nworld\n", "first line does not start"),
    (":::MLLOG {not json}\n" + LINE % ("a", 1) + "\n", "line 1: malformed"),
    (LINE % ("a", 1) + "\n:::MLLOG [1, 2]\n" + LINE % ("b", 2) + "\n", "line 2: malformed"),
    (":::MLLOG " + "[" * 50_000 + "\n", "nested too deeply"),
    (":::MLLOG {\"key\": \"" + "x" * (mlperf_logs.MAX_LINE_CHARS + 1) + "\"}\n", "longer than"),
])
def test_garbage_detail_logs_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(LogFormatError, match=message):
        parse_detail(text)


def test_loadgen_quirks_are_read() -> None:
    text = "\n".join([LINE % ("a", "inf"), LINE % ("b", "-nan"), LINE % ("a", 2), "noise", LINE % ("c", 1e6)])
    records = parse_detail(text + "\n" + LINE[:40])  # a crash leaves a partial last line
    assert [r["key"] for r in records] == ["a", "b", "a", "c"]
    assert records[0]["value"] == float("inf") and records[1]["value"] != records[1]["value"]
    assert mlperf_logs.first_values(records)["a"] == float("inf")  # first wins, as log_parser.py reads
    assert [r["key"] for r in parse_detail(text.replace("\n", "\r\n") + "\r\n")] == ["a", "b", "a", "c"]
    crlf = (FIXTURES / "server" / SUMMARY_FILE).read_text(encoding="utf-8").replace("\n", "\r\n")
    assert parse_summary(crlf)["result"] == "VALID"


def test_oversized_and_undecodable_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    detail = tmp_path / DETAIL_FILE
    detail.write_bytes(b":::MLLOG \xff\xfe\n")
    with pytest.raises(LogFormatError, match="not UTF-8"):
        load_log_folder(tmp_path)
    detail.write_text(LINE % ("a", 1) + "\n" * 100, encoding="utf-8")
    monkeypatch.setattr(mlperf_logs, "MAX_FILE_BYTES", 64)
    with pytest.raises(LogFormatError, match="larger than 64"):
        load_log_folder(tmp_path)
    with pytest.raises(LogFormatError, match="larger than 64"):
        parse_detail("x" * 65)


def test_a_log_without_a_scenario_or_with_wrong_types_is_refused() -> None:
    with pytest.raises(LogFormatError, match="no known scenario"):
        result_from_logs(parse_detail(LINE % ("sut_name", '"x"') + "\n"))
    lines = [LINE % ("effective_scenario", '"Offline"'), LINE % ("result_query_count", '"many"')]
    with pytest.raises(LogFormatError, match="do not make a result"):
        result_from_logs(parse_detail("\n".join(lines) + "\n"))
    lines[1] = LINE % ("result_query_count", 1) + "\n" + LINE % ("result_min_latency_ns", "[1]")
    with pytest.raises(LogFormatError, match="do not make a result"):
        result_from_logs(parse_detail("\n".join(lines) + "\n"))


def test_a_garbage_summary_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LogFormatError, match="not an MLPerf summary"):
        parse_summary("Result is : VALID\n")
    (tmp_path / DETAIL_FILE).write_text((FIXTURES / "server" / DETAIL_FILE).read_text(encoding="utf-8"))
    (tmp_path / SUMMARY_FILE).write_text("nothing to see\n")
    with pytest.raises(LogFormatError, match="not an MLPerf summary"):
        load_log_folder(tmp_path)


# ---------------------------------------------------------------- the command line


def report(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "loadgen.report", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_parse_command_prints_json() -> None:
    done = report("parse", str(FIXTURES / "server_invalid"), "--json")
    assert done.returncode == 0, done.stderr
    result = RunResult.model_validate(json.loads(done.stdout))
    assert (result.scenario, result.valid) == ("Server", False)


def test_the_parse_command_prints_a_summary_or_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report_main(["parse", str(FIXTURES / "single_stream")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SingleStream run of SUT 'PySUT' on 'PyQSL': VALID")
    assert "mlperf_loadgen 6.0" in out
    assert report_main(["parse", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and "not an MLPerf log folder" in captured.err
