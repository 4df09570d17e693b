"""sut.tokens: a SUT with known token rates, in process (over HTTP: tests/sut/network)."""

from __future__ import annotations

import pytest

from loadgen.benchmark.runner import run_benchmark
from loadgen.engine.query import IndexQSL
from loadgen.settings.model import TestSettings
from sut.tokens import TokenSUT


def test_ttft_and_tpot_are_the_configured_rates() -> None:
    settings = TestSettings(
        scenario="Server", server_target_qps=100.0, min_duration_ms=500, min_query_count=40, warmup_ms=0,
        use_token_latencies=True, ttft_latency=10**9, tpot_latency=10**9,
    )
    result = run_benchmark(TokenSUT(ttft_ms=10, tpot_ms=2, output_tokens=6), IndexQSL(64), settings, fingerprint={})
    metrics = result.result.metrics
    assert metrics is not None and metrics.ttft is not None and metrics.tpot is not None
    # the OS's wake-up overshoot and a busy machine only ever add: a few ms at the median
    assert 10.0 <= metrics.ttft.percentiles_ns["50.0"] / 1e6 <= 14.0
    assert 2.0 <= metrics.tpot.percentiles_ns["50.0"] / 1e6 <= 2.5
    assert set(result.trace.token_count.tolist()) == {6}


def test_bad_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="output_tokens must be >= 1"):
        TokenSUT(output_tokens=0)
    with pytest.raises(ValueError, match="ttft_ms and tpot_ms must be >= 0"):
        TokenSUT(ttft_ms=-1)
