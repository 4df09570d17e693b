"""Issues a schedule's queries to the SUT under the scenario's rules and records the trace.

SingleStream and MultiStream keep one query outstanding; Server issues each query at its
scheduled time whatever is outstanding (open loop); Offline issues one query holding every
sample. A run stops when min_duration and min_query_count are both met, when the schedule
ends, or at max_duration_ms. It never hangs: when samples are outstanding and none completes
for sample_timeout_ms (issuing is not progress), the run ends; and once issuing has stopped,
the drain of what is outstanding is bounded by sample_timeout_ms, however steadily it goes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loadgen.engine.clock import tight_timer_slack
from loadgen.engine.context import RunContext
from loadgen.engine.query import SampleBatch, SystemUnderTest
from loadgen.engine.recorder import WAIT_SLICE_NS
from loadgen.engine.schedule import Schedule
from loadgen.engine.trace import Trace
from loadgen.engine.watch import issue
from loadgen.errors import RunAborted
from loadgen.settings.effective import EffectiveSettings
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
    failed_samples: dict[str, int] = field(default_factory=dict)
    """Samples the SUT reported failed (SampleBatch.fail), per reason."""
    run_policy: dict[str, Any] = field(default_factory=dict)
    """The interpreter's settings during the timed run (loadgen.benchmark.runner.timed_run_policy)."""


def response_log_mask(settings: TestSettings, n_samples: int) -> np.ndarray | bool:
    """Which sample rows of a performance run have their responses logged (seeded draw)."""
    if settings.accuracy_log_probability == 0:
        return False
    draws = np.random.default_rng(settings.accuracy_log_rng_seed).random(n_samples)
    return draws < settings.accuracy_log_probability


class Engine:
    """One timed run of a schedule against a SUT, sharing the run's context."""

    def __init__(
        self, sut: SystemUnderTest, schedule: Schedule, settings: EffectiveSettings, context: RunContext
    ) -> None:
        self.sut = sut
        self.schedule = schedule
        self.settings = settings
        self.context = context
        request = settings.settings
        self.trace = Trace.allocate(  # in the run's trace folder, when it has one: a crash then loses nothing
            schedule.query_offsets, schedule.sample_index, request.use_token_latencies, folder=context.trace_folder
        )
        if schedule.scheduled_ns is not None:
            self.trace.scheduled_ns[:] = schedule.scheduled_ns
        self.recorder = context.recorder_for(self.trace, keep_responses=response_log_mask(request, len(self.trace)))
        self._timeout_ns = settings.sample_timeout_ns
        self._max_duration_ns = settings.max_duration_ns
        max_ns = settings.max_duration_ns
        self._drain_at_max = None if max_ns is None else (max_ns + self._timeout_ns, STOP_MAX_DURATION)

    def batch(self, lo: int, hi: int) -> SampleBatch:
        """Rows [lo, hi) as the batch the SUT sees (views, no copies)."""
        return SampleBatch(self.recorder, self.schedule.sample_index, lo, hi)

    def run(self) -> RunRecord:
        """Issue the whole schedule, then drain; errors and Ctrl-C end the run with what was recorded."""
        loops: dict[Scenario, Callable[[], str]] = {
            Scenario.SingleStream: self._one_outstanding,
            Scenario.MultiStream: self._one_outstanding,
            Scenario.Server: self._server,
            Scenario.Offline: self._offline,
        }
        error: RunAborted | None = None
        stop = "aborted"
        with tight_timer_slack(), ExitStack() as observers:
            for observer in self.context.observers:
                observers.enter_context(observer(self))
            self.recorder.start()
            try:
                stop = loops[self.schedule.scenario]()
                self.context.flush(self.sut)
                self.recorder.wait_for(self.recorder.issued, self._timeout_ns, self._drain(stop))
            except RunAborted as exc:
                error = exc
            except KeyboardInterrupt:
                error = self.context.interruption(f"after {self.recorder.now() / 1e9:.1f} s")
        if error is not None:
            stop = f"aborted: {error}"
        return RunRecord(
            trace=self.trace.issued_part(),
            stop_reason=stop,
            error=error,
            logged_responses=self.recorder.responses,
            failed_samples=dict(self.recorder.failures),
        )

    def _drain(self, stop: str) -> tuple[int, str] | None:
        """The deadline for what is outstanding once issuing stopped: sample_timeout_ms after the
        last issue; Offline, whose one query is the whole run, only past max_duration_ms."""
        if self.schedule.scenario is Scenario.Offline:
            return self._drain_at_max
        return self.recorder.now() + self._timeout_ns, f"issuing stopped ({stop})"

    def _past_max_duration(self, now: int) -> bool:
        return self._max_duration_ns is not None and now >= self._max_duration_ns

    def _one_outstanding(self) -> str:
        """SingleStream/MultiStream: the next query is issued when the previous completes.

        Per query, plain ints only: the columns are written through memoryviews and the batch
        slices its numpy views only if the SUT asks for them (a numpy call on a one-element
        array costs about a microsecond; LoadGen's whole C++ loop takes a few)."""
        recorder, context, sut = self.recorder, self.context, self.sut
        scheduled, sample_index = self.trace.scheduled_ns.data, self.schedule.sample_index
        min_queries, min_duration_ns = self.settings.min_query_count, self.settings.min_duration_ns
        max_ns, timeout_ns, drain = self._max_duration_ns, self._timeout_ns, self._drain_at_max
        clock, t0, watch = recorder.clock_ns, recorder.start_ns, context.watch
        for query in range(self.schedule.n_queries):
            if query >= min_queries and recorder.last_completed_ns >= min_duration_ns:
                return STOP_MET
            if max_ns is not None and clock() - t0 >= max_ns:
                return STOP_MAX_DURATION
            lo, hi = recorder.open_queries(query, query + 1)
            batch = SampleBatch(recorder, sample_index, lo, hi)
            stamp = clock()  # as late as possible: the harness's own work is not the SUT's latency
            issue(sut, batch, watch, stamp)
            now = stamp - t0
            scheduled[query] = now
            recorder.stamp_issued(query, query + 1, now)
            if recorder.completed < hi or recorder.error is not None:  # a SUT that answered in the call waits not
                recorder.wait_for(hi, timeout_ns, drain)
        if self.schedule.n_queries >= min_queries and recorder.last_completed_ns >= min_duration_ns:
            return STOP_MET
        return STOP_OUT_OF_QUERIES if self.settings.max_query_count is None else STOP_SCHEDULE_DONE

    def _wait_to_issue(self, due_ns: int) -> int:
        """Wait for a query's scheduled time (run time); across a long gap, wake every slice to
        end the run at once on a breach, a stalled SUT or max_duration_ms. Returns the time."""
        recorder, clock, t0 = self.recorder, self.context.clock, self.recorder.start_ns
        now = recorder.now()
        while due_ns - now > WAIT_SLICE_NS and not self._past_max_duration(now):
            recorder.check(now, self._timeout_ns)
            now = clock.wait_until(t0 + now + WAIT_SLICE_NS) - t0
        if self._past_max_duration(now):
            return now
        return clock.wait_until(t0 + due_ns) - t0

    def _server(self) -> str:
        """Server: open loop; each query goes out at its scheduled time, late or not."""
        scheduled = self.schedule.scheduled_ns
        assert scheduled is not None
        recorder, timeout_ns, max_ns = self.recorder, self._timeout_ns, self._max_duration_ns
        due_ns = scheduled.data  # plain ints per query, no numpy scalar
        n = len(scheduled)
        cap = self.settings.max_async_queries
        coalesce = self.settings.coalesce_queries
        query = 0
        while query < n:
            now = self._wait_to_issue(due_ns[query])
            if max_ns is not None and now >= max_ns:
                return STOP_MAX_DURATION
            recorder.check(now, timeout_ns)
            end = query + 1
            if coalesce:
                end = max(end, int(scheduled.searchsorted(now, side="right")))
            if cap is not None and end - recorder.completed > cap:
                recorder.wait_for(end - cap, timeout_ns, self._drain_at_max)
            lo, hi = recorder.open_queries(query, end)
            batch = self.batch(lo, hi)
            stamp = recorder.clock_ns()
            self.context.issue(self.sut, batch, stamp)
            recorder.stamp_issued(query, end, stamp - recorder.start_ns)
            query = end
        return STOP_SCHEDULE_DONE

    def _offline(self) -> str:
        """Offline: one query holding every sample, issued at the start."""
        now = self.recorder.now()
        self.trace.scheduled_ns[:] = now
        lo, hi = self.recorder.mark_issued(0, 1, now)
        self.context.issue(self.sut, self.batch(lo, hi))
        return STOP_SCHEDULE_DONE
