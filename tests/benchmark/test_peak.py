"""FindPeakPerformance's search, over a fake run whose verdict depends only on the rate."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from loadgen.benchmark.peak import find_peak, run_find_peak
from loadgen.engine.query import IndexQSL, SampleBatch
from loadgen.errors import Interrupted, SampleTimeout, SettingsError, SutError
from loadgen.settings.model import TestSettings


def fake_runs(capacity: float, error_at: float | None = None) -> Any:
    def run_at(qps: float) -> Any:
        result = SimpleNamespace(valid=qps <= capacity)
        return SimpleNamespace(result=result, error="boom" if error_at is not None and qps >= error_at else None)

    return run_at


def test_doubles_then_bisects_to_the_precision() -> None:
    search = find_peak(fake_runs(137.0), start_qps=10.0, decimals=1)
    rates = [qps for qps, _ in search.tried]
    assert rates[:5] == [10.0, 20.0, 40.0, 80.0, 160.0]
    assert 137.0 - 0.1 <= search.best_qps <= 137.0
    assert all(ok == (qps <= 137.0) for qps, ok in search.tried)


def test_a_failing_start_ends_the_search() -> None:
    search = find_peak(fake_runs(3.0), start_qps=100.0, decimals=0)
    assert search.tried == [(100.0, False)]
    assert search.best is None


def test_an_aborted_run_ends_the_search() -> None:
    search = find_peak(fake_runs(1000.0, error_at=40.0), start_qps=10.0)
    assert [qps for qps, _ in search.tried] == [10.0, 20.0, 40.0]
    assert search.best_qps == 20.0


# --- the search over real runs: a broken SUT or Ctrl-C ends it INVALID, saying so -----------

QUICK = dict(scenario="Server", mode="FindPeakPerformance", min_duration_ms=50, min_query_count=50, pilot_ms=10,
             sample_timeout_ms=100, server_target_latency_percentile=0.5)


class Raising:
    name = "Raising"

    def issue_query(self, samples: SampleBatch) -> None:
        raise ValueError("model exploded")

    def flush_queries(self) -> None:
        pass


class Silent(Raising):
    def issue_query(self, samples: SampleBatch) -> None:
        pass


class CtrlCAfter(Raising):
    """Answers at once until its `calls`-th query, where the user presses Ctrl-C."""

    def __init__(self, calls: int) -> None:
        self.left = calls

    def issue_query(self, samples: SampleBatch) -> None:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt
        samples.complete()


@pytest.mark.parametrize(
    ("sut", "error", "words"),
    [(Raising(), SutError, "ValueError in issue_query"), (Silent(), SampleTimeout, "none completed")],
)
def test_a_broken_sut_ends_find_peak_invalid_before_it_starts(sut: Any, error: type, words: str) -> None:
    bench = run_find_peak(sut, IndexQSL(16), TestSettings(**QUICK))
    assert isinstance(bench.error, error) and words in str(bench.error)
    assert bench.result.valid is False and bench.result.mode == "FindPeakPerformance"
    assert any(r.startswith("find peak could not start: the run that measures") for r in bench.result.invalid_reasons)
    assert bench.result.error is not None and words in bench.result.error


def test_ctrl_c_during_the_search_is_reported_and_the_found_rate_is_a_lower_bound() -> None:
    bench = run_find_peak(CtrlCAfter(400), IndexQSL(16), TestSettings(**QUICK, server_target_qps=2000.0))
    assert isinstance(bench.error, Interrupted)
    assert bench.result.valid is False and "interrupted by the user" in (bench.result.error or "")
    reasons = " ".join(bench.result.invalid_reasons)
    assert "find peak stopped early: the run at" in reasons and "is a lower bound, not the peak" in reasons
    assert bench.result.peak_search is not None and bench.result.peak_search[-1][1] is False
    assert bench.result.peak_search[0] == (2000.0, True)


def test_a_rate_too_high_to_schedule_is_the_ceiling_not_an_error() -> None:
    settings = TestSettings(**{**QUICK, "min_duration_ms": 600_000, "max_duration_ms": 600_000}, server_target_qps=50.0)

    def run_at(qps: float) -> Any:
        if qps > 100:
            raise SettingsError(["too many samples"])
        return SimpleNamespace(result=SimpleNamespace(valid=True), error=None)

    search = find_peak(run_at, start_qps=settings.server_target_qps or 0, decimals=0)
    assert search.best_qps is not None and 99 <= search.best_qps <= 100
    assert search.limit is not None and "cannot run: too many samples" in search.limit
