"""The run's clock: monotonic nanoseconds and every wait of a run, passed in so tests can fake time.

Whatever in a run reads or waits on time goes through one `Clock`: the engine's issue times
and waits, the recorder's completion stamps, stall timeout and drain, the issue watch, the
progress line and the background samplers. `FakeClock` moves only when told to, or when the
run itself waits, so those branches are tested exactly and without sleeping.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SLEEP_MARGIN_NS = 120_000
"""Sleep until this close to a deadline, then spin: a Linux sleep overshoots by 30-100 us."""

ADVANCE_SETTLE_S = 5.0
"""How long `FakeClock.advance` waits, at most, for the background pacers it woke to pause again."""

monotonic_ns: Callable[[], int] = time.perf_counter_ns
"""The real clock's counter, for SUTs that pace themselves (sut.fixed_time)."""

_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30
_TIGHT_SLACK_NS = 1_000


class Clock:
    """Real time: `perf_counter_ns`, waits that end early when an event is set, a precise wait.

    `now_ns` is an attribute holding the builtin itself, so the recorder's hot path calls it
    directly, as fast as before the clock was an object.
    """

    def __init__(self) -> None:
        self.now_ns: Callable[[], int] = time.perf_counter_ns

    def wait(self, event: threading.Event, timeout_ns: int) -> bool:
        """The run's own wait (for completions, a drain): until `event` is set or the timeout; True if set."""
        return event.wait(max(timeout_ns, 0) / 1e9)

    def pause(self, event: threading.Event, interval_s: float) -> bool:
        """A background thread's pacing (samplers, the issue watch); True once `event` is set."""
        return event.wait(interval_s)

    def wait_until(self, deadline_ns: int) -> int:
        """Block until `now_ns()` reaches `deadline_ns`; returns the time.

        The final stretch spins on sched_yield, which releases the GIL each turn, so SUT
        threads keep running while the issue thread waits for its exact moment.
        """
        now = self.now_ns()
        remaining = deadline_ns - now
        if remaining > SLEEP_MARGIN_NS:
            time.sleep((remaining - SLEEP_MARGIN_NS) / 1e9)
            now = self.now_ns()
        while now < deadline_ns:
            os.sched_yield()
            now = self.now_ns()
        return now


class FakeClock(Clock):
    """Time that moves only when told: `advance(ns)`, a wait of the run (which moves it to the
    wait's end at once), or, with `step_ns`, by that much on every read (pyperf's fake clock).

    Background pacers (`pause`) wake when time passes their deadline, and `advance` returns
    only once each pacer it woke has done its work and paused again, so a test can assert at
    once what a sampler or watch did. Set events are noticed within 10 ms of real time.
    """

    def __init__(self, start_ns: int = 0, step_ns: int = 0) -> None:
        super().__init__()
        self._now = start_ns
        self._step = step_ns
        self._cond = threading.Condition()
        self._pausing: dict[threading.Thread, int] = {}
        self._laps: dict[threading.Thread, int] = {}
        self.now_ns = self._read

    def _read(self) -> int:
        now = self._now
        self._now += self._step
        return now

    def advance(self, ns: int) -> None:
        """Move time forward by `ns`; returns when the pacers this woke have paused again."""
        with self._cond:
            self._now += max(ns, 0)
            woken = [(thread, self._laps[thread]) for thread, due in self._pausing.items() if due <= self._now]
            self._cond.notify_all()
            give_up = time.monotonic() + ADVANCE_SETTLE_S
            while any(self._laps[t] == lap and t.is_alive() for t, lap in woken) and time.monotonic() < give_up:
                self._cond.wait(0.01)

    def wait_for_pacers(self, count: int) -> None:
        """Block until `count` background pacers are pausing (their threads have started)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._pausing) >= count, timeout=ADVANCE_SETTLE_S)

    def wait(self, event: threading.Event, timeout_ns: int) -> bool:
        if event.is_set():
            return True
        self.advance(timeout_ns)
        return event.is_set()

    def wait_until(self, deadline_ns: int) -> int:
        now = self._now
        if now < deadline_ns:
            self.advance(deadline_ns - now)
        return self.now_ns()

    def pause(self, event: threading.Event, interval_s: float) -> bool:
        me = threading.current_thread()
        with self._cond:
            self._laps[me] = self._laps.get(me, 0) + 1
            self._cond.notify_all()
            due = self._now + round(interval_s * 1e9)
            self._pausing[me] = due
            try:
                while not event.is_set() and self._now < due:
                    self._cond.wait(0.01)
            finally:
                del self._pausing[me]
            return event.is_set()


@contextmanager
def tight_timer_slack() -> Iterator[None]:
    """Lower this thread's timer slack (Linux: 50 us by default) while a run lasts, then restore it."""
    prctl = _libc_prctl()
    previous = prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0) if prctl else -1
    if prctl and previous > 0:
        prctl(_PR_SET_TIMERSLACK, _TIGHT_SLACK_NS, 0, 0, 0)
    try:
        yield
    finally:
        if prctl and previous > 0:
            prctl(_PR_SET_TIMERSLACK, previous, 0, 0, 0)


def _libc_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None).prctl
        return prctl
    except (OSError, AttributeError):
        return None
