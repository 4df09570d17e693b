"""The recorder's scalar paths (one sample, a few samples) and the batch's row accessors: the
same checks and the same trace as the vectorized path, with a caller's own completion stamp."""

from __future__ import annotations

import numpy as np
import pytest

from loadgen.engine.clock import FakeClock
from loadgen.engine.query import SampleBatch
from loadgen.engine.recorder import Recorder
from loadgen.engine.trace import NOT_YET, Trace


def _recorder(samples: int = 8, issued: int = 6) -> Recorder:
    trace = Trace.allocate(np.arange(samples + 1), np.arange(samples) % 3)
    recorder = Recorder(trace, FakeClock(start_ns=1_000))
    recorder.start()
    recorder.open_queries(0, issued)
    return recorder


def test_a_batch_of_rows_slices_its_views_on_demand() -> None:
    recorder = _recorder()
    batch = SampleBatch(recorder, recorder.trace.sample_index, 2, 5)
    assert (batch.first_row, batch.end_row) == (2, 5) and len(batch) == 3 and batch.phase is recorder
    assert batch.ids.tolist() == [3, 4, 5] and batch.indices.tolist() == [2, 0, 1]
    assert list(batch) == [(3, 2), (4, 0), (5, 1)]
    batch.complete()
    assert (recorder.trace.completed_ns[2:5] >= 0).all()


@pytest.mark.parametrize("path", ["sample", "few", "vectorized", "block"])
def test_each_path_writes_the_callers_stamp_and_the_size(path: str) -> None:
    recorder = _recorder()
    if path == "sample":
        recorder.complete_sample(2, 40, at_ns=9_000)
        rows = [1]
    elif path == "few":
        recorder.complete_few([2, 4], [40, 40], at_ns=9_000)
        rows = [1, 3]
    elif path == "vectorized":
        recorder.complete(np.array([2, 4]), np.array([40, 40]), at_ns=9_000)
        rows = [1, 3]
    else:
        recorder.complete_block(1, 2, 40, at_ns=9_000)
        rows = [1]
    assert recorder.error is None and recorder.completed == len(rows)
    assert recorder.trace.completed_ns[rows].tolist() == [8_000] * len(rows)
    assert recorder.trace.response_size[rows].tolist() == [40] * len(rows)
    assert recorder.last_completed_ns == 8_000


def _sample(recorder: Recorder, ids: list[int]) -> None:
    for sample_id in ids:
        recorder.complete_sample(sample_id, 0, at_ns=2_000)


@pytest.mark.parametrize("complete", [
    _sample,
    lambda recorder, ids: recorder.complete_few(ids, [0] * len(ids), at_ns=2_000),
    lambda recorder, ids: recorder.complete(np.asarray(ids), at_ns=2_000),
], ids=["sample", "few", "vectorized"])
@pytest.mark.parametrize(("ids", "words"), [
    ([7], "sample id 7, which was never issued"),
    ([0], "sample id 0, which was never issued"),
    ([-3], "never issued"),
    ([2, 2], "sample id 2 twice"),
])
def test_each_path_refuses_what_breaks_the_protocol(complete: object, ids: list[int], words: str) -> None:
    recorder = _recorder()
    complete(recorder, ids)  # type: ignore[operator]
    assert recorder.error is not None and words in str(recorder.error)
    if len(ids) == 2 and complete is not _sample:  # all or none: the call recorded nothing
        assert recorder.completed == 0 and recorder.trace.completed_ns[1] == NOT_YET


@pytest.mark.parametrize("path", ["sample", "few"])
def test_a_failed_sample_cannot_then_complete_on_the_scalar_paths(path: str) -> None:
    recorder = _recorder()
    recorder.fail_samples([3], "HTTP 503")
    if path == "sample":
        recorder.complete_sample(3, 0, at_ns=2_000)
    else:
        recorder.complete_few([1, 3], [0, 0], at_ns=2_000)
    assert recorder.error is not None and "sample id 3 twice" in str(recorder.error)


def test_the_scalar_paths_log_an_empty_response_when_the_phase_logs_responses() -> None:
    trace = Trace.allocate(np.arange(5), np.arange(4))
    recorder = Recorder(trace, FakeClock(), keep_responses=True)
    recorder.open_queries(0, 4)
    recorder.complete_sample(1, 0, at_ns=10)
    recorder.complete_few([2, 3], [0, 0], at_ns=10)
    assert recorder.responses == {0: b"", 1: b"", 2: b""}


def test_a_first_token_takes_the_callers_stamp() -> None:
    trace = Trace.allocate(np.arange(3), np.arange(2), token_latencies=True)
    recorder = Recorder(trace, FakeClock(start_ns=100))
    recorder.start()
    recorder.open_queries(0, 2)
    recorder.first_token([2], at_ns=700)
    assert recorder.trace.first_token_ns.tolist() == [NOT_YET, 600]


def test_a_completion_stamped_earlier_counts_as_progress_when_it_is_recorded() -> None:
    """The drop-in stamps a million responses on entry and records them chunk by chunk: the issue
    watch and the stall timeout see each chunk's recording, not the stamp, as the last progress."""
    clock = FakeClock(start_ns=1_000)
    recorder = Recorder(Trace.allocate(np.arange(5), np.arange(4)), clock)
    recorder.start()
    recorder.open_queries(0, 4)
    clock.advance(60_000)
    recorder.complete(np.array([1, 2]), at_ns=1_500)
    assert recorder.trace.completed_ns[:2].tolist() == [500, 500]
    assert recorder.last_completion_abs() >= 61_000 and recorder.stalled_for(recorder.now()) < 1_000
