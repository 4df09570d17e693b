"""Binomial early stopping: LoadGen's check values, monotonicity, consistency."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import betainc
from scipy.stats import binom

from loadgen.metrics.early_stopping import (
    CONFIDENCE,
    EarlyStoppingResult,
    h_min,
    latency_estimate,
    min_queries,
    overlatency_allowance,
    server_check,
)

PS = st.sampled_from([0.9, 0.95, 0.97, 0.99, 0.999])


@pytest.mark.parametrize(
    ("p", "h0", "h1"),
    [(0.9, 44, 63), (0.99, 459, 661), (0.999, 4603, 6635)],
)
def test_loadgen_check_values(p: float, h0: int, h1: int) -> None:
    assert CONFIDENCE == 0.99
    assert h_min(0, p) == h0
    assert h_min(1, p) == h1
    assert min_queries(p) == h1 + 1


@pytest.mark.parametrize("p", [0.9, 0.99, 0.999])
@pytest.mark.parametrize("t", range(6))
def test_h_min_matches_binomial_brute_force(p: float, t: int) -> None:
    hs = np.arange(1, 20_000)
    cdf = binom.cdf(t, hs + t, 1 - p)
    np.testing.assert_allclose(betainc(hs, t + 1, p), cdf, rtol=1e-9, atol=1e-300)
    brute = int(hs[np.argmax(cdf < 1 - CONFIDENCE)])
    assert cdf[brute - 1] < 0.01 <= cdf[brute - 2]
    assert h_min(t, p) == brute


@settings(max_examples=50, deadline=None)
@given(t=st.integers(0, 10**6), p=PS)
def test_h_min_increasing_in_t(t: int, p: float) -> None:
    assert h_min(t, p) < h_min(t + 1, p)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 10**7), p=PS)
def test_overlatency_allowance_consistent(n: int, p: float) -> None:
    t = overlatency_allowance(n, p)
    if n < min_queries(p):
        assert t is None
        return
    assert t is not None and t >= 1
    assert n >= h_min(t, p) + t
    assert n < h_min(t + 1, p) + t + 1


def test_latency_estimate_minimum_run() -> None:
    latencies = np.sort(np.random.default_rng(0).integers(1, 10**9, 64))
    result = latency_estimate(latencies, 0.9)
    assert result == EarlyStoppingResult(
        met=True,
        queries=64,
        overlatency_queries=1,
        min_queries=64,
        estimate_ns=int(latencies[63]),
        percentile=0.9,
        message=f"Early stopping 90.0th percentile estimate: {int(latencies[63])}",
    )
    assert type(result.estimate_ns) is int


def test_latency_estimate_too_short() -> None:
    result = latency_estimate(np.arange(63, dtype=np.int64), 0.9)
    assert not result.met
    assert result.estimate_ns is None and result.overlatency_queries is None
    assert result.message == "Early stopping: need at least 64 queries, ran 63"


def test_latency_estimate_large_run_uses_allowance() -> None:
    latencies = np.arange(10_000, dtype=np.int64)
    result = latency_estimate(latencies, 0.99)
    t = overlatency_allowance(10_000, 0.99)
    assert result.met and result.overlatency_queries == t
    assert result.estimate_ns == 10_000 - t
    assert result.estimate_ns >= 9900  # never below the plain p99
    assert result.message == f"Early stopping 99.0th percentile estimate: {10_000 - t}"


def test_latency_estimate_rejects_unsorted() -> None:
    with pytest.raises(ValueError, match="ascending"):
        latency_estimate(np.arange(100, dtype=np.int64)[::-1], 0.9)


def test_server_check_all_under_bound() -> None:
    met = server_check(np.full(459, 10, dtype=np.int64), 100, 0.99)
    assert met.met and met.overlatency_queries == 0 and met.min_queries == 459
    assert met.estimate_ns is None
    short = server_check(np.full(458, 10, dtype=np.int64), 100, 0.99)
    assert not short.met
    assert short.message == "Early stopping: 0 of 458 queries over 100 ns; needs >= 459 queries"


def test_server_check_counts_strictly_over() -> None:
    latencies = np.array([100] * 600 + [101] * 1, dtype=np.int64)
    result = server_check(latencies, 100, 0.99)
    assert result.overlatency_queries == 1
    assert result.min_queries == 662
    assert not result.met
    assert "1 of 601 queries over 100 ns" in result.message


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_rejects_bad_probabilities(bad: float) -> None:
    with pytest.raises(ValueError, match=r"p must be in the open interval \(0, 1\)"):
        h_min(1, bad)
    with pytest.raises(ValueError, match=r"confidence must be in the open interval \(0, 1\)"):
        h_min(1, 0.9, confidence=bad)
    with pytest.raises(ValueError, match=r"p must be in"):
        latency_estimate(np.arange(100, dtype=np.int64), bad)


def test_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="t must be an integer >= 0"):
        h_min(-1, 0.9)
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        overlatency_allowance(-5, 0.9)
    with pytest.raises(ValueError, match="target_latency_ns must be an integer >= 0"):
        server_check(np.arange(10, dtype=np.int64), 1.5, 0.9)  # type: ignore[arg-type]
