"""What a terminal sees of a timed run: a readiness line when timing starts, and a live
progress line for runs longer than a couple of seconds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TextIO

from loadgen.engine.context import Observer
from loadgen.engine.loops import Engine
from loadgen.machine.sampler import sampling

SHOW_AFTER_S = 2.0
REFRESH_S = 0.25
READY_LINE = "loadgen: timed run started"
"""The start of the line printed when timing starts; scripts (and the signal tests) wait for it."""


def progress_line(engine: Engine) -> str:
    """Elapsed time against min_duration, and samples done, from the engine's live counters."""
    recorder, settings = engine.recorder, engine.settings
    elapsed = recorder.now() / 1e9
    target = settings.min_duration_ns / 1e9
    share = min(elapsed / target, 1.0) if target else 1.0
    bar = "#" * int(share * 20)
    rate = recorder.completed / elapsed if elapsed > 0 else 0.0
    return (
        f"\r[{bar:<20}] {settings.scenario.value}: {elapsed:6.1f} s of {target:g} s min, "
        f"{recorder.completed:,} samples done ({rate:,.0f}/s)"
    )


@contextmanager
def progress_bar(engine: Engine, stream: TextIO) -> Iterator[None]:
    """Redraw the progress line from a background thread while the run lasts, once it has
    lasted SHOW_AFTER_S on the run's clock; a short run prints nothing."""
    clock = engine.context.clock
    started = clock.now_ns()
    shown = False

    def draw() -> None:
        nonlocal shown
        if clock.now_ns() - started >= SHOW_AFTER_S * 1e9:
            shown = True
            stream.write(progress_line(engine))
            stream.flush()

    with sampling(draw, REFRESH_S, "loadgen-progress", clock):
        yield
    if shown:
        stream.write("\n")
        stream.flush()


@contextmanager
def announce_start(engine: Engine, stream: TextIO) -> Iterator[None]:
    """One line when timing starts, so a user (or a script about to send a signal) knows it has."""
    settings = engine.settings
    stream.write(
        f"{READY_LINE}: {settings.scenario.value}, {engine.schedule.n_queries:,} queries scheduled, "
        f"min {settings.min_duration_ns / 1e9:g} s; Ctrl-C ends it and writes what was recorded\n"
    )
    stream.flush()
    yield


def console_observer(stream: TextIO, show_progress: bool) -> Observer:
    """The command line's observer of a timed run: the readiness line, then (on a terminal) progress."""

    @contextmanager
    def observe(engine: Engine) -> Iterator[None]:
        with announce_start(engine, stream), progress_bar(engine, stream) if show_progress else nullcontext():
            yield

    return observe

