"""A worker's part streamed to the driver (loadgen.distributed.stream), without Ray: whatever the
order of issues, completions, failures and progress answers, the driver's copy ends equal to
the worker's own record, and an answer never resends what was final before it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.distributed.plan import Part, split_schedule
from loadgen.distributed.stream import PartStream, take_progress
from loadgen.engine.clock import FakeClock
from loadgen.engine.recorder import Recorder
from loadgen.engine.schedule import Schedule
from loadgen.engine.trace import NOT_YET, Trace
from loadgen.settings.model import Scenario

STEPS = st.lists(st.tuples(st.sampled_from(["issue", "open", "complete", "fail", "ask"]), st.integers(0, 10**6)),
                 max_size=120)


def part_of(sizes: list[int], offline: bool = False) -> Part:
    """Worker 0's part, dealt to 2 workers, of a Server schedule of queries with these sample
    counts, or of an Offline schedule's one query holding as many samples as they add up to."""
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    if offline:
        offsets = offsets[[0, -1]]
    schedule = Schedule(
        scenario=Scenario.Offline if offline else Scenario.Server, loaded_indices=np.arange(8), query_offsets=offsets,
        sample_index=np.arange(int(offsets[-1])) % 8,
        scheduled_ns=None if offline else np.arange(len(sizes), dtype=np.int64) * 1000,
    )
    return split_schedule(schedule, 2)[0]


def assert_same(a: Trace, b: Trace) -> None:
    for name in ("query_offsets", "scheduled_ns", "issued_ns", "sample_index", "completed_ns", "response_size"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(sizes=st.lists(st.integers(1, 3), min_size=2, max_size=40), offline=st.booleans(), steps=STEPS)
def test_the_drivers_copy_ends_equal_to_the_workers_record(
    sizes: list[int], offline: bool, steps: list[tuple[str, int]]
) -> None:
    part = part_of(sizes, offline)
    clock = FakeClock(step_ns=7)
    trace = Trace.allocate(part.schedule.query_offsets, part.schedule.sample_index)
    if part.schedule.scheduled_ns is not None:
        trace.scheduled_ns[:] = part.schedule.scheduled_ns
    recorder = Recorder(trace, clock)
    stream = PartStream(part, token_latencies=False)
    issued, opened = 0, False  # queries issued; whether the next one is inside issue_query (opened, unstamped)
    for action, pick in steps:
        outstanding = np.flatnonzero(trace.completed_ns[: recorder.issued] == NOT_YET)
        if recorder._failed is not None:
            outstanding = outstanding[~recorder._failed[outstanding]]
        if action in ("issue", "open") and issued < trace.n_queries and not opened:
            recorder.open_queries(issued, issued + 1)
            opened = True
        if action == "issue" and opened:
            recorder.stamp_issued(issued, issued + 1, recorder.now())
            issued, opened = issued + 1, False
        if action == "complete" and outstanding.size:
            recorder.complete(int(outstanding[pick % outstanding.size]) + 1, sizes=pick % 100)
        if action == "fail" and outstanding.size:
            recorder.fail_samples(int(outstanding[pick % outstanding.size]) + 1, "refused")
        if action == "ask":
            low_before = stream.low
            progress = take_progress(recorder, stream.low, shift_ns=5)
            assert progress.low == low_before and progress.next_low >= low_before
            stamped_rows = int(trace.query_offsets[issued])  # the window ends within the stamped queries
            assert progress.low + len(progress.completed_ns) <= max(stamped_rows, low_before)
            stream.apply(progress)
    assert recorder.error is None
    stream.apply(take_progress(recorder, stream.low, shift_ns=5))
    assert stream.shift_ns == 5
    assert_same(stream.received(), trace.issued_part())  # a query still inside issue_query is in neither


def test_an_answer_covers_only_rows_not_yet_final() -> None:
    """Rows all answered in order: each answer carries only what changed since the last."""
    part = part_of([1] * 20)
    trace = Trace.allocate(part.schedule.query_offsets, part.schedule.sample_index)
    trace.scheduled_ns[:] = part.schedule.scheduled_ns
    recorder = Recorder(trace, FakeClock(step_ns=3))
    stream = PartStream(part, token_latencies=False)
    windows = []
    for query in range(trace.n_queries):
        recorder.mark_issued(query, query + 1, recorder.now())
        recorder.complete(query + 1)
        progress = take_progress(recorder, stream.low, shift_ns=0)
        windows.append((progress.low, len(progress.completed_ns), len(progress.issued_ns)))
        stream.apply(progress)
    assert windows == [(q, 1, 1) for q in range(trace.n_queries)]
    assert_same(stream.received(), trace.issued_part())
