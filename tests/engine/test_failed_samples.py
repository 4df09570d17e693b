"""SampleBatch.fail: a SUT reports samples it could not answer; the run ends INVALID with counts."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from loadgen.benchmark.runner import Benchmark, run_benchmark
from loadgen.engine.query import IndexQSL, SampleBatch
from loadgen.engine.trace import NOT_YET
from loadgen.settings.model import Scenario, TestSettings

FAST = dict(
    min_duration_ms=50,
    min_query_count=70,
    single_stream_expected_latency_ns=2_000,
    multi_stream_expected_latency_ns=5_000,
    server_target_qps=20_000.0,
    offline_expected_qps=10_000.0,
    sample_timeout_ms=2_000,
    warmup_ms=0,
)


class FailingSUT:
    """Fails every sample whose index is a multiple of 4 ("HTTP 503"), or of 7 ("timeout"),
    from a thread of its own, and completes the rest."""

    name = "FailingSUT"

    def issue_query(self, samples: SampleBatch) -> None:
        threading.Thread(target=self._answer, args=(samples,)).start()

    def _answer(self, samples: SampleBatch) -> None:
        by_503 = samples.indices % 4 == 0
        by_timeout = (samples.indices % 7 == 0) & ~by_503
        if by_503.any():
            samples.fail(samples.ids[by_503], "HTTP 503")
        for sample_id in samples.ids[by_timeout].tolist():
            samples.fail(sample_id, "timeout")
        rest = samples.ids[~(by_503 | by_timeout)]
        if rest.size:
            samples.complete(rest)

    def flush_queries(self) -> None:
        """Every sample is answered by its own thread."""


def run(sut: Any, scenario: str) -> Benchmark:
    return run_benchmark(sut, IndexQSL(64), TestSettings(scenario=scenario, **FAST), fingerprint={})


@pytest.mark.parametrize("scenario", [s.value for s in Scenario])
def test_failed_samples_end_the_run_invalid_with_counts_per_reason(scenario: str) -> None:
    benchmark = run(FailingSUT(), scenario)
    result, trace = benchmark.result, benchmark.trace
    assert benchmark.error is None  # failures are data, not an abort
    index = trace.sample_index
    expected = {"HTTP 503": int(np.count_nonzero(index % 4 == 0))}
    timeouts = int(np.count_nonzero((index % 7 == 0) & (index % 4 != 0)))
    if timeouts:
        expected["timeout"] = timeouts
    assert result.failed_samples == expected
    assert not result.valid and result.checks["no_failed_samples"] is False
    total = sum(expected.values())
    summary = f"{total} of {len(trace)} samples failed: {expected['HTTP 503']} HTTP 503"
    assert any(reason.startswith(summary) for reason in result.invalid_reasons)
    failed = (index % 4 == 0) | (index % 7 == 0)
    assert (trace.completed_ns[failed] == NOT_YET).all()  # a failed sample has no latency
    assert (trace.completed_ns[~failed] != NOT_YET).all()
    assert result.metrics is not None and result.metrics.samples_completed == int(np.count_nonzero(~failed))


def test_a_run_without_failures_has_no_failure_check() -> None:
    class Complete:
        name = "Complete"

        def issue_query(self, samples: SampleBatch) -> None:
            samples.complete()

        def flush_queries(self) -> None:
            """Nothing pending."""

    result = run(Complete(), "Offline").result
    assert result.failed_samples == {} and "no_failed_samples" not in result.checks


class FailsThenCompletes:
    """Breaks the protocol: reports a sample failed, then completes it."""

    name = "FailsThenCompletes"

    def issue_query(self, samples: SampleBatch) -> None:
        samples.fail(reason="connection refused")
        samples.complete()

    def flush_queries(self) -> None:
        """Nothing pending."""


def test_completing_a_failed_sample_is_a_protocol_breach() -> None:
    benchmark = run(FailsThenCompletes(), "SingleStream")
    assert benchmark.error is not None and "completed sample id 1 twice" in str(benchmark.error)


def test_failures_in_the_accuracy_pass_make_it_invalid_and_are_not_counted_as_answered() -> None:
    settings = TestSettings(scenario="Offline", mode="AccuracyOnly", **FAST)
    result = run_benchmark(FailingSUT(), IndexQSL(64), settings, fingerprint={}).result
    assert result.accuracy is not None and not result.valid
    failed = sum(1 for i in range(64) if i % 4 == 0 or i % 7 == 0)
    assert result.accuracy.completed == 64 - failed
    assert any(reason.startswith(f"accuracy run: {failed} of 64 samples failed") for reason in result.invalid_reasons)
