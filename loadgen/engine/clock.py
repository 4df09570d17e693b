"""The run's clock: a monotonic nanosecond counter, passed into the engine so tests can fake it,
and a precise wait for Server's scheduled issue times."""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Clock = Callable[[], int]
"""Returns monotonic nanoseconds; only differences are meaningful."""

monotonic_ns: Clock = time.perf_counter_ns

SLEEP_MARGIN_NS = 120_000
"""Sleep until this close to a deadline, then spin: a Linux sleep overshoots by 30-100 us."""

_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30
_TIGHT_SLACK_NS = 1_000


def wait_until(deadline_ns: int, clock: Clock = monotonic_ns) -> int:
    """Block until `clock()` reaches `deadline_ns`; returns the time.

    The final stretch spins on sched_yield, which releases the GIL each turn, so SUT
    threads keep running while the issue thread waits for its exact moment.
    """
    now = clock()
    remaining = deadline_ns - now
    if remaining > SLEEP_MARGIN_NS:
        time.sleep((remaining - SLEEP_MARGIN_NS) / 1e9)
        now = clock()
    while now < deadline_ns:
        os.sched_yield()
        now = clock()
    return now


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
        return ctypes.CDLL(None).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None
