"""A low-rate background sampler for the figures a run keeps about the machine (memory, noise)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def sampling(take: Callable[[], None], interval_s: float, name: str) -> Iterator[None]:
    """Call `take` once at entry, every `interval_s` from a daemon thread, and once at exit."""
    done = threading.Event()

    def loop() -> None:
        while not done.wait(interval_s):
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
