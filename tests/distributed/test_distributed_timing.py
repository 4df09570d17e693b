"""Clock offsets across workers: the estimate's error bound holds, and a loose bound refuses VALID."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.distributed.timing import (
    CLOCK_ERROR_FRACTION,
    clock_error_limit_ns,
    clock_offset,
    clock_problem,
    measure_offset,
)
from loadgen.settings.model import Scenario, TestSettings


class FakeLink:
    """A driver clock and a remote clock `offset` ahead, with random one-way delays."""

    def __init__(self, offset: int, seed: int, max_delay: int) -> None:
        self.now = 1_000_000
        self.offset = offset
        self.rng = random.Random(seed)
        self.max_delay = max_delay

    def clock(self) -> int:
        return self.now

    def ask(self) -> int:
        self.now += self.rng.randint(0, self.max_delay)  # there
        remote = self.now + self.offset
        self.now += self.rng.randint(0, self.max_delay)  # and back
        return remote


@settings(max_examples=200, deadline=None)
@given(offset=st.integers(-10**12, 10**12), seed=st.integers(0, 2**32), max_delay=st.integers(0, 5_000_000))
def test_the_true_offset_lies_within_the_reported_bound(offset: int, seed: int, max_delay: int) -> None:
    link = FakeLink(offset, seed, max_delay)
    measured, trip = measure_offset(link.ask, link.clock, rounds=8)
    clock = clock_offset(measured, trip, shared_clock=False)
    assert abs(clock.offset_ns - offset) <= clock.error_bound_ns
    assert clock.error_bound_ns <= max_delay + 1  # the shortest of 8 trips, halved


def test_a_shared_clock_has_no_offset_and_no_error() -> None:
    clock = clock_offset(measured_offset_ns=250, round_trip_ns=900, shared_clock=True)
    assert (clock.offset_ns, clock.error_bound_ns) == (0, 0)
    assert (clock.measured_offset_ns, clock.measured_round_trip_ns) == (250, 900)


def test_a_bound_over_the_stated_fraction_of_the_latency_bound_refuses_valid() -> None:
    server = TestSettings(scenario=Scenario.Server, server_target_qps=10.0, server_target_latency_ns=50_000_000)
    limit = clock_error_limit_ns(server, duration_ns=10**10)
    assert limit == int(CLOCK_ERROR_FRACTION * 50_000_000)
    tight = clock_offset(0, 2 * limit, shared_clock=False)
    loose = clock_offset(0, 2 * limit + 4, shared_clock=False)
    assert clock_problem([tight, tight], server, 10**10) is None
    problem = clock_problem([tight, loose], server, 10**10)
    assert problem is not None and "worker 1" in problem and "server_target_latency_ns" in problem
    offline = TestSettings(scenario=Scenario.Offline, offline_expected_qps=10.0)
    assert clock_problem([loose], offline, duration_ns=10**9) is None  # 1% of 1 s is 10 ms
    assert clock_problem([loose], offline, duration_ns=limit) is not None
