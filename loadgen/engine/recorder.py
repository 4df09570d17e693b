"""Records completions into a trace from any thread, and lets the engine wait for them.

The hot path takes one lock, writes the trace columns in place and allocates nothing per
sample. One sample at a time (SingleStream, a drop-in SUT completing a few responses) goes
through memoryviews of the columns, with plain-int checks: a numpy call on a one-element
array costs about a microsecond, more than the whole scalar path.

Protocol breaches (an id never issued, a sample completed twice) do not raise in
the SUT's thread: they are recorded, and the engine ends the run with the reason. Once
closed, a recorder takes nothing more, so the trace a result is computed from stays as it is.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from loadgen.engine.clock import Clock
from loadgen.engine.trace import NOT_YET, Trace
from loadgen.errors import RunAborted, SampleTimeout, SutError

WAIT_SLICE_NS = 50_000_000
"""How often a waiting engine looks at errors and the stall timeout."""

NOBODY_WAITING = sys.maxsize


def response_nbytes(responses: Any, one: bool) -> int | list[int]:
    """Bytes of each response: a numpy row's nbytes, or a bytes-like object's length."""
    if one:
        return int(np.asarray(responses).nbytes) if isinstance(responses, np.ndarray) else len(responses)
    if isinstance(responses, np.ndarray):
        return int(responses[0].nbytes) if len(responses) else 0
    return [int(np.asarray(r).nbytes) if isinstance(r, np.ndarray) else len(r) for r in responses]


class Recorder:
    """Completion bookkeeping for one trace; times are ns since `start()`."""

    def __init__(
        self,
        trace: Trace,
        clock: Clock,
        keep_responses: bool | np.ndarray = False,
        on_breach: Callable[[RunAborted], None] | None = None,
    ) -> None:
        """`keep_responses`: True keeps every response (accuracy mode); a boolean mask per sample
        row keeps a sample of them (LoadGen's accuracy_log_probability in performance runs).
        `on_breach` hears of the first breach too (the run context keeps it to the end)."""
        self.trace = trace
        self.ids = np.arange(1, len(trace) + 1, dtype=np.int64)
        self._done_col = trace.completed_ns.data
        self._size_col = trace.response_size.data
        self._offsets = trace.query_offsets.data
        self._issued_col = trace.issued_ns.data
        self.completed = 0
        self.issued = 0
        self.issued_queries = 0
        self.error: RunAborted | None = None
        self.ignored_after_close = 0
        self._clock = clock.now_ns
        self.clock_ns: Callable[[], int] = clock.now_ns
        """The run clock's reading, for an adapter that stamps a completion on entry (`at_ns`)."""
        self._waits = clock
        self._on_breach = on_breach
        self.start_ns = self._clock()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._wake_at = NOBODY_WAITING
        self._open = 0  # rows that may complete: the issued ones, none once closed
        self._closed = False
        self._was_idle = True
        self._progress_ns = 0
        self.last_completed_ns = 0
        self.responses: dict[int, Any] | None = {} if np.any(keep_responses) else None
        self._keep_mask = keep_responses if isinstance(keep_responses, np.ndarray) else None
        self.failures: dict[str, int] = {}
        """Samples the SUT reported failed, counted per reason; they are answered, not completed."""
        self._failed: np.ndarray | None = None
        """Which rows failed; allocated at the first failure, so runs without any pay nothing."""

    def start(self) -> int:
        """Make now the zero of the run's times; returns the absolute start."""
        self.start_ns = self._clock()
        return self.start_ns

    def last_completion_abs(self) -> int:
        """Clock time of the last completion recorded (or of the start), for the issue watch on its
        thread: a completion stamped on entry but recorded later counts from its recording."""
        return self.start_ns + max(self.last_completed_ns, self._progress_ns)

    def close(self) -> None:
        """Take nothing more: later completions and breaches are counted in `ignored_after_close`
        and leave the trace as it is, so figures, verdict and saved trace all see the same rows."""
        with self._lock:
            self._closed = True
            self._open = 0
        self._wake.set()

    def now(self) -> int:
        """Nanoseconds since the start of timing."""
        return self._clock() - self.start_ns

    def open_queries(self, first_query: int, end_query: int) -> tuple[int, int]:
        """Queries [first, end) are about to go to the SUT, in order: their samples may now be
        completed. Returns their sample rows. Times are written by `stamp_issued`."""
        lo, hi = self._offsets[first_query], self._offsets[end_query]
        self._was_idle = self.completed >= self.issued
        if not self._closed:
            self._open = hi
        self.issued, self.issued_queries = hi, end_query
        return lo, hi

    def stamp_issued(self, first_query: int, end_query: int, now_ns: int) -> None:
        """Record the issue time of queries [first, end), taken just before the SUT was called.

        Issuing is not progress: the stall timeout runs from the last completion, or from
        this issue when the SUT had nothing outstanding before it."""
        if end_query - first_query == 1:
            self._issued_col[first_query] = now_ns
        else:
            self.trace.issued_ns[first_query:end_query] = now_ns
        if self._was_idle:
            self._progress_ns = max(self._progress_ns, now_ns)

    def mark_issued(self, first_query: int, end_query: int, now_ns: int) -> tuple[int, int]:
        """open_queries and stamp_issued at once, for loops where the order does not matter."""
        rows = self.open_queries(first_query, end_query)
        self.stamp_issued(first_query, end_query, now_ns)
        return rows

    def fail(self, error: RunAborted) -> None:
        """Record the first protocol breach and wake the engine (after `close`, only count it)."""
        if self._closed:
            self.ignored_after_close += 1
            return
        if self.error is None:
            self.error = error
            if self._on_breach is not None:
                self._on_breach(error)
        self._wake.set()

    def complete(
        self,
        ids: int | Sequence[int] | np.ndarray,
        sizes: int | Sequence[int] | np.ndarray | None = None,
        responses: Any = None,
        n_tokens: int | Sequence[int] | np.ndarray | None = None,
        at_ns: int | None = None,
    ) -> None:
        """Completion from the SUT: one id or many, with optional response sizes in bytes and
        responses (one per id: bytes or a numpy row), which are kept only when logging.
        `at_ns`: the completion time (a `clock_ns` reading) when the caller stamped it itself."""
        now = (self._clock() if at_ns is None else at_ns) - self.start_ns
        if isinstance(ids, (int, np.integer)):
            if responses is not None and sizes is None:
                sizes = response_nbytes(responses, True)
            row = int(ids) - 1
            if self._complete_one(row, now, sizes):
                self._after([row], row, [responses] if responses is not None else None, n_tokens)
            return
        if responses is not None and sizes is None:
            sizes = response_nbytes(responses, False)
        rows = np.asarray(ids, dtype=np.int64).ravel() - 1
        if rows.size and self._complete_many(rows, now, sizes):
            self._after(rows.tolist() if self.responses is not None else rows, rows, responses, n_tokens)
            if at_ns is not None:  # stamped on entry of a long call: recording it is progress too
                self._progress_ns = max(self._progress_ns, self._clock() - self.start_ns)

    def complete_block(
        self, lo: int, hi: int, sizes: Any = None, responses: Any = None, n_tokens: Any = None,
        at_ns: int | None = None,
    ) -> None:
        """The fast path: a whole batch, rows [lo, hi), checked and written as one slice."""
        now = (self._clock() if at_ns is None else at_ns) - self.start_ns
        if responses is not None and sizes is None:
            sizes = response_nbytes(responses, False)
        trace = self.trace
        with self._lock:
            if hi > self._open:
                self.fail(SutError(f"the SUT completed sample id {hi}, which was never issued"))
                return
            if hi - lo == 1:  # one sample (SingleStream): no numpy call on one-element arrays
                if self._done_col[lo] != NOT_YET or self._any_failed(lo, hi):
                    self.fail(SutError(f"the SUT completed sample id {hi} twice"))
                    return
                self._done_col[lo] = now
            else:
                block = trace.completed_ns[lo:hi]
                if bool((block != NOT_YET).any()) or self._any_failed(lo, hi):
                    twice = lo + 1 + int(np.argmax(block != NOT_YET))
                    self.fail(SutError(f"the SUT completed sample id {twice} twice"))
                    return
                block[:] = now
            if sizes is not None:
                trace.response_size[lo:hi] = sizes
            self._count(hi - lo, now)
        if self.responses is not None or n_tokens is not None:
            self._after(range(lo, hi), slice(lo, hi), responses, n_tokens)

    def _after(self, rows: Sequence[int] | np.ndarray, index: Any, responses: Any, n_tokens: Any) -> None:
        """What follows a good completion: responses kept for logging, token counts."""
        if self.responses is not None and self.error is None:
            self._keep(rows, responses)
        if n_tokens is not None and self.trace.token_count.size:
            self.trace.token_count[index] = n_tokens

    def first_token(self, ids: int | Sequence[int] | np.ndarray, at_ns: int | None = None) -> None:
        """Time to first token, for runs that measure token latencies (ignored otherwise)."""
        now = (self._clock() if at_ns is None else at_ns) - self.start_ns
        if not self.trace.first_token_ns.size:
            return
        rows = np.atleast_1d(np.asarray(ids, dtype=np.int64)) - 1
        if rows.size and (rows.min() < 0 or rows.max() >= self._open):
            self.fail(SutError(f"the SUT reported a first token for sample id {int(rows.max()) + 1}, never issued"))
            return
        self.trace.first_token_ns[rows] = now

    def _keep(self, rows: Sequence[int] | np.ndarray, responses: Any) -> None:
        """Accuracy logging: a copy of each (sampled) response by sample row, so a SUT may reuse
        its buffers; a sample completed without a response is logged empty, as LoadGen does."""
        given = [b""] * len(rows) if responses is None else responses
        mask = self._keep_mask
        for row, response in zip(rows, given, strict=False):
            if mask is None or mask[row]:
                self.responses[row] = response.copy() if isinstance(response, np.ndarray) else bytes(response)  # type: ignore[index]

    def complete_sample(self, sample_id: int, size: int, at_ns: int) -> None:
        """`complete_few` of one sample (SingleStream through the drop-in API): a plain-int id,
        a size in int32 range, completed at `at_ns`; no numpy call unless a sample failed."""
        now, row = at_ns - self.start_ns, sample_id - 1
        with self._lock:
            if not 0 <= row < self._open:
                return self.fail(SutError(f"the SUT completed sample id {sample_id}, which was never issued"))
            if self._done_col[row] != NOT_YET or (self._failed is not None and self._failed[row]):
                return self.fail(SutError(f"the SUT completed sample id {sample_id} twice"))
            self._done_col[row] = now
            self._size_col[row] = size
            self.completed += 1
            self._progress_ns = self.last_completed_ns = now
            if self.completed >= self._wake_at:
                self._wake.set()
        if self.responses is not None and self.error is None:
            self._keep([row], None)

    def complete_few(self, ids: Sequence[int], sizes: Sequence[int], at_ns: int) -> None:
        """The scalar path: a few samples (plain ints, sizes in int32 range, no responses or token
        counts), checked and written one row at a time, at `at_ns`; all or none are recorded."""
        now = at_ns - self.start_ns
        done, size_col, failed = self._done_col, self._size_col, self._failed
        with self._lock:
            for sample_id in ids:
                if not 0 < sample_id <= self._open:
                    return self.fail(SutError(f"the SUT completed sample id {sample_id}, which was never issued"))
                if done[sample_id - 1] != NOT_YET or (failed is not None and failed[sample_id - 1]):
                    return self.fail(SutError(f"the SUT completed sample id {sample_id} twice"))
            if len(ids) > 1 and len(set(ids)) < len(ids):
                twice = next(i for k, i in enumerate(ids) if i in ids[:k])
                return self.fail(SutError(f"the SUT completed sample id {twice} twice in one call"))
            for sample_id, size in zip(ids, sizes, strict=True):
                done[sample_id - 1] = now
                size_col[sample_id - 1] = size
            self._count(len(ids), now)
        if self.responses is not None and self.error is None:
            self._keep([sample_id - 1 for sample_id in ids], None)

    def _complete_one(self, row: int, now: int, size: object) -> bool:
        trace = self.trace
        with self._lock:
            if not 0 <= row < self._open:
                self.fail(SutError(f"the SUT completed sample id {row + 1}, which was never issued"))
                return False
            if self._done_col[row] != NOT_YET or self._any_failed(row, row + 1):
                self.fail(SutError(f"the SUT completed sample id {row + 1} twice"))
                return False
            self._done_col[row] = now
            if size is not None:
                trace.response_size[row] = size
            self._count(1, now)
        return True

    def _complete_many(self, rows: np.ndarray, now: int, sizes: object) -> bool:
        trace = self.trace
        with self._lock:
            problem = self._check_rows(rows)
            if problem:
                self.fail(SutError(problem))
                return False
            trace.completed_ns[rows] = now
            if sizes is not None:
                trace.response_size[rows] = sizes
            self._count(rows.size, now)
        return True

    def _check_rows(self, rows: np.ndarray) -> str | None:
        """Why a completion of these rows breaks the protocol, or None."""
        if rows.min() < 0 or rows.max() >= self._open:
            bad = rows[(rows < 0) | (rows >= self._open)][0]
            return f"the SUT completed sample id {bad + 1}, which was never issued"
        done = self.trace.completed_ns[rows] != NOT_YET
        if self._failed is not None:
            done |= self._failed[rows]
        if done.any():
            return f"the SUT completed sample id {rows[done][0] + 1} twice"
        if rows.size > 1 and not bool(np.all(rows[1:] > rows[:-1])):
            unique, counts = np.unique(rows, return_counts=True)
            if (counts > 1).any():
                return f"the SUT completed sample id {unique[counts > 1][0] + 1} twice in one call"
        return None

    def fail_samples(self, ids: int | Sequence[int] | np.ndarray, reason: str) -> None:
        """The SUT gave up on these samples: they count as answered, so nothing waits for them,
        but keep no completion time; `failures` counts them under `reason`."""
        now = self._clock() - self.start_ns
        rows = np.atleast_1d(np.asarray(ids, dtype=np.int64)).ravel() - 1
        if not rows.size:
            return
        with self._lock:
            problem = self._check_rows(rows)
            if problem:
                self.fail(SutError(f"reporting a failure ({reason}): {problem}"))
                return
            if self._failed is None:
                self._failed = np.zeros(len(self.trace), dtype=bool)
            self._failed[rows] = True
            self.failures[reason] = self.failures.get(reason, 0) + int(rows.size)
            self._count(int(rows.size), now)

    def _any_failed(self, lo: int, hi: int) -> bool:
        failed = self._failed
        if failed is None:
            return False
        return bool(failed[lo]) if hi - lo == 1 else bool(failed[lo:hi].any())

    def _count(self, n: int, now: int) -> None:
        self.completed += n
        self._progress_ns = now
        self.last_completed_ns = now
        if self.completed >= self._wake_at:
            self._wake.set()

    def stalled_for(self, now_ns: int) -> int:
        """How long samples have been outstanding with none completing (0 when none are outstanding)."""
        return now_ns - self._progress_ns if self.issued > self.completed else 0

    def check(self, now_ns: int, stall_timeout_ns: int) -> None:
        """Raise the first breach, or SampleTimeout when the SUT has completed nothing for the timeout."""
        if self.error is not None:
            raise self.error
        if self.stalled_for(now_ns) > stall_timeout_ns:
            raise SampleTimeout(
                f"{self.issued - self.completed} sample(s) outstanding and none completed for "
                f"{stall_timeout_ns / 1e6:.0f} ms (sample_timeout_ms): the SUT looks stuck"
            )

    def wait_for(self, target: int, stall_timeout_ns: int, drain: tuple[int, str] | None = None) -> None:
        """Block until `target` samples completed; raise on a breach or a stall.

        `drain` (a deadline in run time, and why the run stopped issuing) bounds the wait
        however steadily the SUT completes; past it, what is outstanding is reported."""
        with self._lock:
            if self.completed >= target and self.error is None:
                return
            self._wake_at = target
            self._wake.clear()
        try:
            self._wait(target, stall_timeout_ns, drain)
        finally:
            self._wake_at = NOBODY_WAITING  # completions need not signal until the next wait

    def _wait(self, target: int, stall_timeout_ns: int, drain: tuple[int, str] | None) -> None:
        deadline = drain[0] if drain is not None else sys.maxsize
        while True:
            now = self.now()
            self.check(now, stall_timeout_ns)
            if self.completed >= target:
                return
            if now >= deadline:
                assert drain is not None
                raise SampleTimeout(
                    f"{target - self.completed} of {target} sample(s) still outstanding {stall_timeout_ns / 1e6:.0f} ms"
                    f" (sample_timeout_ms) after {drain[1]}: the SUT is too slow to drain"
                )
            left = min(WAIT_SLICE_NS, stall_timeout_ns - self.stalled_for(now) + 100_000, deadline - now)
            self._waits.wait(self._wake, left)
