"""Peak memory of the process during a benchmark, sampled in the background."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from loadgen.machine.sampler import sampling

SAMPLE_INTERVAL_S = 0.05


@contextmanager
def peak_rss(interval_s: float = SAMPLE_INTERVAL_S) -> Iterator[dict[str, int]]:
    """Yields a dict filled, on exit, with rss_start_bytes and rss_peak_bytes of this process."""
    process = psutil.Process()
    start = process.memory_info().rss
    figures = {"rss_start_bytes": start, "rss_peak_bytes": start}

    def take() -> None:
        figures["rss_peak_bytes"] = max(figures["rss_peak_bytes"], process.memory_info().rss)

    with sampling(take, interval_s, "loadgen-memory"):
        yield figures
