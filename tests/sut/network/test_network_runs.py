"""Benchmarks over HTTP against real servers on loopback: sut.serve and a recording server."""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import numpy as np
import pytest

if os.environ.get("CI") != "true":  # CI installs the extra; elsewhere these tests skip without it
    pytest.importorskip("aiohttp", reason="these tests' loopback servers need aiohttp: pip install '.[http]'")

from scipy import stats

from loadgen.benchmark.runner import Benchmark, run_benchmark
from loadgen.settings.model import TestSettings
from sut.network import make_sut

QUICK: dict[str, Any] = dict(
    warmup_ms=0,
    min_duration_ms=200,
    sample_timeout_ms=20_000,
    single_stream_expected_latency_ns=100_000,  # small on purpose: the schedule then outlasts min_duration
    multi_stream_expected_latency_ns=1_000_000,  # however fast the server answers (the run stops at 200 ms)
    multi_stream_samples_per_query=4,
    server_target_qps=400.0,
    server_target_latency_ns=2_000_000_000,  # generous: the test machine is shared
    offline_expected_qps=10_000.0,  # high on purpose: one query that outlasts min_duration on a fast machine
)
MIN_QUERIES = {"SingleStream": 64, "MultiStream": 662, "Server": 460, "Offline": 400}
"""Early stopping's minimum for each scenario's percentile (p90: 64, p99: 662; Server's 459)."""


def run(sut: Any, scenario: str, **overrides: Any) -> Benchmark:
    settings = TestSettings(scenario=scenario, **{**QUICK, "min_query_count": MIN_QUERIES[scenario], **overrides})
    try:
        return run_benchmark(sut, sut.qsl, settings, fingerprint={})
    finally:
        sut.close()


@pytest.mark.parametrize("scenario", list(MIN_QUERIES))
def test_every_scenario_is_valid_against_sut_serve(digit_server: Any, scenario: str) -> None:
    sut = make_sut(url=f"{digit_server.url}/infer", dataset="tinydigits")
    result = run(sut, scenario).result
    assert result.valid, result.invalid_reasons
    assert result.failed_samples == {}
    assert result.metrics is not None and result.metrics.samples_completed == result.metrics.samples_issued
    assert result.sut_name == f"HTTP json {digit_server.url}/infer"


def test_kserve_accuracy_over_http_matches_the_model_in_process(digit_server: Any) -> None:
    from sut.digit_mlp import make_sut as make_digit_mlp

    sut = make_sut(url=f"{digit_server.url}/v2/models/sut/infer", dataset="tinydigits")
    remote = run(sut, "Offline", mode="AccuracyOnly").result
    local_sut = make_digit_mlp()
    accuracy = TestSettings(scenario="Offline", mode="AccuracyOnly")
    local = run_benchmark(local_sut, local_sut.qsl, accuracy, fingerprint={})
    assert remote.accuracy is not None and local.result.accuracy is not None
    assert remote.accuracy.completed == remote.accuracy.samples == 200
    assert remote.accuracy.top1 == local.result.accuracy.top1


TTFT_MS, TPOT_MS, TOKENS = 30.0, 8.0, 11
TTFT_SLACK_MS = 40.0
"""TTFT over HTTP is the SUT's plus the request's way there and back and any lateness of the
issue, which on the shared 2-core test machine reached 18 ms at the median: it must lie in
[ttft_ms, ttft_ms + 40 ms]. A first token taken at the completion would read 110 ms, one
taken at the request 0 ms; both fail."""
TPOT_TOLERANCE = 0.10
"""TPOT spreads the same overheads over 10 tokens: within 10% of tpot_ms at the median."""


@pytest.mark.parametrize("route", ["/v1/completions", "/v1/chat/completions"])
def test_streamed_ttft_and_tpot_match_the_served_token_sut(token_server: Any, route: str) -> None:
    sut = make_sut(url=f"{token_server.url}{route}", samples=64)
    result = run(
        sut, "Server", server_target_qps=40.0, min_query_count=40, min_duration_ms=1000, use_token_latencies=True,
        ttft_latency=2_000_000_000, tpot_latency=2_000_000_000,
    ).result
    metrics = result.metrics
    assert result.failed_samples == {} and metrics is not None and metrics.ttft and metrics.tpot
    ttft_ms = metrics.ttft.percentiles_ns["50.0"] / 1e6
    tpot_ms = metrics.tpot.percentiles_ns["50.0"] / 1e6
    assert TTFT_MS <= ttft_ms <= TTFT_MS + TTFT_SLACK_MS, ttft_ms
    assert abs(tpot_ms - TPOT_MS) <= TPOT_TOLERANCE * TPOT_MS, tpot_ms
    assert metrics.tokens_per_second is not None and metrics.tokens_per_second > 0


def test_server_arrivals_seen_by_the_server_keep_exponential_gaps(faulty_server: Any) -> None:
    rate = 100.0
    sut = make_sut(url=f"{faulty_server.url}/ok")
    result = run(sut, "Server", server_target_qps=rate, min_query_count=300, min_duration_ms=2500).result
    assert result.failed_samples == {} and result.metrics is not None
    with urllib.request.urlopen(f"{faulty_server.url}/arrivals") as response:
        arrivals = np.asarray(json.loads(response.read()), dtype=np.int64)[-result.metrics.samples_issued :]
    gaps_s = np.diff(arrivals) / 1e9
    distance = stats.kstest(gaps_s, "expon", args=(0, 1 / rate)).statistic
    print(f"KS distance of {gaps_s.size} server-side gaps from Exp({rate:g}/s): {distance:.3f}")
    # A closed loop or a batched sender would be far off (D > 0.3); loopback jitter is small.
    assert distance < 0.12
    assert abs(gaps_s.mean() * rate - 1) < 0.2
