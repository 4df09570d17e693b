"""The run context: what the parts of one benchmark share, passed to each where it is needed.

As locust's Environment wires its runner and stats, one `RunContext` carries a run's clock,
the recorder of the phase under way (pilot, warm-up, accuracy pass or timed run), the issue
watch, the observers of the timed run, and the first protocol breach of any phase, kept until
the result is computed. Nothing of a run lives at module level, and the process-wide hooks
(`threading.excepthook`, the watch's thread) are installed by `active()` for the run only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from loadgen.engine.clock import Clock
from loadgen.engine.query import SampleBatch, SystemUnderTest
from loadgen.engine.recorder import Recorder
from loadgen.engine.trace import Trace
from loadgen.engine.watch import IssueWatch, flush, issue, thread_error_hook
from loadgen.errors import Interrupted, RunAborted, SampleTimeout

if TYPE_CHECKING:
    from loadgen.engine.loops import Engine

SETTLE_NS = 20_000_000
"""After the last completion, breaches are still watched for this long before the run is
closed: a SUT thread that raises, or completes a sample again, just after flush_queries is
caught, not let through as VALID."""

Observer = Callable[["Engine"], AbstractContextManager[None]]
"""Watches a timed run (a progress line, a readiness line); gets the engine before it starts."""


@dataclass(eq=False)
class RunContext:
    """One benchmark's shared state; `sample_timeout_ns` bounds stalls, drains and SUT calls."""

    sample_timeout_ns: int
    clock: Clock = field(default_factory=Clock)
    observers: Sequence[Observer] = ()
    recorder: Recorder | None = None
    watch: IssueWatch | None = None
    breach: RunAborted | None = None
    trace_folder: Path | None = None
    """Where the timed run's trace columns live as files (loadgen.engine.trace), if anywhere."""
    _breached: threading.Event = field(default_factory=threading.Event, repr=False)

    def recorder_for(self, trace: Trace, keep_responses: bool | np.ndarray = False) -> Recorder:
        """A recorder for the next phase, made the active one; a breach already recorded in an
        earlier phase (a SUT thread that died between phases) fails it at once."""
        recorder = Recorder(trace, self.clock, keep_responses, on_breach=self._note_breach)
        if self.breach is not None:
            recorder.fail(self.breach)
        self.recorder = recorder
        return recorder

    def _note_breach(self, error: RunAborted) -> None:
        if self.breach is None:
            self.breach = error
            self._breached.set()

    def _thread_error(self, error: RunAborted) -> None:
        """A SUT thread raised: the active phase ends at once; the run keeps the reason to the end."""
        self._note_breach(error)
        if self.recorder is not None:
            self.recorder.fail(error)

    def issue(self, sut: SystemUnderTest, batch: SampleBatch, since_ns: int | None = None) -> None:
        """Hand a batch to the SUT under the issue watch (when armed); `since_ns`: the clock time
        of the call, when the caller has just read it."""
        issue(sut, batch, self.watch, since_ns)

    def flush(self, sut: SystemUnderTest) -> None:
        flush(sut)

    def _last_completion(self) -> int:
        recorder = self.recorder
        return recorder.last_completion_abs() if recorder is not None else 0

    @contextmanager
    def active(self) -> Iterator[RunContext]:
        """Install the run's hooks, restoring what was there after: SUT thread errors, and (on
        the main thread, which it interrupts) the issue watch."""
        previous: Callable[[threading.ExceptHookArgs], object] = threading.excepthook
        threading.excepthook = thread_error_hook(self._thread_error, previous)
        if threading.current_thread() is threading.main_thread():
            self.watch = IssueWatch(self.sample_timeout_ns, self.clock, self._last_completion)
            self.watch.start()
        try:
            yield self
        finally:
            if self.watch is not None:
                self.watch.stop()
            threading.excepthook = previous

    def close(self) -> RunAborted | None:
        """The end of the run, before its result is computed: after SETTLE_NS more of watching for
        breaches, the active recorder takes nothing more, and the first breach recorded in any
        phase, however late, is returned."""
        if self.recorder is not None:
            if self.breach is None:
                self.clock.wait(self._breached, SETTLE_NS)
            self.recorder.close()
        return self.breach

    def interruption(self, during: str) -> RunAborted:
        """What a KeyboardInterrupt means: the issue watch firing, or the user pressing Ctrl-C."""
        if self.watch is not None and self.watch.fired:
            seconds = self.watch.timeout_ns / 1e9
            return SampleTimeout(
                f"the SUT's issue_query did not return, and completed nothing, for {seconds:g} s (sample_timeout_ms)"
            )
        return Interrupted(f"interrupted by the user {during}")
