"""Contract tests: a recording fake SUT and QSL, the rules checked over what was recorded."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import numpy as np
import pytest

from loadgen.benchmark.runner import Benchmark, run_benchmark
from loadgen.engine.clock import FakeClock
from loadgen.engine.query import IndexQSL, SampleBatch
from loadgen.engine.trace import NOT_YET
from loadgen.errors import Interrupted, SampleTimeout, SutError
from loadgen.settings.model import Scenario, TestSettings

FAST = dict(
    min_duration_ms=50,
    min_query_count=70,
    single_stream_expected_latency_ns=2_000,
    multi_stream_expected_latency_ns=5_000,
    server_target_qps=20_000.0,
    offline_expected_qps=10_000.0,
    sample_timeout_ms=2_000,
)


class RecordingQSL(IndexQSL):
    """Remembers every load and unload, in order, beside the issues of the SUT."""

    def __init__(self, events: list[tuple[str, Any]], total: int = 64) -> None:
        super().__init__(total)
        self.events = events

    def load_samples(self, indices: np.ndarray) -> None:
        self.events.append(("load", indices.copy()))

    def unload_samples(self, indices: np.ndarray) -> None:
        self.events.append(("unload", indices.copy()))


class RecordingSUT:
    """Completes every batch at once and records what it saw."""

    name = "RecordingSUT"

    def __init__(self, events: list[tuple[str, Any]]) -> None:
        self.events = events

    def issue_query(self, samples: SampleBatch) -> None:
        self.events.append(("issue", (samples.ids.copy(), samples.indices.copy())))
        samples.complete()

    def flush_queries(self) -> None:
        self.events.append(("flush", None))


def run(sut: Any, scenario: str, qsl: Any = None, **overrides: Any) -> Benchmark:
    settings = TestSettings(scenario=scenario, **{**FAST, **overrides})
    return run_benchmark(sut, qsl or IndexQSL(64), settings, fingerprint={})


@pytest.mark.parametrize("scenario", [s.value for s in Scenario])
def test_every_scenario_loads_before_issuing_and_each_sample_completes_once(scenario: str) -> None:
    events: list[tuple[str, Any]] = []
    # An instant SUT finishes Offline at once; min_duration 0 lets that run be VALID too.
    duration = {"min_duration_ms": 0} if scenario == "Offline" else {}
    bench = run(RecordingSUT(events), scenario, RecordingQSL(events), **duration)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "load" and kinds[-1] == "unload"
    assert "flush" in kinds and kinds.index("flush") > max(i for i, k in enumerate(kinds) if k == "issue")
    loaded = set(events[0][1].tolist())
    issued_ids = np.concatenate([ids for kind, (ids, _) in ((k, v) for k, v in events if k == "issue")])
    issued_indices = np.concatenate([idx for kind, v in events if kind == "issue" for idx in [v[1]]])
    # Warm-up is off in FAST and the pilot is skipped, so every issue is the timed run's.
    assert np.array_equal(np.sort(issued_ids), np.arange(1, len(bench.trace) + 1))
    assert set(issued_indices.tolist()) <= loaded
    assert bench.result.valid, bench.result.invalid_reasons
    assert (bench.trace.completed_ns != NOT_YET).all()


def test_single_stream_keeps_one_query_outstanding() -> None:
    bench = run(RecordingSUT([]), "SingleStream")
    trace = bench.trace
    assert (trace.issued_ns[1:] >= trace.completed_ns[:-1]).all()
    assert np.array_equal(trace.scheduled_ns, trace.issued_ns)


def test_multi_stream_queries_are_contiguous_runs_of_the_loaded_set() -> None:
    events: list[tuple[str, Any]] = []
    bench = run(RecordingSUT(events), "MultiStream", RecordingQSL(events), multi_stream_samples_per_query=4)
    loaded = list(events[0][1])
    position = {index: pos for pos, index in enumerate(loaded)}
    for kind, value in events:
        if kind == "issue":
            positions = [position[i] for i in value[1].tolist()]
            assert len(positions) == 4
            assert all((b - a) % len(loaded) == 1 for a, b in itertools.pairwise(positions))
    assert bench.result.metrics is not None and bench.result.metrics.queries_completed >= 70


def test_offline_issues_one_query_with_every_sample() -> None:
    events: list[tuple[str, Any]] = []
    run(RecordingSUT(events), "Offline", RecordingQSL(events))
    issues = [value for kind, value in events if kind == "issue"]
    assert len(issues) == 1
    assert len(issues[0][0]) == max(70, 550)


def test_server_needs_early_stopping_queries_even_when_every_query_is_fast() -> None:
    bench = run(RecordingSUT([]), "Server", server_target_qps=2_000.0)
    assert bench.result.checks["early_stopping"] is False
    assert "needs >= 459 queries" in " ".join(bench.result.invalid_reasons)


def test_server_latency_counts_from_the_scheduled_time_when_the_sut_stalls() -> None:
    class StallOnce:
        name = "StallOnce"

        def __init__(self) -> None:
            self.stalled = False

        def issue_query(self, samples: SampleBatch) -> None:
            if not self.stalled:
                self.stalled = True
                time.sleep(0.03)
            samples.complete()

        def flush_queries(self) -> None:
            pass

    bench = run(StallOnce(), "Server", server_target_qps=2_000.0)
    metrics = bench.result.metrics
    assert metrics is not None and metrics.issue_delay is not None and metrics.latency is not None
    assert metrics.issue_delay.max_ns >= 20_000_000
    # Queries due during the stall are issued late, and their latency includes the wait.
    assert metrics.latency.max_ns >= metrics.issue_delay.max_ns
    assert (bench.trace.issued_ns >= bench.trace.scheduled_ns).all()


class Raising:
    name = "Raising"

    def issue_query(self, samples: SampleBatch) -> None:
        raise ValueError("model exploded")

    def flush_queries(self) -> None:
        pass


class Silent:
    name = "Silent"

    def issue_query(self, samples: SampleBatch) -> None:
        pass

    def flush_queries(self) -> None:
        pass


class Twice:
    name = "Twice"

    def issue_query(self, samples: SampleBatch) -> None:
        samples.complete()
        samples.complete()

    def flush_queries(self) -> None:
        pass


class UnknownId:
    name = "UnknownId"

    def issue_query(self, samples: SampleBatch) -> None:
        samples.complete(np.array([10**9]))

    def flush_queries(self) -> None:
        pass


class ThreadRaises:
    name = "ThreadRaises"

    def issue_query(self, samples: SampleBatch) -> None:
        def work() -> None:
            raise RuntimeError("worker died")

        threading.Thread(target=work, name="worker-7").start()

    def flush_queries(self) -> None:
        pass


class Hangs:
    name = "Hangs"

    def issue_query(self, samples: SampleBatch) -> None:
        time.sleep(30)

    def flush_queries(self) -> None:
        pass


class CtrlC:
    name = "CtrlC"

    def __init__(self) -> None:
        self.calls = 0

    def issue_query(self, samples: SampleBatch) -> None:
        self.calls += 1
        if self.calls == 20:
            raise KeyboardInterrupt
        samples.complete()

    def flush_queries(self) -> None:
        pass


@pytest.mark.parametrize(
    ("sut", "error_type", "words"),
    [
        (Raising(), SutError, "ValueError in issue_query: model exploded"),
        (Silent(), SampleTimeout, "none completed"),
        (Twice(), SutError, "twice"),
        (UnknownId(), SutError, "never issued"),
        (ThreadRaises(), SutError, "'worker-7' raised RuntimeError: worker died"),
        (CtrlC(), Interrupted, "interrupted"),
        (Hangs(), SampleTimeout, "issue_query did not return, and completed nothing"),
    ],
)
@pytest.mark.parametrize("scenario", ["SingleStream", "Server", "Offline"])
def test_a_broken_sut_ends_the_run_invalid_with_the_reason(
    sut: Any, error_type: type, words: str, scenario: str
) -> None:
    if isinstance(sut, CtrlC):
        sut.calls = 0 if scenario != "Offline" else 19
    bench = run(sut, scenario, sample_timeout_ms=100)
    assert isinstance(bench.error, error_type)
    assert words in str(bench.error)
    assert not bench.result.valid
    assert any(words in reason for reason in bench.result.invalid_reasons)
    assert bench.result.checks["run_completed"] is False


def test_max_duration_stops_a_run_that_would_go_on() -> None:
    bench = run(RecordingSUT([]), "SingleStream", min_query_count=10**6, max_duration_ms=60)
    assert bench.result.stop_reason == "max_duration_ms reached"
    assert bench.trace.completed_ns.max() < 10_000_000_000
    assert not bench.result.valid
    assert bench.result.checks["min_queries"] is False


def test_pilot_fills_unset_values_and_says_so() -> None:
    settings = dict(FAST, offline_expected_qps=None, pilot_ms=20)
    bench = run(RecordingSUT([]), "Offline", **settings)
    assert set(bench.result.chosen_by_pilot) == {"offline_expected_qps"}
    assert "pilot" in bench.result.chosen_by_pilot["offline_expected_qps"]
    assert bench.result.settings_requested["offline_expected_qps"] is None
    assert bench.result.settings_effective["offline_expected_qps"] > 0


def test_warm_up_is_not_recorded() -> None:
    events: list[tuple[str, Any]] = []
    bench = run(RecordingSUT(events), "SingleStream", warmup_ms=20)
    assert bench.result.warmup_queries > 0
    issued = sum(1 for kind, _ in events if kind == "issue")
    assert issued == bench.result.warmup_queries + len(bench.trace)


def test_fake_clock_gives_exact_latencies() -> None:
    """One tick per clock read: every SingleStream query sees the same number of reads."""
    settings = TestSettings(scenario="SingleStream", **{**FAST, "min_duration_ms": 0})
    bench = run_benchmark(RecordingSUT([]), IndexQSL(64), settings, clock=FakeClock(step_ns=1_000), fingerprint={})
    latency = bench.result.metrics.latency  # type: ignore[union-attr]
    assert latency is not None and latency.count == 70
    assert latency.min_ns == latency.max_ns == latency.percentiles_ns["90.0"]
    assert latency.min_ns % 1_000 == 0 and latency.min_ns > 0


def test_a_qsl_that_fails_to_load_is_reported() -> None:
    class BadQSL(IndexQSL):
        def load_samples(self, indices: np.ndarray) -> None:
            raise OSError("disk gone")

    bench = run(RecordingSUT([]), "Offline", BadQSL(8))
    assert isinstance(bench.error, SutError)
    assert "the QSL raised OSError in load_samples: disk gone" in bench.result.invalid_reasons[0]


def test_a_sut_thread_dying_during_the_pilot_ends_the_run_at_once() -> None:
    bench = run(ThreadRaises(), "Offline", offline_expected_qps=None, sample_timeout_ms=20_000)
    assert isinstance(bench.error, SutError) and "worker-7" in str(bench.error)
    assert "before timing" in bench.result.stop_reason


def test_a_long_issue_call_that_keeps_completing_is_not_cut_off() -> None:
    """An Offline batch served inside issue_query for longer than the timeout is progress."""

    class SlowButSteady:
        name = "SlowButSteady"

        def issue_query(self, samples: SampleBatch) -> None:
            for sample_id in samples.ids.tolist():
                time.sleep(0.002)
                samples.complete(sample_id)

        def flush_queries(self) -> None:
            pass

    bench = run(SlowButSteady(), "Offline", offline_expected_qps=500.0, min_duration_ms=600, sample_timeout_ms=200)
    assert bench.error is None, bench.error
    assert bench.result.metrics.duration_ns > 2 * 200_000_000  # twice the timeout, inside one call
