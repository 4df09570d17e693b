"""The plots' data: binned from the trace with loadgen.metrics' own latencies, so they agree with the summary."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.metrics.figures import issue_delays_ns, query_latencies_ns
from loadgen.metrics.percentile import percentile_index
from loadgen.settings.model import Scenario
from reports import series
from reports.series import log_edges, log_histogram, run_series
from tests.reports.runs import make_result, make_trace


@given(st.lists(st.integers(1, 10**11), min_size=1, max_size=300))
@settings(max_examples=60, deadline=None)
def test_every_value_lands_in_the_bin_that_holds_it(values: list[int]) -> None:
    data = np.array(values, dtype=np.int64)
    histogram = log_histogram(data)
    assert histogram is not None and histogram.total == data.size
    assert len(histogram.edges_ns) <= series.MAX_LATENCY_BINS + 2
    bins = series._log_bin(data, histogram.edges_ns, histogram.bins_per_decade)
    low, high = histogram.edges_ns[bins], histogram.edges_ns[bins + 1]
    assert np.all(low <= data * (1 + 1e-5)) and np.all(data <= high * (1 + 1e-5))


@pytest.mark.parametrize("scenario", ["SingleStream", "MultiStream", "Server", "Offline"])
def test_the_histogram_counts_the_latencies_the_metrics_count(scenario: str) -> None:
    trace = make_trace(scenario, 3000)
    result = make_result(scenario, trace)
    latency = result.metrics.latency
    found = run_series(trace, Scenario(scenario), latency.min_ns, latency.max_ns, 2000.0)
    assert found.latency is not None and found.latency.total == latency.count
    assert found.time is not None and found.time.completed_samples.sum() == result.metrics.samples_completed
    assert found.time.completed_points.sum() == latency.count
    assert found.time.outstanding[-1] == 0  # everything completed by the last bin's end
    if scenario == "Server":
        assert found.issue_delay is not None and found.issue_delay.total == trace.n_queries
        assert found.gaps is not None and found.gaps.scheduled_survival[0] == pytest.approx(1.0, abs=1e-3)
    else:
        assert found.issue_delay is None and found.gaps is None


def test_percentile_bands_are_within_one_bin_of_the_exact_percentile() -> None:
    trace = make_trace("SingleStream", 4000, seed=3)
    latencies = np.sort(query_latencies_ns(trace, Scenario.SingleStream))
    found = run_series(trace, Scenario.SingleStream, int(latencies[0]), int(latencies[-1]), None)
    assert found.time is not None and found.latency is not None
    factor = 10 ** (1 / found.latency.bins_per_decade)
    all_rows = found.time.completed_points.sum()
    assert all_rows == latencies.size
    # the whole run in one: merge the bins' counts and read p90 as the bands do
    exact = latencies[percentile_index(latencies.size, 0.9)]
    cumulative = np.cumsum(found.latency.counts)
    k = int(np.searchsorted(cumulative, percentile_index(latencies.size, 0.9) + 1))
    centre = np.sqrt(found.latency.edges_ns[k] * found.latency.edges_ns[k + 1])
    assert exact / factor <= centre <= exact * factor
    bands = found.time.bands_ns[0.99]
    filled = ~np.isnan(bands)
    assert filled.any() and np.all(bands[filled] >= found.time.bands_ns[0.5][filled])


def test_offline_is_binned_in_chunks_with_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    trace = make_trace("Offline", 50_000)
    latency = make_result("Offline", trace).metrics.latency
    whole = run_series(trace, Scenario.Offline, latency.min_ns, latency.max_ns, None)
    monkeypatch.setattr(series, "CHUNK", 997)
    chunked = run_series(trace, Scenario.Offline, latency.min_ns, latency.max_ns, None)
    assert np.array_equal(whole.latency.counts, chunked.latency.counts)
    assert np.array_equal(whole.time.completed_samples, chunked.time.completed_samples)
    assert whole.time.outstanding[0] > 0 and whole.time.outstanding[-1] == 0


def test_rising_offline_completions_bin_as_the_same_samples_shuffled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rising completions take the binary-search path; shuffled, the same samples take the float32 pass:
    the two agree to the few samples float32 rounding moves across a bin edge."""
    rising = make_trace("Offline", 50_000)
    shuffled = make_trace("Offline", 50_000)
    shuffled.completed_ns = np.random.default_rng(1).permutation(rising.completed_ns)
    assert series._rising(rising.completed_ns) and not series._rising(shuffled.completed_ns)
    latency = make_result("Offline", rising).metrics.latency
    fast = run_series(rising, Scenario.Offline, latency.min_ns, latency.max_ns, None)
    monkeypatch.setattr(series, "CHUNK", 4093)
    slow = run_series(shuffled, Scenario.Offline, latency.min_ns, latency.max_ns, None)
    assert fast.latency.total == slow.latency.total == 50_000
    assert np.abs(fast.latency.counts - slow.latency.counts).sum() <= 50
    assert np.abs(fast.time.completed_samples - slow.time.completed_samples).sum() <= 50
    assert np.array_equal(fast.time.outstanding > 0, slow.time.outstanding > 0)
    edges = fast.latency.edges_ns  # and every rising sample sits in the bin that holds it, exactly
    lat = rising.completed_ns - rising.scheduled_ns[0]
    exact = np.bincount(np.clip(np.searchsorted(edges, lat, side="right") - 1, 0, len(edges) - 2),
                        minlength=len(edges) - 1)
    assert np.array_equal(fast.latency.counts, exact)


def test_not_yet_completions_lead_a_rising_column_and_are_left_out() -> None:
    trace = make_trace("Offline", 1000)
    trace.completed_ns[:10] = -1
    assert series._rising(trace.completed_ns)
    found = run_series(trace, Scenario.Offline, 10**5, 2 * 10**8, None)
    assert found.latency.total == 990


def test_issue_delays_are_the_metrics_own() -> None:
    trace = make_trace("Server", 2000)
    delays = issue_delays_ns(trace)
    found = run_series(trace, Scenario.Server, 1000, 10**8, 2000.0)
    assert found.issue_delay is not None and found.issue_delay.total == delays.size


def test_edges_cover_the_range_at_whole_decade_fractions() -> None:
    edges, per_decade = log_edges(1234, 5.6e9)
    assert edges[0] <= 1234 and edges[-1] >= 5.6e9
    assert np.allclose(np.diff(np.log10(edges)), 1 / per_decade)


def test_a_run_that_completed_nothing_has_no_series() -> None:
    trace = make_trace("SingleStream", 10)
    trace.completed_ns[:] = -1
    found = run_series(trace, Scenario.SingleStream, 1, 10, None)
    assert found.latency is None and found.time is None
