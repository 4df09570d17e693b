"""Calls into the SUT, the watch that ends a SUT call that never returns, and SUT thread errors."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

from loadgen.engine.clock import Clock
from loadgen.engine.query import SampleBatch, SystemUnderTest
from loadgen.errors import RunAborted, SutError

WATCH_INTERVAL_S = 0.05
"""How often the issue watch looks at a SUT call in progress."""


class IssueWatch:
    """Ends a SUT call that never returns: when the SUT has been inside issue_query and has
    completed nothing for the timeout, it interrupts the main thread, and the interruption
    is reported as a SampleTimeout, not as Ctrl-C. A long call that keeps completing samples
    (an Offline batch run in the caller's thread) is left alone."""

    def __init__(self, timeout_ns: int, clock: Clock, last_completion: Callable[[], int]) -> None:
        """`last_completion` gives the clock time of the phase's latest completion."""
        self.timeout_ns = timeout_ns
        self.clock = clock
        self.since: int | None = None
        self.fired = False
        self._last_completion = last_completion
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loadgen-issue-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        now_ns = self.clock.now_ns
        while not self.clock.pause(self._done, WATCH_INTERVAL_S):
            since = self.since
            if since is not None and now_ns() - max(since, self._last_completion()) > self.timeout_ns:
                self.fired = True
                self.fire()
                return

    def fire(self) -> None:
        """End the stuck call: a real signal to the main thread, so that a SUT blocked in a system
        call (a sleep, a socket) wakes; a watch of a run off the main thread does otherwise."""
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def issue(sut: SystemUnderTest, batch: SampleBatch, watch: IssueWatch | None, since_ns: int | None = None) -> None:
    """Hand a batch to the SUT; its exceptions become SutError at this boundary. `since_ns`:
    the clock time of the call, when the caller has just read it (the issue stamp)."""
    if watch is not None:
        watch.since = watch.clock.now_ns() if since_ns is None else since_ns
    try:
        sut.issue_query(batch)
    except Exception as exc:
        raise SutError(f"the SUT raised {type(exc).__name__} in issue_query: {exc}") from exc
    finally:
        if watch is not None:
            watch.since = None


def flush(sut: SystemUnderTest) -> None:
    """Tell the SUT no more queries follow in this series."""
    try:
        sut.flush_queries()
    except Exception as exc:
        raise SutError(f"the SUT raised {type(exc).__name__} in flush_queries: {exc}") from exc


def thread_error_hook(
    report: Callable[[RunAborted], None], previous: Callable[[threading.ExceptHookArgs], object]
) -> Callable[[threading.ExceptHookArgs], None]:
    """A `threading.excepthook` that reports a SUT thread's exception as a SutError, then hands
    it to the hook it replaces (which prints it)."""

    def hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread else "?"
        report(SutError(f"the SUT's thread {name!r} raised {args.exc_type.__name__}: {args.exc_value}"))
        previous(args)

    return hook
