"""A low-rate background sampler for the figures a run keeps about the machine (memory, noise)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from loadgen.engine.clock import Clock


@contextmanager
def sampling(take: Callable[[], None], interval_s: float, name: str, clock: Clock | None = None) -> Iterator[None]:
    """Call `take` once at entry, every `interval_s` from a daemon thread, and once at exit.

    The thread paces itself on `clock`, so under a FakeClock it takes a sample each time the
    test moves time past an interval, and never otherwise."""
    done = threading.Event()
    pace = clock or Clock()

    def loop() -> None:
        while not pace.pause(done, interval_s):
            take()

    take()
    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=1.0)
        take()
