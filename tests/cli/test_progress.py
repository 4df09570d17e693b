"""The live progress line reads the engine's counters and draws only on request."""

from __future__ import annotations

import io
import itertools

import numpy as np

from loadgen.cli.progress import progress_bar, progress_line
from loadgen.engine.loops import Engine
from loadgen.engine.schedule import build_schedule
from loadgen.settings.model import TestSettings
from sut.null import NullSUT


def test_progress_line_shows_time_against_min_duration_and_samples() -> None:
    ticks = itertools.count(step=500_000_000)
    settings = TestSettings(scenario="Offline", offline_expected_qps=100.0, min_duration_ms=2000)
    engine = Engine(NullSUT(), build_schedule(settings, np.arange(4)), settings, clock=lambda: next(ticks))
    engine.recorder.start()
    line = progress_line(engine)
    assert line.startswith("\r[#####")
    assert "Offline:    0.5 s of 2 s min, 0 samples done" in line


def test_progress_bar_stays_silent_for_short_runs() -> None:
    settings = TestSettings(scenario="Offline", offline_expected_qps=100.0, min_duration_ms=0)
    engine = Engine(NullSUT(), build_schedule(settings, np.arange(4)), settings)
    stream = io.StringIO()
    with progress_bar(engine, stream):
        engine.run()
    assert stream.getvalue() == ""
