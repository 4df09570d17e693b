"""Every query of a run, generated from the three seeds before the clock starts.

The algorithm (documented in docs/schedule.md) uses numpy's PCG64 generator, one per seed:
1. loaded set: `default_rng(qsl_rng_seed).permutation(total)[:performance_sample_count]`.
2. sample indices, from `default_rng(sample_index_rng_seed)`:
   SingleStream and Server draw `integers(0, P, size=queries)` positions in the loaded set;
   MultiStream draws one start position per query and takes `samples_per_query`
   consecutive positions from it, wrapping around; Offline repeats the loaded set in
   load order.
3. Server arrival times, from `default_rng(schedule_rng_seed)`: exponential gaps with mean
   1/target_qps, cumulated; the first query is due one gap after the start.
A draw of N values is a prefix of a draw of M > N values from the same seed, so the same
seeds and settings give the same schedule on any machine, and a longer run extends it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from loadgen.errors import SettingsError
from loadgen.settings.model import Scenario, TestSettings

MAX_SCHEDULED_SAMPLES = 64_000_000
"""About 1.5 GB of trace (24 bytes a sample); beyond this a run must set max_query_count."""

SCHEDULE_HEADROOM = 2.5
"""SingleStream/MultiStream schedules cover this many times the expected run, so a SUT a
little faster than its expected latency does not run out of queries."""

OFFLINE_HEADROOM = Fraction(11, 10)
"""LoadGen sizes the Offline query at 1.1 x min_duration x expected_qps (exact, rounded up)."""


@dataclass(frozen=True)
class Schedule:
    """The queries of one run: query q owns sample rows [query_offsets[q], query_offsets[q+1])."""

    scenario: Scenario
    loaded_indices: np.ndarray
    query_offsets: np.ndarray
    sample_index: np.ndarray
    scheduled_ns: np.ndarray | None

    @property
    def n_queries(self) -> int:
        return len(self.query_offsets) - 1

    @property
    def n_samples(self) -> int:
        return int(self.query_offsets[-1])


def select_loaded_samples(total_sample_count: int, performance_sample_count: int, seed: int) -> np.ndarray:
    """The performance sample set: the first set of a seeded shuffle of [0, total)."""
    order = np.random.default_rng(seed).permutation(total_sample_count)
    return order[:performance_sample_count].astype(np.int64)


def poisson_arrivals_ns(rate_qps: float, count: int, seed: int) -> np.ndarray:
    """Arrival times (ns from start) of a Poisson process: cumulated exponential gaps."""
    gaps_s = np.random.default_rng(seed).exponential(scale=1.0 / rate_qps, size=count)
    return np.round(np.cumsum(gaps_s) * 1e9).astype(np.int64)


def _cap(count: int, settings: TestSettings) -> int:
    if settings.max_query_count is not None:
        count = min(count, settings.max_query_count)
    return count


def closed_loop_query_count(settings: TestSettings, expected_latency_ns: int) -> int:
    """SingleStream/MultiStream: enough queries to fill min_duration with headroom."""
    span = math.ceil(SCHEDULE_HEADROOM * settings.min_duration_ms * 1e6 / expected_latency_ns)
    return _cap(max(settings.min_query_count, span), settings)


def offline_sample_count(settings: TestSettings, expected_qps: float) -> int:
    """Offline: one query sized like LoadGen's, at least min_query_count samples."""
    span = math.ceil(OFFLINE_HEADROOM * Fraction(settings.min_duration_ms, 1000) * Fraction(expected_qps))
    return _cap(max(settings.min_query_count, span), settings)


def server_arrivals_ns(settings: TestSettings, target_qps: float) -> np.ndarray:
    """Server: arrivals until both min_duration and min_query_count are covered."""
    min_duration_ns = settings.min_duration_ms * 1_000_000
    expected = math.ceil(1.2 * target_qps * settings.min_duration_ms / 1000.0)
    guess = _cap(settings.min_query_count + expected + 64, settings)
    while True:
        arrivals = poisson_arrivals_ns(target_qps, guess, settings.schedule_rng_seed)
        covering = int(np.searchsorted(arrivals, min_duration_ns, side="left")) + 1
        if covering <= guess or guess == _cap(guess * 2, settings):
            break
        guess = _cap(guess * 2, settings)
    return arrivals[: _cap(max(settings.min_query_count, covering), settings)]


def scheduled_samples(settings: TestSettings) -> int:
    """How many samples the schedule for these effective settings holds (Server: expected)."""
    scenario = settings.scenario
    if scenario is Scenario.Offline:
        assert settings.offline_expected_qps is not None
        return offline_sample_count(settings, settings.offline_expected_qps)
    if scenario is Scenario.Server:
        assert settings.server_target_qps is not None
        expected = math.ceil(settings.server_target_qps * settings.min_duration_ms / 1000)
        return _cap(max(settings.min_query_count, expected), settings)
    if scenario is Scenario.MultiStream:
        assert settings.multi_stream_expected_latency_ns is not None
        queries = closed_loop_query_count(settings, settings.multi_stream_expected_latency_ns)
        return queries * settings.multi_stream_samples_per_query
    assert settings.single_stream_expected_latency_ns is not None
    return closed_loop_query_count(settings, settings.single_stream_expected_latency_ns)


def build_schedule(settings: TestSettings, loaded: np.ndarray) -> Schedule:
    """Generate every query over the loaded set from effective settings (pilot values filled in)."""
    samples = scheduled_samples(settings)
    if samples > MAX_SCHEDULED_SAMPLES:
        raise SettingsError(
            [
                f"the {settings.scenario.value} schedule would hold {samples:,} samples, more than the "
                f"{MAX_SCHEDULED_SAMPLES:,} a run may trace; lower min_duration_ms or set max_query_count"
            ]
        )
    loaded_count = len(loaded)
    loaded32 = loaded.astype(np.int32)
    rng = np.random.default_rng(settings.sample_index_rng_seed)
    scheduled_ns = None
    if settings.scenario is Scenario.Offline:
        repeats = -(-samples // loaded_count)
        sample_index = np.tile(loaded32, repeats)[:samples]
        offsets = np.array([0, samples], dtype=np.int64)
    elif settings.scenario is Scenario.MultiStream:
        per_query = settings.multi_stream_samples_per_query
        starts = rng.integers(0, loaded_count, size=samples // per_query)
        positions = (starts[:, None] + np.arange(per_query)[None, :]).ravel() % loaded_count
        sample_index = loaded32[positions]
        offsets = np.arange(len(starts) + 1, dtype=np.int64) * per_query
    else:
        if settings.scenario is Scenario.Server:
            assert settings.server_target_qps is not None
            scheduled_ns = server_arrivals_ns(settings, settings.server_target_qps)
            samples = len(scheduled_ns)
        sample_index = loaded32[rng.integers(0, loaded_count, size=samples)]
        offsets = np.arange(samples + 1, dtype=np.int64)
    if settings.performance_issue_same:
        sample_index = np.full_like(sample_index, loaded32[settings.performance_issue_same_index % loaded_count])
    return Schedule(
        scenario=settings.scenario,
        loaded_indices=loaded,
        query_offsets=offsets,
        sample_index=sample_index,
        scheduled_ns=scheduled_ns,
    )
