"""The run's clock: a monotonic nanosecond counter, passed into the engine so tests can fake it."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]
"""Returns monotonic nanoseconds; only differences are meaningful."""

monotonic_ns: Clock = time.perf_counter_ns

SLEEP_MARGIN_NS = 200_000
"""Sleep until this close to a deadline, then yield in a loop: OS sleeps overshoot by ~60 us."""


def wait_until(deadline_ns: int, clock: Clock = monotonic_ns) -> int:
    """Block until `clock()` reaches `deadline_ns` without holding the GIL; returns the time."""
    now = clock()
    while now < deadline_ns:
        remaining = deadline_ns - now
        time.sleep((remaining - SLEEP_MARGIN_NS) / 1e9 if remaining > 2 * SLEEP_MARGIN_NS else 0)
        now = clock()
    return now
