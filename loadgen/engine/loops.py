"""Issues a schedule's queries to the SUT under the scenario's rules and records the trace.

SingleStream and MultiStream keep one query outstanding; Server issues each query at its
scheduled time whatever is outstanding (open loop); Offline issues one query holding every
sample. A run stops when min_duration and min_query_count are both met, when the schedule
ends, or at max_duration_ms; it never hangs: a stalled SUT ends it after sample_timeout_ms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.engine.clock import Clock, monotonic_ns, tight_timer_slack, wait_until
from loadgen.engine.query import SampleBatch, SystemUnderTest
from loadgen.engine.recorder import Recorder
from loadgen.engine.schedule import Schedule
from loadgen.engine.trace import Trace
from loadgen.engine.watch import flush, interruption, issue
from loadgen.errors import RunAborted
from loadgen.settings.model import Scenario, TestSettings

STOP_MET = "min_duration_ms and min_query_count met"


STOP_SCHEDULE_DONE = "every scheduled query issued"


STOP_MAX_DURATION = "max_duration_ms reached"


STOP_OUT_OF_QUERIES = "ran out of scheduled queries before min_duration_ms and min_query_count were met"


@dataclass
class RunRecord:
    """What the engine hands on: the issued part of the trace and how the run ended."""

    trace: Trace
    stop_reason: str
    error: RunAborted | None = None
    notes: list[str] = field(default_factory=list)
    logged_responses: dict[int, Any] | None = None


def response_log_mask(settings: TestSettings, n_samples: int) -> np.ndarray | bool:
    """Which sample rows of a performance run have their responses logged (seeded draw)."""
    if settings.accuracy_log_probability == 0:
        return False
    draws = np.random.default_rng(settings.accuracy_log_rng_seed).random(n_samples)
    return draws < settings.accuracy_log_probability


class Engine:
    """One timed run of a schedule against a SUT."""

    def __init__(
        self,
        sut: SystemUnderTest,
        schedule: Schedule,
        settings: TestSettings,
        clock: Clock = monotonic_ns,
        trace_folder: Path | None = None,
    ) -> None:
        """`trace_folder`: keep the trace's columns there as files (a crash then loses nothing)."""
        self.sut = sut
        self.schedule = schedule
        self.settings = settings
        self.trace = Trace.allocate(
            schedule.query_offsets, schedule.sample_index, settings.use_token_latencies, folder=trace_folder
        )
        if schedule.scheduled_ns is not None:
            self.trace.scheduled_ns[:] = schedule.scheduled_ns
        self.recorder = Recorder(self.trace, clock, keep_responses=response_log_mask(settings, len(self.trace)))
        self._clock = clock
        self._timeout_ns = settings.sample_timeout_ms * 1_000_000
        self._min_duration_ns = settings.min_duration_ms * 1_000_000
        self._max_duration_ns = (
            settings.max_duration_ms * 1_000_000 if settings.max_duration_ms is not None else None
        )

    def batch(self, lo: int, hi: int) -> SampleBatch:
        """Rows [lo, hi) as the batch the SUT sees (views, no copies)."""
        return SampleBatch(self.recorder.ids[lo:hi], self.schedule.sample_index[lo:hi], self.recorder, lo)

    def run(self) -> RunRecord:
        """Issue the whole schedule; errors and Ctrl-C end the run with what was recorded."""
        loops: dict[Scenario, Callable[[], str]] = {
            Scenario.SingleStream: self._one_outstanding,
            Scenario.MultiStream: self._one_outstanding,
            Scenario.Server: self._server,
            Scenario.Offline: self._offline,
        }
        error: RunAborted | None = None
        stop = "aborted"
        with tight_timer_slack():
            self.recorder.start()
            try:
                stop = loops[self.schedule.scenario]()
                flush(self.sut)
                self.recorder.wait_for(self.recorder.issued, self._timeout_ns)
            except RunAborted as exc:
                error = exc
            except KeyboardInterrupt:
                error = interruption(f"after {self.recorder.now() / 1e9:.1f} s")
        if error is not None:
            stop = f"aborted: {error}"
        return RunRecord(
            trace=self.trace.issued_part(), stop_reason=stop, error=error, logged_responses=self.recorder.responses
        )

    def _past_max_duration(self, now: int) -> bool:
        return self._max_duration_ns is not None and now >= self._max_duration_ns

    def _one_outstanding(self) -> str:
        """SingleStream/MultiStream: the next query is issued when the previous completes."""
        recorder, scheduled = self.recorder, self.trace.scheduled_ns
        min_queries = self.settings.min_query_count
        for query in range(self.schedule.n_queries):
            if query >= min_queries and recorder.last_completed_ns >= self._min_duration_ns:
                return STOP_MET
            if self._past_max_duration(recorder.now()):
                return STOP_MAX_DURATION
            lo, hi = recorder.open_queries(query, query + 1)
            batch = self.batch(lo, hi)
            now = recorder.now()  # as late as possible: the harness's own work is not the SUT's latency
            issue(self.sut, batch)
            scheduled[query] = now
            recorder.stamp_issued(query, query + 1, now)
            recorder.wait_for(hi, self._timeout_ns)
        if self.schedule.n_queries >= min_queries and recorder.last_completed_ns >= self._min_duration_ns:
            return STOP_MET
        return STOP_OUT_OF_QUERIES if self.settings.max_query_count is None else STOP_SCHEDULE_DONE

    def _server(self) -> str:
        """Server: open loop; each query goes out at its scheduled time, late or not."""
        scheduled = self.schedule.scheduled_ns
        assert scheduled is not None
        recorder = self.recorder
        t0 = recorder.start_ns
        n = len(scheduled)
        cap = self.settings.server_max_async_queries
        coalesce = self.settings.server_coalesce_queries
        query = 0
        while query < n:
            now = wait_until(t0 + int(scheduled[query]), self._clock) - t0
            if self._past_max_duration(now):
                return STOP_MAX_DURATION
            if recorder.error is not None:
                raise recorder.error
            end = query + 1
            if coalesce:
                end = max(end, int(scheduled.searchsorted(now, side="right")))
            if cap is not None and end - recorder.completed > cap:
                recorder.wait_for(end - cap, self._timeout_ns)
            lo, hi = recorder.open_queries(query, end)
            batch = self.batch(lo, hi)
            now = recorder.now()
            issue(self.sut, batch)
            recorder.stamp_issued(query, end, now)
            query = end
        return STOP_SCHEDULE_DONE

    def _offline(self) -> str:
        """Offline: one query holding every sample, issued at the start."""
        now = self.recorder.now()
        self.trace.scheduled_ns[:] = now
        lo, hi = self.recorder.mark_issued(0, 1, now)
        issue(self.sut, self.batch(lo, hi))
        return STOP_SCHEDULE_DONE
