"""One time base for every worker: each worker's clock offset from the driver's, with its error bound.

On one machine every process reads the same CLOCK_MONOTONIC (Python's perf_counter_ns on
Linux), so the offset is zero by construction. Across machines it is estimated from round
trips: the driver reads t0, the worker reads w, the driver reads t1; the worker's reading
was taken somewhere in [t0, t1], so offset = w - (t0 + t1) / 2 is wrong by at most
(t1 - t0) / 2. The shortest of several round trips gives the tightest bound.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from loadgen.engine.clock import monotonic_ns
from loadgen.settings.model import Scenario, TestSettings

OFFSET_ROUNDS = 16
"""Round trips per worker; the shortest one sets the estimate."""

CLOCK_ERROR_FRACTION = 0.01
"""A run is VALID only when every worker's clock error bound is at most this fraction of the
latency bound (Server: server_target_latency_ns; Offline: the run's duration)."""


class ClockOffset(BaseModel):
    """A worker's clock minus the driver's, and how far off that estimate can be."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offset_ns: int
    error_bound_ns: int
    shared_clock: bool
    measured_offset_ns: int
    measured_round_trip_ns: int


def measure_offset(
    ask: Callable[[], int], clock: Callable[[], int] = monotonic_ns, rounds: int = OFFSET_ROUNDS
) -> tuple[int, int]:
    """(offset estimate, shortest round trip) from `rounds` calls of `ask`, the worker's clock."""
    best_trip, best_offset = -1, 0
    for _ in range(rounds):
        t0 = clock()
        remote = ask()
        t1 = clock()
        trip = t1 - t0
        if best_trip < 0 or trip < best_trip:
            best_trip, best_offset = trip, remote - (t0 + t1) // 2
    return best_offset, best_trip


def clock_offset(measured_offset_ns: int, round_trip_ns: int, shared_clock: bool) -> ClockOffset:
    """The offset the run uses: zero on a shared clock, else the measured one with its bound."""
    return ClockOffset(
        offset_ns=0 if shared_clock else measured_offset_ns,
        error_bound_ns=0 if shared_clock else (round_trip_ns + 1) // 2,
        shared_clock=shared_clock,
        measured_offset_ns=measured_offset_ns,
        measured_round_trip_ns=round_trip_ns,
    )


def clock_error_limit_ns(settings: TestSettings, duration_ns: int) -> int:
    """The largest clock error bound a VALID run may carry."""
    base = settings.server_target_latency_ns if settings.scenario is Scenario.Server else duration_ns
    return int(CLOCK_ERROR_FRACTION * base)


def clock_problem(offsets: list[ClockOffset], settings: TestSettings, duration_ns: int) -> str | None:
    """Why the workers' clocks are too uncertain for a VALID run, or None."""
    limit = clock_error_limit_ns(settings, duration_ns)
    worst = max(range(len(offsets)), key=lambda w: offsets[w].error_bound_ns, default=None)
    if worst is None or offsets[worst].error_bound_ns <= limit:
        return None
    what = "server_target_latency_ns" if settings.scenario is Scenario.Server else "the run's duration"
    return (
        f"worker {worst}'s clock offset is known only to within {offsets[worst].error_bound_ns} ns, more than "
        f"{CLOCK_ERROR_FRACTION:.0%} of {what} ({limit} ns allowed)"
    )


def kernel_identity() -> str | None:
    """Host name and boot id: processes that share them read one CLOCK_MONOTONIC (None: unknown)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None
    return f"{socket.gethostname()}/{boot}"
