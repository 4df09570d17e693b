"""What a terminal sees of a timed run, driven by a fake clock: no test here sleeps."""

from __future__ import annotations

import io

import numpy as np

from loadgen.cli.progress import READY_LINE, console_observer, progress_bar, progress_line
from loadgen.engine.clock import FakeClock
from loadgen.engine.context import RunContext
from loadgen.engine.loops import Engine
from loadgen.engine.schedule import build_schedule
from loadgen.settings.effective import EffectiveSettings
from loadgen.settings.model import TestSettings
from sut.null import NullSUT


def engine_for(clock: FakeClock, min_duration_ms: int = 2000, **observed: object) -> Engine:
    settings = EffectiveSettings.derive(
        TestSettings(scenario="Offline", offline_expected_qps=100.0, min_duration_ms=min_duration_ms)
    )
    context = RunContext(settings.sample_timeout_ns, clock, **observed)  # type: ignore[arg-type]
    return Engine(NullSUT(), build_schedule(settings, np.arange(4)), settings, context)


def test_progress_line_shows_time_against_min_duration_and_samples() -> None:
    clock = FakeClock()
    engine = engine_for(clock)
    engine.recorder.start()
    clock.advance(500_000_000)
    line = progress_line(engine)
    assert line.startswith("\r[#####     ")
    assert "Offline:    0.5 s of 2 s min, 0 samples done" in line


def test_progress_bar_stays_silent_for_short_runs() -> None:
    engine = engine_for(FakeClock(), min_duration_ms=0)
    stream = io.StringIO()
    with progress_bar(engine, stream):
        engine.run()
    assert stream.getvalue() == ""


def test_progress_bar_draws_once_the_run_clock_passes_two_seconds_and_ends_the_line() -> None:
    clock = FakeClock()
    engine = engine_for(clock)
    engine.recorder.start()
    stream = io.StringIO()
    with progress_bar(engine, stream):
        clock.wait_for_pacers(1)
        clock.advance(1_900_000_000)  # the sampler wakes before 2 s: nothing drawn
        assert stream.getvalue() == ""
        clock.advance(300_000_000)  # past its next 0.25 s: drawn once
        assert stream.getvalue().count("\r[") == 1
        assert "2.2 s of 2 s min" in stream.getvalue()
    assert stream.getvalue().endswith("\n")


def test_the_readiness_line_comes_when_timing_starts() -> None:
    stream = io.StringIO()
    engine = engine_for(FakeClock(), min_duration_ms=0, observers=[console_observer(stream, show_progress=False)])
    engine.run()
    assert stream.getvalue().startswith(f"{READY_LINE}: Offline, 1 queries scheduled, min 0 s;")
    assert stream.getvalue().count("\n") == 1
