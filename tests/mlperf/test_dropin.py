"""`import loadgen.mlperf as lg`: LoadGen's API on our engine, in every scenario and mode, and
clear errors (with logs written) where LoadGen crashes or carries on silently."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loadgen.mlperf as lg
from loadgen.errors import SettingsError

sys.path.insert(0, str(Path(__file__).parent))
import harness

QUICK = {
    "min_duration_ms": 200,
    "min_query_count": 20,
    "server_target_qps": 2000.0,
    "offline_expected_qps": 2000.0,
    "single_stream_expected_latency_ns": 100_000,
    "multi_stream_expected_latency_ns": 100_000,
    "multi_stream_samples_per_query": 2,
}


def read(out: Path, name: str) -> str:
    return (out / f"mlperf_log_{name}").read_text()


@pytest.mark.parametrize("scenario", ["SingleStream", "MultiStream", "Server", "Offline"])
@pytest.mark.parametrize("mode", ["PerformanceOnly", "AccuracyOnly", "SubmissionRun"])
def test_every_scenario_and_mode_runs_and_writes_loadgen_logs(scenario: str, mode: str, tmp_path: Path) -> None:
    harness.run(lg, scenario, mode, str(tmp_path), 0.0, QUICK)
    summary = read(tmp_path, "summary.txt")
    assert f"Scenario : {scenario}" in summary and f"Mode     : {mode}" in summary
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["error"] is None
    if mode != "PerformanceOnly":
        entries = json.loads(read(tmp_path, "accuracy.json"))
        assert sorted(entry["qsl_idx"] for entry in entries) == list(range(harness.SAMPLES))
        row = np.arange(harness.SAMPLES * 4, dtype=np.float32).reshape(-1, 4)[entries[0]["qsl_idx"]]
        assert entries[0]["data"] == row.tobytes().hex().upper()
    if mode != "AccuracyOnly":
        assert result["metrics"]["samples_completed"] > 0


def test_find_peak_performance(tmp_path: Path) -> None:
    settings = dict(QUICK, server_target_qps=500.0, min_duration_ms=300, min_query_count=500,
                    server_find_peak_qps_decimals_of_precision=0)
    harness.run(lg, "Server", "FindPeakPerformance", str(tmp_path), 0.0, settings)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["mode"] == "FindPeakPerformance" and result["peak_search"][0] == [500.0, True]


def test_settings_have_loadgens_names_and_defaults() -> None:
    settings = lg.TestSettings()
    assert settings.min_duration_ms == 10_000 and settings.max_duration_ms == 0
    assert settings.server_target_qps == 1.0 and settings.scenario == lg.TestScenario.SingleStream
    assert int(lg.TestMode.PerformanceOnly) == 2 and int(lg.TestScenario.Offline) == 3


def test_from_config_reads_user_conf_over_the_official_rules(tmp_path: Path) -> None:
    user = tmp_path / "user.conf"
    user.write_text("resnet50.Server.target_qps = 123.5\n*.Server.min_duration = 2000\n")
    settings = lg.TestSettings()
    assert settings.FromConfig(str(user), "resnet50", "Server") == 0
    assert settings.server_target_qps == 123.5 and settings.min_duration_ms == 2000
    assert settings.server_target_latency_ns == 15_000_000
    assert settings.qsl_rng_seed == 2085463073848966840


def test_from_config_ignores_seeds_in_user_conf_as_loadgen_does(tmp_path: Path, capsys: Any) -> None:
    """Old harnesses pass mlperf.conf itself as the user config: it must not break them."""
    user = tmp_path / "user.conf"
    user.write_text("*.*.qsl_rng_seed = 7\n")
    settings = lg.TestSettings()
    assert settings.FromConfig(str(user), "resnet50", "Offline") == 0
    assert settings.qsl_rng_seed == 2085463073848966840
    assert "qsl_rng_seed ignored: only the official rules file may set it" in capsys.readouterr().err


def test_from_config_refuses_a_malformed_file(tmp_path: Path) -> None:
    user = tmp_path / "user.conf"
    user.write_text("*.*.min_duration = ten\n")
    with pytest.raises(SettingsError, match=r"user\.conf:1"):
        lg.TestSettings().FromConfig(str(user), "resnet50", "Offline")


@pytest.mark.parametrize(("total", "performance"), [(0, 0), (10, 20), (10, 0)])
def test_impossible_qsl_counts_are_refused_up_front(total: int, performance: int) -> None:
    with pytest.raises(SettingsError, match="ConstructQSL"):
        lg.ConstructQSL(total, performance, lambda i: None, lambda i: None)


@pytest.mark.parametrize("rate", [0.0, -5.0])
def test_a_non_positive_rate_is_refused(rate: float, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="server_target_qps"):
        harness.run(lg, "Server", "PerformanceOnly", str(tmp_path), 0.0, dict(QUICK, server_target_qps=rate))


def failing_sut(error: BaseException) -> int:
    def issue(samples: list[Any]) -> None:
        raise error

    return lg.ConstructSUT(issue, lambda: None)


@pytest.mark.parametrize(("error", "words"), [(ValueError("bad tensor"), "bad tensor"),
                                              (KeyboardInterrupt(), "interrupted")])
def test_a_sut_exception_or_ctrl_c_ends_invalid_with_logs(error: BaseException, words: str, tmp_path: Path) -> None:
    sut = failing_sut(error)
    qsl = lg.ConstructQSL(8, 8, lambda i: None, lambda i: None)
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.Offline
    settings.offline_expected_qps = 100.0
    log = lg.LogSettings()
    log.log_output.outdir = str(tmp_path)
    benchmark = lg.StartTestWithLogSettings(sut, qsl, settings, log)
    assert not benchmark.result.valid and words in str(benchmark.error)
    assert "Result is : INVALID" in read(tmp_path, "summary.txt")
    assert json.loads((tmp_path / "result.json").read_text())["valid"] is False


def test_stale_handles_are_named(tmp_path: Path) -> None:
    qsl = lg.ConstructQSL(8, 8, lambda i: None, lambda i: None)
    with pytest.raises(SettingsError, match="not a live handle"):
        lg.StartTest(999_999, qsl, lg.TestSettings())


def test_fast_sut_and_token_latencies(tmp_path: Path) -> None:
    def issue(ids: list[int], indices: list[int]) -> None:
        lg.FirstTokenComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids])
        lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0, 5) for i in ids])

    sut = lg.ConstructFastSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(16, 16, lambda i: None, lambda i: None)
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.Server
    settings.server_target_qps = 2000.0
    settings.min_duration_ms = 300
    settings.use_token_latencies = True
    log = lg.LogSettings()
    log.log_output.outdir = str(tmp_path)
    result = lg.StartTestWithLogSettings(sut, qsl, settings, log).result
    assert result.metrics.ttft is not None and result.metrics.tpot is not None
    assert result.metrics.tokens_per_second > 0
    assert result.checks["ttft_latency_constraint"] and result.checks["tpot_latency_constraint"]
