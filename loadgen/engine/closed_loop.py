"""Queries issued one after another from a private trace: the pilot, warm-up and accuracy runs."""

from __future__ import annotations

import numpy as np

from loadgen.engine.context import RunContext
from loadgen.engine.query import SampleBatch, SystemUnderTest
from loadgen.engine.trace import Trace


class ClosedLoop:
    """Issues runs of `indices` in order, waiting for each query before the next."""

    def __init__(
        self, sut: SystemUnderTest, indices: np.ndarray, context: RunContext, keep_responses: bool = False
    ) -> None:
        self.sut = sut
        self.indices = indices
        self.context = context
        # One query per sample row, so a query of any size is a run of rows.
        trace = Trace.allocate(np.arange(len(indices) + 1), indices)
        self.recorder = context.recorder_for(trace, keep_responses=keep_responses)
        self.timeout_ns = context.sample_timeout_ns
        self.samples = 0
        self.queries = 0
        self.recorder.start()

    def has_room(self, size: int) -> bool:
        return self.samples + size <= len(self.indices)

    def query(self, size: int) -> int:
        """Issue the next `size` samples as one query, wait for it, return its latency in ns."""
        lo, hi = self.samples, self.samples + size
        recorder = self.recorder
        begin = recorder.now()
        recorder.mark_issued(lo, hi, begin)
        self.context.issue(self.sut, SampleBatch(recorder, self.indices, lo, hi))
        recorder.wait_for(hi, self.timeout_ns)
        self.samples, self.queries = hi, self.queries + 1
        return max(recorder.now() - begin, 1)

    def repeat(self, size: int, duration_ns: int) -> float:
        """Queries of `size` back to back for `duration_ns`; mean latency per query in ns."""
        while self.has_room(size) and (self.queries == 0 or self.recorder.now() < duration_ns):
            self.query(size)
        return self.recorder.now() / max(self.queries, 1)
