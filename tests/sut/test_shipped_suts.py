"""The shipped SUTs under the real engine: they complete every sample, at the speed they claim."""

from __future__ import annotations

import numpy as np
import pytest

from loadgen.benchmark.runner import run_benchmark
from loadgen.engine.query import IndexQSL
from loadgen.settings.model import TestSettings
from sut.digit_mlp import make_sut as make_digit_mlp
from sut.fixed_time import FixedTimeSUT
from sut.null import NullSUT


def quick(scenario: str, **values: object) -> TestSettings:
    return TestSettings.model_validate(
        {"scenario": scenario, "min_duration_ms": 100, "min_query_count": 10, "pilot_ms": 20} | values
    )


def test_fixed_time_sut_never_beats_its_service_time() -> None:
    sut = FixedTimeSUT(service_us=300, workers=1)
    try:
        bench = run_benchmark(sut, IndexQSL(16), quick("SingleStream"), fingerprint={})
    finally:
        sut.close()
    latency = bench.result.metrics.latency  # type: ignore[union-attr]
    assert latency is not None and latency.min_ns >= 300_000


def test_fixed_time_sut_spreads_an_offline_batch_over_its_workers() -> None:
    sut = FixedTimeSUT(service_us=0, workers=3)
    try:
        bench = run_benchmark(sut, IndexQSL(16), quick("Offline", min_duration_ms=0), fingerprint={})
    finally:
        sut.close()
    assert (bench.trace.completed_ns >= 0).all()


@pytest.mark.parametrize(("service_us", "workers"), [(-1, 1), (10, 0)])
def test_fixed_time_sut_rejects_impossible_parameters(service_us: float, workers: int) -> None:
    with pytest.raises(ValueError):
        FixedTimeSUT(service_us=service_us, workers=workers)


def test_null_sut_completes_inside_issue_query() -> None:
    bench = run_benchmark(NullSUT(), IndexQSL(16), quick("Server", server_target_qps=20_000.0), fingerprint={})
    assert bench.result.metrics.samples_completed == len(bench.trace)  # type: ignore[union-attr]


def test_default_sut_classifies_tinydigits_with_its_own_qsl() -> None:
    sut = make_digit_mlp(batch_size=7)
    assert sut.qsl.total_sample_count == 200
    bench = run_benchmark(sut, sut.qsl, quick("Offline", min_duration_ms=0), fingerprint={})
    assert bench.result.valid
    assert bench.result.sut_name == "DigitMLP (numpy) on TinyDigits"
    assert np.all(bench.trace.response_size == 40)  # ten float32 logits


def test_default_sut_rejects_a_zero_batch() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        make_digit_mlp(batch_size=0)
