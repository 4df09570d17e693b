"""A SUT with a known service time: each sample takes `service_us` of one worker's time.

Workers sleep through the service time, releasing the GIL as a real device wait would, so
the OS's wake-up overshoot (tens of microseconds on Linux) adds to each sample.

Workers are threads that serve samples first come, first served, so the figures a run
reports can be checked against queueing arithmetic (one worker at 100 us: at most
10,000 samples/s, SingleStream latency about 100 us).
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np

from loadgen.engine.clock import monotonic_ns, tight_timer_slack
from loadgen.engine.query import SampleBatch

_STOP = None


def sleep_until(deadline_ns: int) -> None:
    """Sleep (holding no GIL, as a device wait would) until the deadline; may overshoot ~50 us."""
    remaining = deadline_ns - monotonic_ns()
    if remaining > 0:
        time.sleep(remaining / 1e9)


class FixedTimeSUT:
    """`workers` threads, each completing one sample every `service_us` microseconds."""

    def __init__(self, service_us: float = 100.0, workers: int = 1) -> None:
        if service_us < 0:
            raise ValueError(f"service_us must be >= 0, got {service_us}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.name = f"FixedTimeSUT({service_us:g}us x {workers})"
        self.service_ns = int(service_us * 1000)
        self._work: queue.SimpleQueue[tuple[SampleBatch, np.ndarray] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"fixed-time-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def issue_query(self, samples: SampleBatch) -> None:
        """Spread the batch over the workers; return at once."""
        parts = min(len(self._threads), len(samples))
        for ids in np.array_split(samples.ids, parts):
            self._work.put((samples, ids))

    def flush_queries(self) -> None:
        """Samples are served as they come; nothing is held back."""

    def _serve(self) -> None:
        with tight_timer_slack():
            self._serve_forever()

    def _serve_forever(self) -> None:
        free_at = monotonic_ns()
        while (item := self._work.get()) is not _STOP:
            batch, ids = item
            if self.service_ns == 0:
                batch.complete(ids)
                continue
            for sample_id in ids.tolist():
                free_at = max(free_at, monotonic_ns()) + self.service_ns
                sleep_until(free_at)
                batch.complete(sample_id)

    def close(self) -> None:
        """Stop the workers (they are daemons, so forgetting this never blocks exit)."""
        for _ in self._threads:
            self._work.put(_STOP)


def make_sut(service_us: float = 100.0, workers: int = 1) -> FixedTimeSUT:
    """Factory used by `--sut sut.fixed_time --sut-arg service_us=100 --sut-arg workers=2`."""
    return FixedTimeSUT(service_us=service_us, workers=workers)
