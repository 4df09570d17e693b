"""Untimed closed-loop runs before the real one: the pilot that measures the SUT, and warm-up.

"No guessing": when a rate or latency that sizes the schedule is not given, a short pilot
issues queries of the scenario's shape one after another and measures them, and the result
records which values were chosen this way and how.
"""

from __future__ import annotations

import math

import numpy as np

from loadgen.engine.closed_loop import ClosedLoop
from loadgen.engine.context import RunContext
from loadgen.engine.query import SystemUnderTest
from loadgen.engine.schedule import MAX_SCHEDULED_SAMPLES, scheduled_samples
from loadgen.settings.effective import EffectiveSettings
from loadgen.settings.model import Scenario

PILOT_MAX_SAMPLES = 1 << 20
"""Row capacity of a pilot or warm-up; it ends early when this is used up."""


def pilot_loop(sut: SystemUnderTest, loaded: np.ndarray, context: RunContext) -> ClosedLoop:
    """A closed loop cycling through the loaded set, outside the run's trace."""
    return ClosedLoop(sut, np.resize(loaded, PILOT_MAX_SAMPLES), context)

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


def warm_up(sut: SystemUnderTest, loaded: np.ndarray, effective: EffectiveSettings, context: RunContext) -> int:
    """Untimed, unrecorded queries for warmup_ms; returns how many were issued."""
    if effective.warmup_ns == 0:
        return 0
    loop = pilot_loop(sut, loaded, context)
    size = min(len(loaded), 1024) if effective.scenario is Scenario.Offline else effective.samples_per_query
    loop.repeat(size, effective.warmup_ns)
    return loop.queries


def fill_by_pilot(
    sut: SystemUnderTest, loaded: np.ndarray, effective: EffectiveSettings, context: RunContext
) -> tuple[EffectiveSettings, dict[str, str]]:
    """Effective settings with the schedule-sizing value measured when the user left it unset."""
    if not effective.needs_pilot:
        return effective, {}
    scenario, key = effective.scenario, effective.sizing_key
    loop = pilot_loop(sut, loaded, context)
    value: float | int
    if scenario is Scenario.Offline:
        measured = offline_rate(loop, effective.pilot_ns)
        value = OFFLINE_RATE_HEADROOM * measured
        how = (
            f"pilot: {OFFLINE_RATE_HEADROOM} x the {measured:.1f} samples/s measured on batches of up to "
            f"{OFFLINE_PILOT_BATCH_LIMIT} samples"
        )
    else:
        mean_ns = loop.repeat(effective.samples_per_query, effective.pilot_ns)
        if scenario is Scenario.Server:
            value = SERVER_LOAD_FACTOR * 1e9 / mean_ns
            how = (
                f"pilot: {SERVER_LOAD_FACTOR} x the sequential rate of {1e9 / mean_ns:.1f} queries/s "
                f"measured over {loop.queries} queries"
            )
        else:
            value = math.ceil(mean_ns)
            how = f"pilot: mean latency of {loop.queries} sequential queries"
    filled = effective.with_sizing(value)
    scale = scheduled_samples(filled) / MAX_SCHEDULED_SAMPLES
    if scale > 1:
        value = value / scale if scenario in (Scenario.Offline, Scenario.Server) else math.ceil(value * scale)
        filled = effective.with_sizing(value)
        how += (
            f"; capped at {value:.6g} so the schedule fits the trace limit of {MAX_SCHEDULED_SAMPLES:,} samples:"
            " the SUT may finish before min_duration_ms"
        )
    return filled, {key: how}
