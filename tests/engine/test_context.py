"""The run context: hooks for the run only, nothing left alive, breaches caught to the very end,
and the stall timeout and drain measured on a fake clock (no test here sleeps)."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from loadgen.benchmark.runner import Benchmark, run_benchmark
from loadgen.engine.clock import FakeClock
from loadgen.engine.loops import Engine
from loadgen.engine.query import IndexQSL, SampleBatch
from loadgen.errors import SampleTimeout, SutError
from loadgen.settings.model import TestSettings


def run(sut: Any, clock: FakeClock | None = None, observer: Any = None, **values: Any) -> Benchmark:
    settings = TestSettings(**{"min_query_count": 1, "sample_timeout_ms": 1000, **values})
    return run_benchmark(sut, IndexQSL(64), settings, clock=clock, observer=observer, fingerprint={})


class Instant:
    name = "Instant"

    def __init__(self) -> None:
        self.hooks: list[object] = []

    def issue_query(self, samples: SampleBatch) -> None:
        self.hooks.append(threading.excepthook)
        samples.complete()

    def flush_queries(self) -> None:
        pass


class Raising(Instant):
    def issue_query(self, samples: SampleBatch) -> None:
        self.hooks.append(threading.excepthook)
        raise ValueError("boom")


@pytest.mark.parametrize("sut", [Instant(), Raising()])
def test_the_thread_hook_is_installed_for_the_run_only(sut: Instant) -> None:
    before = threading.excepthook
    run(sut, FakeClock(), scenario="Offline", offline_expected_qps=100.0, min_duration_ms=0)
    assert sut.hooks and all(hook is not before for hook in sut.hooks)
    assert threading.excepthook is before


def test_a_finished_run_leaves_nothing_of_itself_alive() -> None:
    """No module keeps the last run's recorder (and its trace) once the caller drops the result."""
    seen: list[weakref.ref[Any]] = []

    class Remembers(Instant):
        def issue_query(self, samples: SampleBatch) -> None:
            seen.append(weakref.ref(samples.phase))
            samples.complete()

    bench = run(Remembers(), FakeClock(), scenario="Offline", offline_expected_qps=100.0, min_duration_ms=0)
    del bench
    gc.collect()
    assert seen and all(ref() is None for ref in seen)


class LateBreach:
    """Completes every batch, then after flush_queries breaks the protocol from a thread once the
    engine's final wait is over (the observer's exit lets it go)."""

    name = "LateBreach"

    def __init__(self, how: str) -> None:
        self.how = how
        self.go = threading.Event()
        self.batches: list[SampleBatch] = []
        self.thread: threading.Thread | None = None

    def issue_query(self, samples: SampleBatch) -> None:
        self.batches.append(samples)
        samples.complete()

    def flush_queries(self) -> None:
        def late() -> None:
            self.go.wait(10)
            if self.how == "twice":
                self.batches[0].complete()
            else:
                raise RuntimeError("worker died after the run")

        self.thread = threading.Thread(target=late, name="late-worker")
        self.thread.start()

    @contextmanager
    def observer(self, engine: Engine) -> Iterator[None]:
        yield  # the timed run, its flush and its final wait happen inside
        self.go.set()
        assert self.thread is not None
        self.thread.join(10)


@pytest.mark.parametrize(
    ("how", "words"), [("twice", "completed sample id 1 twice"), ("raise", "'late-worker' raised")]
)
def test_a_breach_after_the_final_wait_makes_the_run_invalid(how: str, words: str) -> None:
    sut = LateBreach(how)
    bench = run(sut, observer=sut.observer, scenario="SingleStream", single_stream_expected_latency_ns=1000,
                min_duration_ms=0, min_query_count=20)
    assert isinstance(bench.error, SutError) and words in str(bench.error)
    assert not bench.result.valid and bench.result.checks["run_completed"] is False
    assert bench.result.stop_reason.startswith("aborted at the end: ")


class GoesSilent:
    """Completes the first `answered` queries at once, then never again."""

    name = "GoesSilent"

    def __init__(self, answered: int) -> None:
        self.answered = answered
        self.calls = 0

    def issue_query(self, samples: SampleBatch) -> None:
        self.calls += 1
        if self.calls <= self.answered:
            samples.complete()

    def flush_queries(self) -> None:
        pass


def test_a_server_sut_that_goes_silent_is_stopped_one_timeout_after_its_last_completion() -> None:
    """Issuing is not progress: the run ends about 1 s after the 100th query, not after 10 s of schedule."""
    bench = run(GoesSilent(100), FakeClock(), scenario="Server", server_target_qps=1000.0, min_duration_ms=10_000)
    assert isinstance(bench.error, SampleTimeout) and "none completed for 1000 ms" in str(bench.error)
    last_completion = int(bench.trace.completed_ns.max())
    last_issue = int(bench.trace.issued_ns.max())
    assert 990_000_000 <= last_issue - last_completion <= 1_000_000_000  # the last issue before the timeout
    assert bench.trace.n_queries < 1_300  # of about 10,000 scheduled


def test_a_slow_rate_with_an_idle_sut_is_no_stall() -> None:
    """Queries 2 s apart, a 0.5 s timeout, a SUT that answers at once: nothing is outstanding between them."""
    bench = run(GoesSilent(10**9), FakeClock(), scenario="Server", server_target_qps=0.5, min_duration_ms=10_000,
                sample_timeout_ms=500)
    assert bench.error is None, bench.error
    assert bench.trace.n_queries >= 4


class Trickles:
    """A worker that completes one waiting sample each time the run's clock passes 40 ms: steady
    progress, so no stall, but far too slow to keep up."""

    name = "Trickles"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.backlog: list[tuple[SampleBatch, int]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.worker = threading.Thread(target=self.work, daemon=True)
        self.worker.start()
        clock.wait_for_pacers(1)

    def work(self) -> None:
        while not self.clock.pause(self.stop, 0.04):
            with self.lock:
                if self.backlog:
                    batch, sample_id = self.backlog.pop(0)
                    batch.complete(sample_id)

    def issue_query(self, samples: SampleBatch) -> None:
        with self.lock:
            self.backlog += [(samples, int(i)) for i in samples.ids]

    def flush_queries(self) -> None:
        pass


@pytest.mark.parametrize(
    ("values", "stopped_at_ns", "why"),
    [
        ({"min_duration_ms": 1000}, None, "issuing stopped (every scheduled query issued)"),
        ({"min_duration_ms": 1000, "max_duration_ms": 1000, "min_query_count": 500}, 1_000_000_000,
         "issuing stopped (max_duration_ms reached)"),
    ],
)
def test_the_drain_after_issuing_is_bounded_by_the_timeout_and_reports_what_is_outstanding(
    values: dict[str, int], stopped_at_ns: int | None, why: str
) -> None:
    clock = FakeClock()
    sut = Trickles(clock)
    bench = run(sut, clock, scenario="Server", server_target_qps=100.0, sample_timeout_ms=300, **values)
    sut.stop.set()
    assert isinstance(bench.error, SampleTimeout), bench.error
    assert "still outstanding 300 ms (sample_timeout_ms) after " + why in str(bench.error)
    outstanding = int(str(bench.error).split(" of ")[0])
    assert outstanding == int((bench.trace.completed_ns == -1).sum()) > 0
    last_issue = int(bench.trace.issued_ns.max())
    if stopped_at_ns is not None:
        assert last_issue < stopped_at_ns
    assert int(bench.trace.completed_ns.max()) <= (stopped_at_ns or last_issue) + 300_000_000 + 50_000_000


def test_a_silent_single_stream_sut_times_out_after_exactly_the_timeout_on_a_fake_clock() -> None:
    clock = FakeClock()
    bench = run(GoesSilent(3), clock, scenario="SingleStream", single_stream_expected_latency_ns=1000,
                min_duration_ms=1000, sample_timeout_ms=200)
    assert isinstance(bench.error, SampleTimeout) and "1 sample(s) outstanding" in str(bench.error)
    assert bench.trace.n_queries == 4
    assert 200_000_000 < clock.now_ns() < 300_000_000


def test_the_issue_watch_fires_on_the_run_clock() -> None:
    """A SUT blocked inside issue_query is interrupted once the run's (fake) clock passes the
    timeout with nothing completed: the watch paces itself on that clock, not on real time."""
    clock = FakeClock()
    entered = threading.Event()

    class Blocks(Instant):
        def issue_query(self, samples: SampleBatch) -> None:
            entered.set()
            for _ in range(3000):  # blocked for up to 30 s, in short sleeps so that a SIGINT
                time.sleep(0.01)  # landing just before a sleep is seen at the next one

    def push_time() -> None:
        entered.wait(10)
        clock.wait_for_pacers(2)  # the issue watch and the noise sampler
        clock.advance(1_100_000_000)

    helper = threading.Thread(target=push_time)
    helper.start()
    bench = run(Blocks(), clock, scenario="Offline", offline_expected_qps=100.0, min_duration_ms=0)
    helper.join(10)
    assert isinstance(bench.error, SampleTimeout)
    assert "issue_query did not return, and completed nothing, for 1 s" in str(bench.error)
