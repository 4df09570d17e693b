"""Calls into the SUT, and the watch that ends a SUT call that never returns."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from loadgen.engine.clock import Clock, monotonic_ns
from loadgen.engine.query import SampleBatch, SystemUnderTest
from loadgen.engine.recorder import ACTIVE_RECORDER
from loadgen.errors import Interrupted, RunAborted, SampleTimeout, SutError


class IssueWatch:
    """Ends a SUT call that never returns: when the SUT has been inside issue_query and has
    completed nothing for the timeout, it interrupts the main thread, and the interruption
    is reported as a SampleTimeout, not as Ctrl-C. A long call that keeps completing samples
    (an Offline batch run in the caller's thread) is left alone."""

    def __init__(self, timeout_ns: int, clock: Clock = monotonic_ns) -> None:
        self.timeout_ns = timeout_ns
        self.clock = clock
        self.since: int | None = None
        self.fired = False
        self._done = threading.Event()

    def _idle_since(self, since: int) -> int:
        """The later of the call's start and the active recorder's last completion."""
        for recorder in ACTIVE_RECORDER:
            since = max(since, recorder.last_progress_abs())
        return since

    def _watch(self) -> None:
        while not self._done.wait(0.05):
            since = self.since
            if since is not None and self.clock() - self._idle_since(since) > self.timeout_ns:
                self.fired = True
                # A real signal, so that a SUT blocked in a system call (a sleep, a socket) wakes.
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                return


_WATCH: list[IssueWatch] = []


@contextmanager
def watch_issue_calls(timeout_ns: int) -> Iterator[IssueWatch | None]:
    """Arm the watch while a benchmark runs; only from the main thread, which it interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    watch = IssueWatch(timeout_ns)
    thread = threading.Thread(target=watch._watch, name="loadgen-issue-watch", daemon=True)
    _WATCH.append(watch)
    thread.start()
    try:
        yield watch
    finally:
        watch._done.set()
        _WATCH.remove(watch)


def interruption(during: str) -> RunAborted:
    """What a KeyboardInterrupt means: the issue watch firing, or the user pressing Ctrl-C."""
    if _WATCH and _WATCH[-1].fired:
        seconds = _WATCH[-1].timeout_ns / 1e9
        return SampleTimeout(
            f"the SUT's issue_query did not return, and completed nothing, for {seconds:g} s (sample_timeout_ms)"
        )
    return Interrupted(f"interrupted by the user {during}")


def issue(sut: SystemUnderTest, batch: SampleBatch) -> None:
    """Hand a batch to the SUT; its exceptions become SutError at this boundary."""
    watch = _WATCH[-1] if _WATCH else None
    if watch is not None:
        watch.since = watch.clock()
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


@contextmanager
def sut_thread_errors() -> Iterator[None]:
    """While a benchmark lasts, an exception in any SUT thread ends the phase under way (pilot,
    warm-up, accuracy or timed run) with that exception as the reason."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread else "?"
        error = SutError(f"the SUT's thread {name!r} raised {args.exc_type.__name__}: {args.exc_value}")
        for recorder in ACTIVE_RECORDER:
            recorder.fail(error)
        previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous
