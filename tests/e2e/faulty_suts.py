"""SUTs that take the harness's process down or wedge it, for tests/e2e/test_crash.py.

Each prints `READY` on stderr at its first query, so a test can wait for the run to be
under way instead of sleeping; those that count write their count of completed samples
to `count_file` with one pwrite per completion, which survives their own SIGKILL; the
count restarts with each phase (warm-up, pilot, timed run), whose sample ids start at 1.
"""

from __future__ import annotations

import ctypes
import os
import re
import resource
import signal
import sys
import threading
import time
from typing import Any


class _Base:
    name = "Faulty"

    def __init__(self, count_file: str = "", after_s: float = 0.5) -> None:
        self.after_s = after_s
        self.count = 0
        self.started: float | None = None
        self._fd = os.open(count_file, os.O_RDWR | os.O_CREAT, 0o644) if count_file else -1

    def _ready(self) -> bool:
        """True once the fault is due; the first call announces READY."""
        if self.started is None:
            self.started = time.monotonic()
            print("READY", file=sys.stderr, flush=True)
        return time.monotonic() - self.started > self.after_s

    def _complete(self, samples: Any) -> None:
        if int(samples.ids[0]) == 1:  # each phase (warm-up, pilot, timed run) numbers its samples from 1
            self.count = 0
        samples.complete()
        self.count += len(samples)
        if self._fd >= 0:
            os.pwrite(self._fd, f"{self.count:012d}\n".encode(), 0)

    def flush_queries(self) -> None:
        pass


class SelfKill(_Base):
    """Completes at once; after `after_s` it SIGKILLs its own process (as the OOM killer would)."""

    def issue_query(self, samples: Any) -> None:
        if self._ready():
            os.kill(os.getpid(), signal.SIGKILL)
        self._complete(samples)


class Segfault(_Base):
    """Completes at once; after `after_s` it reads address 0."""

    def issue_query(self, samples: Any) -> None:
        if self._ready():
            ctypes.string_at(0)
        self._complete(samples)


class GilHog(_Base):
    """After `after_s`, a catastrophic regex that holds the GIL, in the caller's thread or (`thread=True`) its own."""

    def __init__(self, count_file: str = "", after_s: float = 0.5, thread: bool = False) -> None:
        super().__init__(count_file, after_s)
        self.thread = thread

    def issue_query(self, samples: Any) -> None:
        if self._ready():
            if self.thread:
                threading.Thread(target=_backtrack, daemon=True).start()
                return
            _backtrack()
        self._complete(samples)


def _backtrack() -> None:
    re.match(r"(a+)+$", "a" * 40 + "b")


class Swallower(_Base):
    """After `after_s`, blocks and swallows every KeyboardInterrupt."""

    def issue_query(self, samples: Any) -> None:
        if self._ready():
            while True:
                try:
                    time.sleep(3600)
                except KeyboardInterrupt:
                    print("SWALLOWED", file=sys.stderr, flush=True)
        self._complete(samples)


class MemoryHog(_Base):
    """After `after_s`, caps its address space and allocates until it cannot."""

    def issue_query(self, samples: Any) -> None:
        if self._ready():
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (4 << 30, hard))
            hoard = []
            while True:
                hoard.append(bytearray(256 << 20))
        self._complete(samples)


class Steady(_Base):
    """Completes each query after `service_ms` from a timer thread; never faults (for signal tests).
    Prints RUNNING once 20 samples of a phase completed, so a signal finds some recorded."""

    def __init__(self, count_file: str = "", service_ms: float = 1.0) -> None:
        super().__init__(count_file, 0.0)
        self.service_s = service_ms / 1000

    def issue_query(self, samples: Any) -> None:
        self._ready()
        threading.Timer(self.service_s, self._complete, (samples,)).start()
        if self.count == 20:
            print("RUNNING", file=sys.stderr, flush=True)


class SlowUnload(Steady):
    """Steady, with a QSL whose unload_samples announces UNLOADING and takes `unload_s`: Ctrl-C after the timed run."""

    def __init__(self, count_file: str = "", service_ms: float = 1.0, unload_s: float = 3.0) -> None:
        super().__init__(count_file, service_ms)
        self.qsl = _SlowQSL(unload_s)


class _SlowQSL:
    name = "SlowQSL"
    total_sample_count = 64
    performance_sample_count = 64

    def __init__(self, unload_s: float) -> None:
        self.unload_s = unload_s

    def load_samples(self, indices: Any) -> None:
        pass

    def unload_samples(self, indices: Any) -> None:
        print("UNLOADING", file=sys.stderr, flush=True)
        time.sleep(self.unload_s)


class DiskFiller(Steady):
    """Steady, but at flush_queries fills the file system of `fill_path` (the results folder's) with one file."""

    def __init__(self, count_file: str = "", fill_path: str = "") -> None:
        super().__init__(count_file, 0.0)
        self.fill_path = fill_path

    def flush_queries(self) -> None:
        with open(self.fill_path, "wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * (1 << 16))
                    handle.flush()
            except OSError:
                pass
