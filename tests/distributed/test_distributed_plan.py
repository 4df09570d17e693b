"""Splitting one schedule across workers and merging their parts (no Ray needed: pure functions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.distributed.plan import Part, PartTrace, merge_parts, query_rows, split_schedule
from loadgen.engine.schedule import Schedule, build_schedule, select_loaded_samples
from loadgen.engine.trace import NOT_YET, Trace
from loadgen.errors import SettingsError
from loadgen.settings.model import Scenario, TestSettings


def server_schedule(qps: float = 2000.0, duration_ms: int = 500, seed: int = 7) -> Schedule:
    s = TestSettings(
        scenario=Scenario.Server, server_target_qps=qps, min_duration_ms=duration_ms, min_query_count=10,
        schedule_rng_seed=seed, sample_index_rng_seed=seed + 1,
    )
    return build_schedule(s, select_loaded_samples(1000, 256, 3))


def offline_schedule(samples: int = 1001) -> Schedule:
    s = TestSettings(scenario=Scenario.Offline, offline_expected_qps=1.0, min_duration_ms=1000, min_query_count=samples)
    return build_schedule(s, select_loaded_samples(1000, 300, 3))


def run_part(part: Part, shift_ns: int, stop_after: int | None = None) -> PartTrace:
    """What a worker that issued every query (or the first `stop_after`) would hand back:
    issue at the scheduled time, completion 1000 ns later, times from its own start."""
    trace = Trace.allocate(part.schedule.query_offsets, part.schedule.sample_index)
    if part.schedule.scheduled_ns is not None:
        trace.scheduled_ns[:] = part.schedule.scheduled_ns
        trace.issued_ns[:] = part.schedule.scheduled_ns - shift_ns
    else:
        trace.scheduled_ns[:] = trace.issued_ns[:] = 0
    trace.completed_ns[:] = trace.per_sample(trace.issued_ns) + 1000
    trace.response_size[:] = part.worker + 1
    if stop_after is not None:
        trace.issued_ns[stop_after:] = NOT_YET
    return PartTrace(part=part, trace=trace.issued_part(), shift_ns=shift_ns)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_server_merge_is_the_single_process_schedule_query_by_query(workers: int) -> None:
    schedule = server_schedule()
    parts = split_schedule(schedule, workers)
    merged = merge_parts(schedule, [run_part(p, shift_ns=100 * p.worker) for p in parts])
    np.testing.assert_array_equal(merged.query_offsets, schedule.query_offsets)
    np.testing.assert_array_equal(merged.scheduled_ns, schedule.scheduled_ns)
    np.testing.assert_array_equal(merged.sample_index, schedule.sample_index)
    # times come back on the common time base: issued at the scheduled time, completed 1 us later
    np.testing.assert_array_equal(merged.issued_ns, schedule.scheduled_ns)
    np.testing.assert_array_equal(merged.completed_ns, schedule.scheduled_ns + 1000)
    # round-robin: query q was worker q mod N's
    np.testing.assert_array_equal(merged.response_size, np.arange(schedule.n_queries) % workers + 1)


def test_each_server_query_goes_to_exactly_one_worker_at_its_scheduled_time() -> None:
    schedule = server_schedule()
    parts = split_schedule(schedule, 3)
    owners = np.concatenate([p.queries for p in parts])
    np.testing.assert_array_equal(np.sort(owners), np.arange(schedule.n_queries))
    for part in parts:
        assert part.schedule.scheduled_ns is not None
        np.testing.assert_array_equal(part.schedule.scheduled_ns, schedule.scheduled_ns[part.queries])


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_offline_is_cut_into_contiguous_slices_and_merged_back_as_one_query(workers: int) -> None:
    schedule = offline_schedule()
    parts = split_schedule(schedule, workers)
    rows = np.concatenate([p.rows for p in parts])
    np.testing.assert_array_equal(rows, np.arange(schedule.n_samples))
    sizes = [p.schedule.n_samples for p in parts]
    assert max(sizes) - min(sizes) <= 1
    merged = merge_parts(schedule, [run_part(p, shift_ns=500 * (p.worker + 1)) for p in parts])
    assert merged.n_queries == 1
    np.testing.assert_array_equal(merged.sample_index, schedule.sample_index)
    assert merged.issued_ns[0] == merged.scheduled_ns[0] == 500  # the first worker's issue
    np.testing.assert_array_equal(merged.completed_ns, 1000 + 500 * (merged.response_size.astype(np.int64)))


def test_a_worker_that_stopped_early_leaves_its_unissued_queries_out() -> None:
    schedule = server_schedule()
    parts = split_schedule(schedule, 2)
    merged = merge_parts(schedule, [run_part(parts[0], 0), run_part(parts[1], 0, stop_after=5)])
    expected = np.r_[parts[0].queries, parts[1].queries[:5]]
    expected.sort()
    np.testing.assert_array_equal(merged.scheduled_ns, schedule.scheduled_ns[expected])
    assert merged.n_queries == len(parts[0].queries) + 5
    assert (merged.completed_ns != NOT_YET).all()


def test_a_lost_part_keeps_the_other_workers_samples() -> None:
    schedule = server_schedule()
    parts = split_schedule(schedule, 3)
    merged = merge_parts(schedule, [run_part(parts[0], 0), run_part(parts[2], 0)])
    assert merged.n_queries == len(parts[0].queries) + len(parts[2].queries)
    assert set(np.unique(merged.response_size)) == {1, 3}


def test_single_stream_and_too_many_workers_are_refused() -> None:
    s = TestSettings(scenario=Scenario.SingleStream, single_stream_expected_latency_ns=1_000_000, min_duration_ms=10)
    with pytest.raises(SettingsError, match="single stream by definition"):
        split_schedule(build_schedule(s, select_loaded_samples(100, 100, 0)), 2)
    with pytest.raises(SettingsError, match="allowed: 1 to 5"):
        split_schedule(offline_schedule(samples=5), 6)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 4), min_size=0, max_size=30),
    data=st.data(),
)
def test_query_rows_are_the_rows_of_those_queries(sizes: list[int], data: st.DataObject) -> None:
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    queries = np.array(data.draw(st.lists(st.integers(0, max(len(sizes) - 1, 0)), max_size=10)) if sizes else [],
                       dtype=np.int64)
    expected = [row for q in queries for row in range(offsets[q], offsets[q + 1])]
    assert query_rows(offsets, queries).tolist() == expected


@settings(max_examples=25, deadline=None)
@given(
    qps=st.floats(50, 5000),
    seed=st.integers(0, 2**32),
    workers=st.integers(1, 7),
    stops=st.lists(st.integers(0, 400), min_size=7, max_size=7),
)
def test_any_split_merges_back_to_the_issued_queries_in_schedule_order(
    qps: float, seed: int, workers: int, stops: list[int]
) -> None:
    schedule = server_schedule(qps=qps, duration_ms=200, seed=seed)
    workers = min(workers, schedule.n_queries)
    parts = split_schedule(schedule, workers)
    merged = merge_parts(schedule, [run_part(p, 0, stop_after=stops[p.worker]) for p in parts])
    kept = np.sort(np.concatenate([p.queries[: stops[p.worker]] for p in parts]))
    np.testing.assert_array_equal(merged.scheduled_ns, schedule.scheduled_ns[kept])
    np.testing.assert_array_equal(merged.sample_index, schedule.sample_index[kept])


@pytest.mark.parametrize("schedule", [server_schedule(), offline_schedule()], ids=["server", "offline"])
def test_no_part_at_all_merges_to_an_empty_trace(schedule: Schedule) -> None:
    merged = merge_parts(schedule, [])
    assert merged.n_queries == 0 and len(merged) == 0
