"""Schedules: reproducible from the three seeds, prefix-stable, LoadGen-shaped per scenario."""

from __future__ import annotations

import math
import tracemalloc
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats

from loadgen.engine import schedule as schedule_module
from loadgen.engine.schedule import (
    MAX_SCHEDULED_SAMPLES,
    Schedule,
    build_schedule,
    poisson_arrivals_ns,
    select_loaded_samples,
)
from loadgen.errors import SettingsError
from loadgen.settings.model import UINT64_MAX, Scenario
from loadgen.settings.model import TestSettings as Settings

OFFICIAL_QSL_SEED = 2085463073848966840
OFFICIAL_SAMPLE_INDEX_SEED = 2747215439041700203
OFFICIAL_SCHEDULE_SEED = 16159082839903944936

PILOT_VALUES: dict[str, Any] = {
    "single_stream_expected_latency_ns": 1_000_000,
    "multi_stream_expected_latency_ns": 8_000_000,
    "server_target_qps": 1000.0,
    "offline_expected_qps": 1000.0,
}

seeds = st.integers(min_value=0, max_value=UINT64_MAX)


def effective(scenario: Scenario | str, **overrides: Any) -> Settings:
    """Effective settings as the engine hands them to build_schedule: pilot values filled in."""
    values: dict[str, Any] = {"min_duration_ms": 1000, "min_query_count": 10, **PILOT_VALUES, **overrides}
    return Settings(scenario=scenario, **values)


def loaded_set(count: int = 64, total: int = 1024, seed: int = 0) -> np.ndarray:
    return select_loaded_samples(total, count, seed)


def positions_in(loaded: np.ndarray, sample_index: np.ndarray) -> np.ndarray:
    """Where each scheduled sample sits in the loaded set (the loaded set has no duplicates)."""
    lookup = {int(index): position for position, index in enumerate(loaded)}
    return np.array([lookup[int(index)] for index in sample_index], dtype=np.int64)


def assert_same_schedule(a: Schedule, b: Schedule) -> None:
    assert a.scenario is b.scenario
    np.testing.assert_array_equal(a.loaded_indices, b.loaded_indices)
    np.testing.assert_array_equal(a.query_offsets, b.query_offsets)
    np.testing.assert_array_equal(a.sample_index, b.sample_index)
    if a.scheduled_ns is None or b.scheduled_ns is None:
        assert a.scheduled_ns is None and b.scheduled_ns is None
    else:
        np.testing.assert_array_equal(a.scheduled_ns, b.scheduled_ns)


def assert_well_formed(schedule: Schedule, settings: Settings, loaded: np.ndarray) -> None:
    offsets = schedule.query_offsets
    assert offsets[0] == 0
    assert np.all(np.diff(offsets) > 0)
    assert schedule.n_queries == len(offsets) - 1
    assert schedule.n_samples == len(schedule.sample_index) == offsets[-1]
    assert np.isin(schedule.sample_index, loaded).all()
    np.testing.assert_array_equal(schedule.loaded_indices, loaded)
    per_query = np.diff(offsets)
    if settings.scenario in (Scenario.SingleStream, Scenario.Server):
        assert np.all(per_query == 1)
    elif settings.scenario is Scenario.MultiStream:
        assert np.all(per_query == settings.multi_stream_samples_per_query)
    else:
        assert schedule.n_queries == 1
    if settings.scenario is Scenario.Server:
        assert schedule.scheduled_ns is not None
        assert len(schedule.scheduled_ns) == schedule.n_queries
    else:
        assert schedule.scheduled_ns is None


# --- reproducibility -----------------------------------------------------------------------


@hsettings(max_examples=60, deadline=None)
@given(
    scenario=st.sampled_from(list(Scenario)),
    qsl_seed=seeds,
    sample_seed=seeds,
    schedule_seed=seeds,
    total=st.integers(1, 300),
    data=st.data(),
    min_duration_ms=st.integers(0, 40),
    min_query_count=st.integers(1, 40),
    samples_per_query=st.integers(1, 10),
)
def test_same_settings_give_identical_schedules(
    scenario: Scenario,
    qsl_seed: int,
    sample_seed: int,
    schedule_seed: int,
    total: int,
    data: st.DataObject,
    min_duration_ms: int,
    min_query_count: int,
    samples_per_query: int,
) -> None:
    performance = data.draw(st.integers(1, total), label="performance_sample_count")
    settings = effective(
        scenario,
        min_duration_ms=min_duration_ms,
        min_query_count=min_query_count,
        multi_stream_samples_per_query=samples_per_query,
        qsl_rng_seed=qsl_seed,
        sample_index_rng_seed=sample_seed,
        schedule_rng_seed=schedule_seed,
    )
    first_loaded = select_loaded_samples(total, performance, settings.qsl_rng_seed)
    second_loaded = select_loaded_samples(total, performance, settings.qsl_rng_seed)
    np.testing.assert_array_equal(first_loaded, second_loaded)
    first = build_schedule(settings, first_loaded)
    second = build_schedule(settings.model_copy(), second_loaded)
    assert_same_schedule(first, second)
    assert_well_formed(first, settings, first_loaded)


@pytest.mark.parametrize("scenario", [Scenario.SingleStream, Scenario.MultiStream, Scenario.Server])
@pytest.mark.parametrize(("seed_a", "seed_b"), [(0, 1), (1, 2), (0, OFFICIAL_SAMPLE_INDEX_SEED)])
def test_different_sample_index_seeds_give_different_indices(scenario: Scenario, seed_a: int, seed_b: int) -> None:
    loaded = loaded_set(256)
    a = build_schedule(effective(scenario, min_query_count=500, sample_index_rng_seed=seed_a), loaded)
    b = build_schedule(effective(scenario, min_query_count=500, sample_index_rng_seed=seed_b), loaded)
    assert a.n_samples == b.n_samples >= 500
    assert not np.array_equal(a.sample_index, b.sample_index)


def test_different_qsl_seeds_load_different_samples() -> None:
    a = select_loaded_samples(10_000, 500, 0)
    b = select_loaded_samples(10_000, 500, OFFICIAL_QSL_SEED)
    assert not np.array_equal(a, b)
    assert len(np.intersect1d(a, b)) < 250


def test_different_schedule_seeds_give_different_arrivals() -> None:
    loaded = loaded_set()
    a = build_schedule(effective("Server", schedule_rng_seed=0), loaded)
    b = build_schedule(effective("Server", schedule_rng_seed=OFFICIAL_SCHEDULE_SEED), loaded)
    assert a.scheduled_ns is not None and b.scheduled_ns is not None
    count = min(len(a.scheduled_ns), len(b.scheduled_ns))
    assert not np.array_equal(a.scheduled_ns[:count], b.scheduled_ns[:count])


def test_seeds_drive_independent_streams() -> None:
    """The schedule seed moves arrivals only; the sample-index seed moves sample choice only."""
    loaded = loaded_set()
    base = build_schedule(effective("Server", min_duration_ms=500), loaded)
    moved_times = build_schedule(effective("Server", min_duration_ms=500, schedule_rng_seed=7), loaded)
    moved_samples = build_schedule(effective("Server", min_duration_ms=500, sample_index_rng_seed=7), loaded)
    count = min(base.n_queries, moved_times.n_queries)
    np.testing.assert_array_equal(base.sample_index[:count], moved_times.sample_index[:count])
    assert base.scheduled_ns is not None and moved_samples.scheduled_ns is not None
    np.testing.assert_array_equal(base.scheduled_ns, moved_samples.scheduled_ns)
    assert not np.array_equal(base.sample_index, moved_samples.sample_index)


# --- prefix property -----------------------------------------------------------------------


@hsettings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.01, max_value=1e7),
    n=st.integers(0, 300),
    extra=st.integers(1, 300),
    seed=seeds,
)
def test_poisson_arrivals_prefix(rate: float, n: int, extra: int, seed: int) -> None:
    short = poisson_arrivals_ns(rate, n, seed)
    long = poisson_arrivals_ns(rate, n + extra, seed)
    assert short.dtype == np.int64 and len(short) == n and len(long) == n + extra
    np.testing.assert_array_equal(long[:n], short)


@pytest.mark.parametrize("scenario", [Scenario.Server, Scenario.SingleStream, Scenario.MultiStream])
@pytest.mark.parametrize("seed", [0, OFFICIAL_SCHEDULE_SEED])
def test_longer_run_extends_the_schedule(scenario: Scenario, seed: int) -> None:
    loaded = loaded_set()
    seeds_kw = {"schedule_rng_seed": seed, "sample_index_rng_seed": seed}
    short = build_schedule(effective(scenario, min_duration_ms=200, min_query_count=1, **seeds_kw), loaded)
    long = build_schedule(effective(scenario, min_duration_ms=700, min_query_count=1, **seeds_kw), loaded)
    assert long.n_queries > short.n_queries
    np.testing.assert_array_equal(long.sample_index[: short.n_samples], short.sample_index)
    np.testing.assert_array_equal(long.query_offsets[: short.n_queries + 1], short.query_offsets)
    if scenario is Scenario.Server:
        assert short.scheduled_ns is not None and long.scheduled_ns is not None
        np.testing.assert_array_equal(long.scheduled_ns[: short.n_queries], short.scheduled_ns)


# --- golden values: catch a change in numpy's generators or in our algorithm ---------------


def test_golden_loaded_set() -> None:
    loaded = select_loaded_samples(1024, 1024, 0)
    assert loaded[:8].tolist() == [84, 752, 296, 982, 863, 470, 986, 2]


def test_golden_single_stream_sample_index() -> None:
    settings = effective("SingleStream", min_duration_ms=10, min_query_count=10)
    schedule = build_schedule(settings, select_loaded_samples(1024, 1024, 0))
    assert schedule.n_queries == 25  # 2.5 x 10 ms / 1 ms
    assert schedule.sample_index[:8].tolist() == [258, 43, 712, 839, 645, 524, 941, 640]


def test_golden_poisson_arrivals() -> None:
    assert poisson_arrivals_ns(1000.0, 5, 0).tolist() == [679932, 1699529, 1719336, 1721605, 2271948]


# --- shapes per scenario -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("min_duration_ms", "latency_ns", "min_query_count", "max_query_count", "queries"),
    [
        (1000, 1_000_000, 10, None, 2500),
        (1000, 1_000_000, 3000, None, 3000),
        (1000, 1_000_000, 10, 300, 300),
        (0, 1_000_000, 5, None, 5),
        (10, 3_000_000, 1, None, 9),
    ],
)
def test_single_stream_query_count(
    min_duration_ms: int, latency_ns: int, min_query_count: int, max_query_count: int | None, queries: int
) -> None:
    settings = effective(
        "SingleStream",
        min_duration_ms=min_duration_ms,
        single_stream_expected_latency_ns=latency_ns,
        min_query_count=min_query_count,
        max_query_count=max_query_count,
    )
    loaded = loaded_set()
    schedule = build_schedule(settings, loaded)
    assert schedule.n_queries == queries
    assert_well_formed(schedule, settings, loaded)


@pytest.mark.parametrize(("loaded_count", "per_query"), [(64, 8), (5, 8), (1, 3), (16, 1)])
def test_multi_stream_queries_are_contiguous_and_wrap(loaded_count: int, per_query: int) -> None:
    settings = effective("MultiStream", multi_stream_samples_per_query=per_query, min_query_count=400)
    loaded = loaded_set(loaded_count)
    schedule = build_schedule(settings, loaded)
    assert_well_formed(schedule, settings, loaded)
    assert schedule.n_queries == 400
    positions = positions_in(loaded, schedule.sample_index).reshape(schedule.n_queries, per_query)
    starts = positions[:, 0]
    np.testing.assert_array_equal(positions, (starts[:, None] + np.arange(per_query)) % loaded_count)
    if loaded_count > 1:
        assert len(np.unique(starts)) > 1


def test_multi_stream_query_count_is_in_queries() -> None:
    settings = effective("MultiStream", min_duration_ms=800, multi_stream_expected_latency_ns=8_000_000)
    schedule = build_schedule(settings, loaded_set())
    assert schedule.n_queries == 250  # 2.5 x 800 ms / 8 ms
    assert schedule.n_samples == 250 * 8


def offline_expected_samples(min_duration_ms: int, qps: float, min_query_count: int) -> int:
    """LoadGen's Offline size with the 1.1 slack, computed exactly."""
    exact = Fraction(11, 10) * Fraction(min_duration_ms, 1000) * Fraction(qps)
    return max(min_query_count, math.ceil(exact))


@pytest.mark.parametrize(
    ("min_duration_ms", "qps", "min_query_count", "loaded_count"),
    [
        (10_000, 1000.0, 100, 1024),
        (1000, 10.0, 100, 64),
        (2500, 3.0, 1, 4),
        (1500, 333.0, 1, 100),
        (0, 5.0, 24, 24),
    ],
)
def test_offline_single_query_repeats_loaded_set(
    min_duration_ms: int, qps: float, min_query_count: int, loaded_count: int
) -> None:
    settings = effective(
        "Offline", min_duration_ms=min_duration_ms, offline_expected_qps=qps, min_query_count=min_query_count
    )
    loaded = loaded_set(loaded_count)
    schedule = build_schedule(settings, loaded)
    samples = offline_expected_samples(min_duration_ms, qps, min_query_count)
    assert_well_formed(schedule, settings, loaded)
    assert schedule.query_offsets.tolist() == [0, samples]
    np.testing.assert_array_equal(schedule.sample_index, np.resize(loaded, samples))


@pytest.mark.parametrize(("min_duration_ms", "qps"), [(1000, 100.0), (1000, 50.0), (3000, 30.0)])
def test_offline_size_has_no_float_rounding_excess(min_duration_ms: int, qps: float) -> None:
    settings = effective("Offline", min_duration_ms=min_duration_ms, offline_expected_qps=qps, min_query_count=1)
    schedule = build_schedule(settings, loaded_set())
    assert schedule.n_samples == offline_expected_samples(min_duration_ms, qps, 1)


def test_offline_capped_by_max_query_count() -> None:
    settings = effective("Offline", offline_expected_qps=1e9, min_query_count=10, max_query_count=1234)
    schedule = build_schedule(settings, loaded_set())
    assert schedule.n_samples == 1234


def test_single_stream_and_server_draw_with_replacement_from_whole_loaded_set() -> None:
    loaded = loaded_set(16)
    for scenario in (Scenario.SingleStream, Scenario.Server):
        schedule = build_schedule(effective(scenario, min_query_count=2000), loaded)
        counts = np.bincount(positions_in(loaded, schedule.sample_index), minlength=16)
        assert np.all(counts > 0)
        assert stats.chisquare(counts).pvalue > 0.01


# --- Server arrivals -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, OFFICIAL_SCHEDULE_SEED])
@pytest.mark.parametrize(
    ("qps", "min_duration_ms", "min_query_count"), [(1000.0, 1000, 10), (37.5, 2000, 1), (5.0, 0, 3)]
)
def test_server_arrivals_cover_min_duration_and_min_queries(
    seed: int, qps: float, min_duration_ms: int, min_query_count: int
) -> None:
    settings = effective(
        "Server",
        server_target_qps=qps,
        min_duration_ms=min_duration_ms,
        min_query_count=min_query_count,
        schedule_rng_seed=seed,
    )
    loaded = loaded_set()
    schedule = build_schedule(settings, loaded)
    assert_well_formed(schedule, settings, loaded)
    arrivals = schedule.scheduled_ns
    assert arrivals is not None
    assert arrivals[0] > 0  # the first query is due one gap after the start
    assert np.all(np.diff(arrivals) >= 0)  # ties are possible after rounding to ns
    min_duration_ns = min_duration_ms * 1_000_000
    assert arrivals[-1] >= min_duration_ns
    assert len(arrivals) >= min_query_count
    if len(arrivals) > min_query_count:  # sized by duration: stops at the first arrival past it
        assert arrivals[-2] < min_duration_ns


def test_server_min_query_count_dominates() -> None:
    schedule = build_schedule(effective("Server", min_duration_ms=100, min_query_count=5000), loaded_set())
    assert schedule.scheduled_ns is not None
    assert schedule.n_queries == 5000
    assert schedule.scheduled_ns[-1] > 100_000_000


def test_server_count_capped_by_max_query_count() -> None:
    schedule = build_schedule(effective("Server", min_duration_ms=5000, max_query_count=123), loaded_set())
    assert schedule.scheduled_ns is not None
    assert schedule.n_queries == len(schedule.scheduled_ns) == 123


@pytest.mark.parametrize("seed", [0, OFFICIAL_SCHEDULE_SEED])
def test_server_arrivals_are_poisson_at_target_rate(seed: int) -> None:
    rate = 1000.0
    settings = effective("Server", server_target_qps=rate, min_duration_ms=20_000, schedule_rng_seed=seed)
    arrivals = build_schedule(settings, loaded_set()).scheduled_ns
    assert arrivals is not None
    empirical = len(arrivals) / (arrivals[-1] / 1e9)
    assert empirical == pytest.approx(rate, rel=0.03)
    gaps_s = np.diff(arrivals, prepend=0) / 1e9
    assert stats.kstest(gaps_s, "expon", args=(0, 1.0 / rate)).pvalue > 0.01


def test_poisson_arrivals_ties_only_from_ns_rounding() -> None:
    """Arrival times are rounded to whole ns, so two queries may share one (never go backwards)."""
    arrivals = poisson_arrivals_ns(1e5, 200_000, 3)
    assert np.all(np.diff(arrivals) >= 0)


# --- schedule size limit -------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"scenario": "Server", "server_target_qps": 1_000_000.0, "min_duration_ms": 600_000},
        {"scenario": "Offline", "offline_expected_qps": 1e9},
        {"scenario": "SingleStream", "single_stream_expected_latency_ns": 1, "min_duration_ms": 600_000},
        {"scenario": "MultiStream", "multi_stream_expected_latency_ns": 100, "min_duration_ms": 600_000},
    ],
)
def test_oversized_schedule_names_max_query_count(overrides: dict[str, Any]) -> None:
    scenario = overrides.pop("scenario")
    with pytest.raises(SettingsError) as caught:
        build_schedule(effective(scenario, **overrides), loaded_set())
    (problem,) = caught.value.problems
    assert "max_query_count" in problem
    assert scenario in problem


def test_a_count_above_the_trace_limit_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 64000000"):
        effective("Offline", min_query_count=MAX_SCHEDULED_SAMPLES + 1)


def test_schedule_limit_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schedule_module, "MAX_SCHEDULED_SAMPLES", 1000)
    loaded = loaded_set()
    assert build_schedule(effective("Offline", min_query_count=1000, min_duration_ms=0), loaded).n_samples == 1000
    with pytest.raises(SettingsError):
        build_schedule(effective("Offline", min_query_count=1001, min_duration_ms=0), loaded)
    with pytest.raises(SettingsError):  # MultiStream counts samples, not queries
        build_schedule(effective("MultiStream", min_query_count=126, min_duration_ms=0), loaded)


def test_max_query_count_makes_a_fast_rate_runnable() -> None:
    settings = effective("Offline", offline_expected_qps=1e9, min_duration_ms=600_000, max_query_count=1000)
    assert build_schedule(settings, loaded_set()).n_samples == 1000


def test_server_max_query_count_bounds_generation_memory() -> None:
    settings = effective("Server", server_target_qps=2e6, min_duration_ms=1000, max_query_count=100)
    tracemalloc.start()
    try:
        schedule = build_schedule(settings, loaded_set())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert schedule.n_queries == 100
    assert peak < 5_000_000


# --- loaded set ----------------------------------------------------------------------------


@hsettings(max_examples=60, deadline=None)
@given(total=st.integers(1, 3000), data=st.data(), seed=seeds)
def test_loaded_set_is_a_permutation_prefix(total: int, data: st.DataObject, seed: int) -> None:
    count = data.draw(st.integers(1, total), label="performance_sample_count")
    loaded = select_loaded_samples(total, count, seed)
    assert loaded.dtype == np.int64
    assert len(loaded) == count
    assert len(np.unique(loaded)) == count
    assert loaded.min() >= 0 and loaded.max() < total
    np.testing.assert_array_equal(select_loaded_samples(total, total, seed)[:count], loaded)


def test_full_loaded_set_is_a_permutation() -> None:
    loaded = select_loaded_samples(1000, 1000, OFFICIAL_QSL_SEED)
    np.testing.assert_array_equal(np.sort(loaded), np.arange(1000))
    assert not np.array_equal(loaded, np.arange(1000))
