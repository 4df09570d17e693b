"""FindPeakPerformance's search, over a fake run whose verdict depends only on the rate."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from loadgen.benchmark.peak import find_peak


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
