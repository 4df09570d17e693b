"""A live progress line on a terminal for runs longer than a couple of seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from loadgen.engine.loops import Engine
from loadgen.machine.sampler import sampling

SHOW_AFTER_S = 2.0
REFRESH_S = 0.25


def progress_line(engine: Engine) -> str:
    """Elapsed time against min_duration, and samples done, from the engine's live counters."""
    recorder, settings = engine.recorder, engine.settings
    elapsed = recorder.now() / 1e9
    target = settings.min_duration_ms / 1000
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
    lasted SHOW_AFTER_S; a short run prints nothing."""
    started = time.monotonic()
    shown = False

    def draw() -> None:
        nonlocal shown
        if time.monotonic() - started >= SHOW_AFTER_S:
            shown = True
            stream.write(progress_line(engine))
            stream.flush()

    with sampling(draw, REFRESH_S, "loadgen-progress"):
        yield
    if shown:
        stream.write("\n")
        stream.flush()
