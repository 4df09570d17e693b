"""Peak memory of the process during a benchmark, sampled in the background."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

SAMPLE_INTERVAL_S = 0.05


@contextmanager
def peak_rss(interval_s: float = SAMPLE_INTERVAL_S) -> Iterator[dict[str, int]]:
    """Yields a dict filled, on exit, with rss_start_bytes and rss_peak_bytes of this process."""
    process = psutil.Process()
    start = process.memory_info().rss
    figures = {"rss_start_bytes": start, "rss_peak_bytes": start}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval_s):
            figures["rss_peak_bytes"] = max(figures["rss_peak_bytes"], process.memory_info().rss)

    thread = threading.Thread(target=sample, name="loadgen-memory", daemon=True)
    thread.start()
    try:
        yield figures
    finally:
        done.set()
        thread.join(timeout=1.0)
        figures["rss_peak_bytes"] = max(figures["rss_peak_bytes"], process.memory_info().rss)
