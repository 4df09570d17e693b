"""A worker's trace part, streamed to the driver while it runs, so a worker that dies keeps its part.

Every PROGRESS_INTERVAL_S the driver asks each running worker for what it recorded since
the last answer (`take_progress`, in the worker) and writes it into its own copy of that
worker's part (`PartStream`, in the driver). An answer carries a window of sample rows:
from the first row not yet answered when the driver last asked, to the last answered row
of the queries issued so far. Rows below the window are answered and were sent before, so each answer costs
about the samples completed in the interval plus those still outstanding, and asking again
with the same `low` is harmless. A worker that dies loses at most what it recorded since
its last answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loadgen.distributed.plan import Part
from loadgen.engine.recorder import Recorder
from loadgen.engine.trace import NOT_YET, Trace

PROGRESS_INTERVAL_S = 0.5
"""How often the driver asks each worker for its progress: the most a dead worker's part can miss."""


@dataclass(frozen=True)
class Progress:
    """A window of a worker's part: sample rows [low, low + len(completed_ns)) and queries
    [query_lo, query_lo + len(issued_ns)); `next_low` is where the next window starts.
    `shift_ns` is how far the worker's start lay after the common instant (None before it
    started); `stuck` is the worker's issue watch's finding, if it fired."""

    low: int
    next_low: int
    query_lo: int
    issued_ns: np.ndarray
    completed_ns: np.ndarray
    response_size: np.ndarray
    first_token_ns: np.ndarray
    token_count: np.ndarray
    shift_ns: int | None
    stuck: str | None = None

    @classmethod
    def nothing(cls, low: int, stuck: str | None = None) -> Progress:
        """No new rows (the part has not started)."""
        empty = np.zeros(0, dtype=np.int64)
        return cls(low, low, 0, empty, empty, empty.astype(np.int32), empty, empty.astype(np.int32), None, stuck)


def take_progress(recorder: Recorder, low: int, shift_ns: int, stuck: str | None = None) -> Progress:
    """The rows of `recorder`'s trace from `low` to the end of the queries whose issue is stamped.

    Taken under the recorder's lock, so a completion's time and size are seen together. A
    query still inside issue_query is left for the next answer, and `next_low` never passes
    an unanswered row, so every row is sent at least once after it is final."""
    trace = recorder.trace
    offsets = trace.query_offsets
    with recorder._lock:
        query_lo = int(np.searchsorted(offsets, low, side="right")) - 1
        stamped = trace.issued_ns[query_lo : recorder.issued_queries] != NOT_YET
        query_hi = query_lo + (int(np.argmin(stamped)) if not stamped.all() else stamped.size)
        high = max(int(offsets[query_hi]), low)
        completed = trace.completed_ns[low:high]
        answered = completed != NOT_YET
        if recorder._failed is not None:
            answered |= recorder._failed[low:high]
        done = np.flatnonzero(answered)
        tail = low + int(done[-1]) + 1 if done.size else low  # unanswered rows at the end carry nothing
        window = slice(low, tail)
        completed, sizes = completed[: tail - low].copy(), trace.response_size[window].copy()
        issued = trace.issued_ns[query_lo:query_hi].copy()
    tokens = trace.has_tokens
    unanswered = np.flatnonzero(~answered)
    return Progress(
        low=low,
        next_low=low + int(unanswered[0]) if unanswered.size else high,
        query_lo=query_lo,
        issued_ns=issued,
        completed_ns=completed,
        response_size=sizes,
        first_token_ns=trace.first_token_ns[window].copy() if tokens else np.zeros(0, dtype=np.int64),
        token_count=trace.token_count[window].copy() if tokens else np.zeros(0, dtype=np.int32),
        shift_ns=shift_ns,
        stuck=stuck,
    )


class PartStream:
    """The driver's copy of one worker's part, filled in from its Progress answers."""

    def __init__(self, part: Part, token_latencies: bool) -> None:
        schedule = part.schedule
        self.trace = Trace.allocate(schedule.query_offsets, schedule.sample_index, token_latencies)
        if schedule.scheduled_ns is not None:
            self.trace.scheduled_ns[:] = schedule.scheduled_ns
        self.low = 0
        self.shift_ns = 0
        self.answers = 0

    def apply(self, progress: Progress) -> None:
        """Write an answer's window in (an answer to an older `low` is written in just the same)."""
        lo, hi = progress.low, progress.low + len(progress.completed_ns)
        trace = self.trace
        trace.completed_ns[lo:hi] = progress.completed_ns
        trace.response_size[lo:hi] = progress.response_size
        if trace.has_tokens and progress.first_token_ns.size:
            trace.first_token_ns[lo:hi] = progress.first_token_ns
            trace.token_count[lo:hi] = progress.token_count
        trace.issued_ns[progress.query_lo : progress.query_lo + len(progress.issued_ns)] = progress.issued_ns
        if progress.shift_ns is not None:
            self.shift_ns = progress.shift_ns
        self.low = max(self.low, progress.next_low)
        self.answers += 1

    def received(self) -> Trace:
        """What arrived: the issued queries and their samples, as the worker's own record would hold."""
        return self.trace.issued_part()
