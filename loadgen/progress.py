"""A live progress line on a terminal for runs longer than a couple of seconds."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from loadgen.engine import Engine

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
    """Redraw the progress line from a background thread while the run lasts."""
    done = threading.Event()

    def draw() -> None:
        if done.wait(SHOW_AFTER_S):
            return
        while not done.wait(REFRESH_S):
            stream.write(progress_line(engine))
            stream.flush()
        stream.write(progress_line(engine) + "\n")
        stream.flush()

    thread = threading.Thread(target=draw, name="loadgen-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=1.0)
