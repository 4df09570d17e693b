"""A load-generating worker: builds its own SUT, issues its part of the schedule from a common
start instant, and hands back what it recorded, also when told to stop early.

A plain class; the driver makes it a Ray actor (with two threads, so `stop` and `progress`
can reach a running `run`). Nothing here imports Ray. Its run is not on its process's main
thread, which the single-process issue watch interrupts, so a worker watches its SUT's
calls with a `WorkerWatch`, which tells the driver instead (through `progress`).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loadgen.distributed.stream import Progress, take_progress
from loadgen.distributed.timing import kernel_identity
from loadgen.engine.clock import Clock, monotonic_ns
from loadgen.engine.context import RunContext
from loadgen.engine.loops import Engine
from loadgen.engine.pilot import warm_up
from loadgen.engine.query import QuerySampleLibrary, SystemUnderTest
from loadgen.engine.schedule import Schedule
from loadgen.engine.trace import Trace
from loadgen.engine.watch import IssueWatch
from loadgen.errors import Interrupted, LoadgenError, RunAborted, SutError
from loadgen.settings.effective import EffectiveSettings
from loadgen.settings.model import Scenario, TestSettings

SutFactory = Callable[[], tuple[SystemUnderTest, QuerySampleLibrary]]
"""Builds one SUT and its QSL; called once in every worker (pickled to it by Ray)."""


@dataclass
class PartRecord:
    """A worker's report: its trace part (times from its own start), how far its start lay after
    the common instant, how it ended, and the error's kind and text when it failed."""

    worker: int
    trace: Trace
    shift_ns: int
    stop_reason: str
    error_kind: str | None
    error: str | None
    failed_samples: dict[str, int] = field(default_factory=dict)
    """Samples the SUT reported failed, per reason (they end the merged run INVALID)."""


class PartWorker:
    """One worker process's SUT and its share of the run."""

    def __init__(self, worker: int, make_sut: SutFactory) -> None:
        self.worker = worker
        self.build_error: str | None = None
        try:
            self.sut, self.qsl = make_sut()
        except Exception as exc:  # reported by describe(), so the driver can name the cause
            self.build_error = str(exc) if isinstance(exc, LoadgenError) else f"{type(exc).__name__}: {exc}"
        self._engine: Engine | None = None
        self._start_ns = 0
        self._stop_reason: str | None = None
        self._stuck: str | None = None
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        """Who this worker is and what it drives, for the driver's checks and result.json."""
        if self.build_error is not None:
            return {"worker": self.worker, "pid": os.getpid(), "host": socket.gethostname(), "error": self.build_error}
        return {
            "worker": self.worker,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "kernel": kernel_identity(),
            "sut_name": str(getattr(self.sut, "name", type(self.sut).__name__)),
            "qsl_name": str(self.qsl.name),
            "total_sample_count": int(self.qsl.total_sample_count),
            "performance_sample_count": int(self.qsl.performance_sample_count),
        }

    def clock(self) -> int:
        """This process's monotonic clock, for the driver's offset measurement."""
        return monotonic_ns()

    def prepare(self, loaded: np.ndarray, settings: TestSettings) -> int:
        """Load the sample set and warm the SUT up, untimed; returns the warm-up query count."""
        self.qsl.load_samples(loaded)
        effective = EffectiveSettings.derive(settings)
        context = self._watched(RunContext(effective.sample_timeout_ns))
        with context.active():
            count = warm_up(self.sut, loaded, effective, context)
        breach = context.close()
        if breach is not None:
            raise breach
        return count

    def run(self, schedule: Schedule, settings: TestSettings, start_ns: int) -> PartRecord:
        """Issue this part from `start_ns` (this process's clock); errors end it with what was recorded."""
        effective = EffectiveSettings.derive(settings)
        server = schedule.scenario is Scenario.Server
        context = self._watched(RunContext(effective.sample_timeout_ns, HeldClock(start_ns) if server else Clock()))
        try:
            with context.active():
                engine = Engine(self.sut, schedule, effective, context)
                with self._lock:
                    self._engine, self._start_ns = engine, start_ns
                    if self._stop_reason is not None:
                        engine.recorder.fail(Interrupted(self._stop_reason))
                if not server:
                    context.clock.wait_until(start_ns)  # Offline issues at once: not before the common start
                record = engine.run()
            breach = context.close()
        finally:
            unloaded = self._unload(schedule.loaded_indices)
        error = record.error or breach or unloaded
        return PartRecord(
            worker=self.worker,
            trace=record.trace,
            shift_ns=engine.recorder.start_ns - start_ns,
            stop_reason=record.stop_reason if error is record.error else f"aborted at the end: {error}",
            error_kind=_kind(error),
            error=str(error) if error is not None else None,
            failed_samples=dict(record.failed_samples),
        )

    def _unload(self, loaded: np.ndarray) -> SutError | None:
        try:
            self.qsl.unload_samples(loaded)
        except Exception as exc:
            return SutError(f"the QSL raised {type(exc).__name__} in unload_samples: {exc}")
        return None

    def _watched(self, context: RunContext) -> RunContext:
        """The context with this worker's issue watch armed (RunContext arms one only on a main thread)."""
        context.watch = WorkerWatch(context, self._on_stuck)
        context.watch.start()
        return context

    def _on_stuck(self, error: RunAborted) -> None:
        """The issue watch fired: the phase fails (should the call ever return) and the driver hears why."""
        self._stuck = str(error)

    def progress(self, low: int) -> Progress:
        """What the running part recorded from sample row `low` on, for the driver's copy of it."""
        with self._lock:
            engine, start_ns = self._engine, self._start_ns
        if engine is None:
            return Progress.nothing(low, self._stuck)
        recorder = engine.recorder
        return take_progress(recorder, low, recorder.start_ns - start_ns, self._stuck)

    def stop(self, reason: str) -> None:
        """End a running part now (its issued samples are kept and returned by `run`)."""
        with self._lock:
            self._stop_reason = reason
            if self._engine is not None:
                self._engine.recorder.fail(Interrupted(reason))


class WorkerWatch(IssueWatch):
    """The issue watch of a run off the main thread: where the single-process watch interrupts
    the main thread, this one fails the phase with the same SampleTimeout and reports it
    (`on_fire`); the driver then ends the run, naming the worker, and kills it."""

    def __init__(self, context: RunContext, on_fire: Callable[[RunAborted], None]) -> None:
        super().__init__(context.sample_timeout_ns, context.clock, context._last_completion)
        self._context = context
        self._on_fire = on_fire

    def fire(self) -> None:
        error = self._context.interruption("")  # the watch fired: the single-process SampleTimeout
        if self._context.recorder is not None:
            self._context.recorder.fail(error)
        self._on_fire(error)


class HeldClock(Clock):
    """The real clock, held at `start_ns` until it gets there: a Server engine started early takes
    the common start as its zero and issues every query at its scheduled time from it."""

    def __init__(self, start_ns: int) -> None:
        super().__init__()
        self.now_ns = lambda: max(monotonic_ns(), start_ns)


def _kind(error: RunAborted | None) -> str | None:
    if error is None:
        return None
    return "stopped" if isinstance(error, Interrupted) else "sut" if isinstance(error, SutError) else "timeout"
