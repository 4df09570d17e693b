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
from loadgen.settings.effective import EffectiveSettings
from loadgen.settings.model import TRACE_SAMPLE_LIMIT, Scenario, TestSettings

MAX_SCHEDULED_SAMPLES = TRACE_SAMPLE_LIMIT
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


def _cap(count: int, effective: EffectiveSettings) -> int:
    if effective.max_query_count is not None:
        count = min(count, effective.max_query_count)
    return count


def closed_loop_query_count(effective: EffectiveSettings, expected_latency_ns: int) -> int:
    """SingleStream/MultiStream: enough queries to fill min_duration with headroom."""
    span = math.ceil(SCHEDULE_HEADROOM * effective.min_duration_ns / expected_latency_ns)
    return _cap(max(effective.min_query_count, span), effective)


def offline_sample_count(effective: EffectiveSettings, expected_qps: float) -> int:
    """Offline: one query sized like LoadGen's, at least min_query_count samples."""
    span = math.ceil(OFFLINE_HEADROOM * Fraction(effective.min_duration_ns, 10**9) * Fraction(expected_qps))
    return _cap(max(effective.min_query_count, span), effective)


def server_arrivals_ns(settings: TestSettings | EffectiveSettings, target_qps: float) -> np.ndarray:
    """Server: arrivals until both min_duration and min_query_count are covered."""
    effective = EffectiveSettings.of(settings)
    seed = effective.settings.schedule_rng_seed
    expected = math.ceil(1.2 * target_qps * effective.min_duration_ns / 1e9)
    guess = _cap(effective.min_query_count + expected + 64, effective)
    while True:
        arrivals = poisson_arrivals_ns(target_qps, guess, seed)
        covering = int(np.searchsorted(arrivals, effective.min_duration_ns, side="left")) + 1
        if covering <= guess or guess == _cap(guess * 2, effective):
            break
        guess = _cap(guess * 2, effective)
    return arrivals[: _cap(max(effective.min_query_count, covering), effective)]


def scheduled_samples(settings: TestSettings | EffectiveSettings) -> int:
    """How many samples the schedule for these effective settings holds (Server: expected)."""
    effective = EffectiveSettings.of(settings)
    scenario, rate = effective.scenario, effective.target_qps
    if scenario is Scenario.Offline:
        assert rate is not None
        return offline_sample_count(effective, rate)
    if scenario is Scenario.Server:
        assert rate is not None
        expected = math.ceil(rate * effective.min_duration_ns / 1e9)
        return _cap(max(effective.min_query_count, expected), effective)
    assert effective.expected_latency_ns is not None
    return closed_loop_query_count(effective, effective.expected_latency_ns) * effective.samples_per_query


def schedule_problems(settings: TestSettings | EffectiveSettings) -> list[str]:
    """Why a schedule cannot run, with its numbers, from what is known before anything runs:
    more samples than a run may trace, or a Server run whose first query would come after
    max_duration_ms. (With the sizing value unset, the pilot keeps its choice within the limit.)"""
    effective = EffectiveSettings.of(settings)
    name = effective.scenario.value
    floor = effective.min_query_count * effective.samples_per_query
    if floor > MAX_SCHEDULED_SAMPLES:
        return [
            f"the {name} schedule needs at least {floor:,} samples (min_query_count = {effective.min_query_count:,}"
            f" x {effective.samples_per_query} a query), more than the {MAX_SCHEDULED_SAMPLES:,} a run may trace;"
            " lower min_query_count"
        ]
    if effective.needs_pilot:
        return []
    samples = scheduled_samples(effective)
    if samples > MAX_SCHEDULED_SAMPLES:
        return [
            f"the {name} schedule would hold {samples:,} samples, more than the {MAX_SCHEDULED_SAMPLES:,} a run "
            f"may trace; lower min_duration_ms ({effective.settings.min_duration_ms:,}) or "
            f"{effective.sizing_key}, or set max_query_count"
        ]
    if effective.scenario is Scenario.Server and effective.max_duration_ns is not None:
        assert effective.target_qps is not None
        first_ns = int(poisson_arrivals_ns(effective.target_qps, 1, effective.settings.schedule_rng_seed)[0])
        if first_ns > effective.max_duration_ns:
            return [
                f"the Server schedule's first query is due at {first_ns / 1e9:,.1f} s (server_target_qps = "
                f"{effective.target_qps:g}, schedule_rng_seed = {effective.settings.schedule_rng_seed}), after "
                f"max_duration_ms = {effective.settings.max_duration_ms:,}; raise server_target_qps or max_duration_ms"
            ]
    return []


def build_schedule(settings: TestSettings | EffectiveSettings, loaded: np.ndarray) -> Schedule:
    """Generate every query over the loaded set from effective settings (pilot values filled in)."""
    effective = EffectiveSettings.of(settings)
    problems = schedule_problems(effective)
    if problems:
        raise SettingsError(problems)
    samples = scheduled_samples(effective)
    request = effective.settings
    scenario = effective.scenario
    loaded_count = len(loaded)
    loaded32 = loaded.astype(np.int32)
    rng = np.random.default_rng(request.sample_index_rng_seed)
    scheduled_ns = None
    if scenario is Scenario.Offline:
        repeats = -(-samples // loaded_count)
        sample_index = np.tile(loaded32, repeats)[:samples]
        offsets = np.array([0, samples], dtype=np.int64)
    elif scenario is Scenario.MultiStream:
        per_query = effective.samples_per_query
        starts = rng.integers(0, loaded_count, size=samples // per_query)
        positions = (starts[:, None] + np.arange(per_query)[None, :]).ravel() % loaded_count
        sample_index = loaded32[positions]
        offsets = np.arange(len(starts) + 1, dtype=np.int64) * per_query
    else:
        if scenario is Scenario.Server:
            assert effective.target_qps is not None
            scheduled_ns = server_arrivals_ns(effective, effective.target_qps)
            samples = len(scheduled_ns)
        sample_index = loaded32[rng.integers(0, loaded_count, size=samples)]
        offsets = np.arange(samples + 1, dtype=np.int64)
    if request.performance_issue_same:
        sample_index = np.full_like(sample_index, loaded32[request.performance_issue_same_index % loaded_count])
    return Schedule(
        scenario=scenario,
        loaded_indices=loaded,
        query_offsets=offsets,
        sample_index=sample_index,
        scheduled_ns=scheduled_ns,
    )
