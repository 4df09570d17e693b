"""SUTs for the fault tests: the one worker that claims a file first misbehaves after some queries."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from loadgen.engine.query import IndexQSL, QuerySampleLibrary, SampleBatch, SystemUnderTest
from sut.fixed_time import FixedTimeSUT


class FaultySUT:
    """A fixed-time SUT; in the claiming worker, after `after` queries it dies (SIGKILL: "die"; after a
    pause long enough for the driver to hear of every completion so far: "pause-die"), raises
    ("raise"), blocks in issue_query for good ("hang") or reports each later sample failed ("fail").
    It also notes, in `started`, that timed issuing has begun (for the signal tests)."""

    def __init__(self, claim: Path, fault: str, after: int) -> None:
        self.name = "FaultySUT"
        self.inner = FixedTimeSUT(service_us=50)
        self.fault, self.after, self.issued = fault, after, 0
        self.started = claim.with_suffix(".started")
        try:
            os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            claim.write_text(str(os.getpid()))
            self.claimed = True
        except FileExistsError:
            self.claimed = False

    def issue_query(self, samples: SampleBatch) -> None:
        self.issued += 1
        if self.issued == self.after:
            self.started.touch()
        if self.claimed and self.issued > self.after:
            if self.fault == "pause-die":
                time.sleep(1.5)  # three progress intervals: the driver has every completion so far
            if self.fault in ("die", "pause-die"):
                os.kill(os.getpid(), signal.SIGKILL)
            if self.fault == "hang":
                threading.Event().wait()
            if self.fault == "raise":
                raise RuntimeError("injected fault")
            if self.fault == "fail":
                samples.fail(reason="HTTP 503")
                return
        self.inner.issue_query(samples)

    def flush_queries(self) -> None:
        self.inner.flush_queries()


def make_faulty(claim: Path, fault: str, after: int) -> tuple[SystemUnderTest, QuerySampleLibrary]:
    return FaultySUT(claim, fault, after), IndexQSL(256)


def make_slow(seconds: float) -> tuple[SystemUnderTest, QuerySampleLibrary]:
    """A SUT that takes `seconds` to build (a model that loads slowly), for signals before timing."""
    time.sleep(seconds)
    return FixedTimeSUT(service_us=50), IndexQSL(64)
