"""Untimed closed-loop runs before the real one: the pilot that measures the SUT, and warm-up.

"No guessing": when a rate or latency that sizes the schedule is not given, a short pilot
issues queries of the scenario's shape one after another and measures them, and the result
records which values were chosen this way and how.
"""

from __future__ import annotations

import math

import numpy as np

from loadgen.engine.clock import Clock, monotonic_ns
from loadgen.engine.closed_loop import ClosedLoop
from loadgen.engine.query import SystemUnderTest
from loadgen.engine.schedule import MAX_SCHEDULED_SAMPLES, scheduled_samples
from loadgen.settings.model import Scenario, TestSettings

PILOT_MAX_SAMPLES = 1 << 20
"""Row capacity of a pilot or warm-up; it ends early when this is used up."""


def pilot_loop(sut: SystemUnderTest, loaded: np.ndarray, settings: TestSettings, clock: Clock) -> ClosedLoop:
    """A closed loop cycling through the loaded set, outside the run's trace."""
    return ClosedLoop(sut, np.resize(loaded, PILOT_MAX_SAMPLES), settings.sample_timeout_ms * 1_000_000, clock)

SERVER_LOAD_FACTOR = 0.5
"""Server's chosen rate is this fraction of the sequential rate: half-loaded, queues stay short."""

OFFLINE_PILOT_BATCH_LIMIT = 1 << 18
"""The Offline pilot doubles its batch up to this many samples."""

OFFLINE_RATE_HEADROOM = 1.5
"""The Offline pilot reports this multiple of the rate it measured: one big query usually
runs faster than the pilot's smaller ones, and an Offline query that is too small ends
before min_duration (INVALID) while one too large only runs longer."""


def offline_rate(loop: ClosedLoop, duration_ns: int) -> float:
    """Samples/s of the largest batch that fits the pilot: sizes double until one is slow enough."""
    size, rate = 1, 0.0
    while loop.has_room(size) and size <= OFFLINE_PILOT_BATCH_LIMIT:
        elapsed = loop.query(size)
        rate = size * 1e9 / elapsed
        if elapsed * 4 >= duration_ns or loop.recorder.now() >= duration_ns:
            break
        size *= 2
    return rate


def samples_per_query(settings: TestSettings) -> int:
    """The query shape of a scenario's closed-loop warm-up and pilot."""
    return settings.multi_stream_samples_per_query if settings.scenario is Scenario.MultiStream else 1


def warm_up(sut: SystemUnderTest, loaded: np.ndarray, settings: TestSettings, clock: Clock = monotonic_ns) -> int:
    """Untimed, unrecorded queries for warmup_ms; returns how many were issued."""
    if settings.warmup_ms == 0:
        return 0
    loop = pilot_loop(sut, loaded, settings, clock)
    size = min(len(loaded), 1024) if settings.scenario is Scenario.Offline else samples_per_query(settings)
    loop.repeat(size, settings.warmup_ms * 1_000_000)
    return loop.queries


def fill_by_pilot(
    sut: SystemUnderTest, loaded: np.ndarray, settings: TestSettings, clock: Clock = monotonic_ns
) -> tuple[TestSettings, dict[str, str]]:
    """Effective settings with the schedule-sizing value measured when the user left it unset."""
    scenario = settings.scenario
    key = {
        Scenario.SingleStream: "single_stream_expected_latency_ns",
        Scenario.MultiStream: "multi_stream_expected_latency_ns",
        Scenario.Server: "server_target_qps",
        Scenario.Offline: "offline_expected_qps",
    }[scenario]
    if getattr(settings, key) is not None:
        return settings, {}
    loop = pilot_loop(sut, loaded, settings, clock)
    duration_ns = settings.pilot_ms * 1_000_000
    value: float | int
    if scenario is Scenario.Offline:
        measured = offline_rate(loop, duration_ns)
        value = OFFLINE_RATE_HEADROOM * measured
        how = (
            f"pilot: {OFFLINE_RATE_HEADROOM} x the {measured:.1f} samples/s measured on batches of up to "
            f"{OFFLINE_PILOT_BATCH_LIMIT} samples"
        )
    else:
        mean_ns = loop.repeat(samples_per_query(settings), duration_ns)
        if scenario is Scenario.Server:
            value = SERVER_LOAD_FACTOR * 1e9 / mean_ns
            how = (
                f"pilot: {SERVER_LOAD_FACTOR} x the sequential rate of {1e9 / mean_ns:.1f} queries/s "
                f"measured over {loop.queries} queries"
            )
        else:
            value = math.ceil(mean_ns)
            how = f"pilot: mean latency of {loop.queries} sequential queries"
    effective = settings.model_copy(update={key: value})
    scale = scheduled_samples(effective) / MAX_SCHEDULED_SAMPLES
    if scale > 1:
        value = value / scale if scenario in (Scenario.Offline, Scenario.Server) else math.ceil(value * scale)
        effective = settings.model_copy(update={key: value})
        how += (
            f"; capped at {value:.6g} so the schedule fits the trace limit of {MAX_SCHEDULED_SAMPLES:,} samples:"
            " the SUT may finish before min_duration_ms"
        )
    return effective, {key: how}
