"""FindPeakPerformance (Server): the highest target rate whose run is still VALID.

As LoadGen does it: a run at the starting rate, which must pass (else the search stops and
says so), then the rate doubled until a run fails, then a binary search between the last
pass and the first fail until they are closer than the precision; the answer is the
highest passing rate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from loadgen.benchmark.runner import Benchmark, Observer, run_benchmark
from loadgen.engine.query import QuerySampleLibrary, SystemUnderTest
from loadgen.machine.fingerprint import collect_fingerprint
from loadgen.settings.model import Mode, TestSettings

MAX_RUNS = 40


@dataclass
class PeakSearch:
    """Every run of the search, and the best (highest passing) one."""

    tried: list[tuple[float, bool]] = field(default_factory=list)
    best: Benchmark | None = None
    best_qps: float | None = None
    last: Benchmark | None = None


def find_peak(run_at: Callable[[float], Benchmark], start_qps: float, decimals: int = 1) -> PeakSearch:
    """Search with `run_at(qps)`; a run that aborts (SUT error, Ctrl-C) ends the search."""
    search = PeakSearch()

    def passes(qps: float) -> bool | None:
        bench = run_at(qps)
        search.last = bench
        search.tried.append((qps, bench.result.valid))
        if bench.error is not None:
            return None
        if bench.result.valid and (search.best_qps is None or qps > search.best_qps):
            search.best, search.best_qps = bench, qps
        return bench.result.valid

    lower = start_qps
    if not passes(lower):
        return search
    upper = lower * 2
    while (verdict := passes(upper)) and len(search.tried) < MAX_RUNS:
        lower, upper = upper, upper * 2
    precision = 10.0**-decimals
    while verdict is not None and upper - lower > precision and len(search.tried) < MAX_RUNS:
        middle = round((lower + upper) / 2, decimals + 1)
        verdict = passes(middle)
        if verdict:
            lower = middle
        else:
            upper = middle
    return search


def run_find_peak(
    sut: SystemUnderTest,
    qsl: QuerySampleLibrary,
    settings: TestSettings,
    observer: Observer | None = None,
    progress: TextIO | None = None,
) -> Benchmark:
    """Server runs at rising rates; the result is the best passing run's, with every rate tried."""
    fingerprint = collect_fingerprint()
    start = settings.server_target_qps
    if start is None:
        quick = settings.model_copy(update={"min_duration_ms": 0, "min_query_count": 1, "mode": Mode.PerformanceOnly})
        start = run_benchmark(sut, qsl, quick, fingerprint=fingerprint).result.settings_effective["server_target_qps"]

    def run_at(qps: float) -> Benchmark:
        if progress is not None:
            print(f"find peak: running at {qps:g} queries/s", file=progress)
        one = settings.model_copy(update={"server_target_qps": qps, "mode": Mode.PerformanceOnly})
        return run_benchmark(sut, qsl, one, observer=observer, fingerprint=fingerprint)

    search = find_peak(run_at, start, settings.server_find_peak_qps_decimals_of_precision)
    benchmark = search.best or search.last
    assert benchmark is not None
    update: dict[str, Any] = {"mode": Mode.FindPeakPerformance.value, "peak_search": search.tried}
    if search.best is None:
        update["valid"] = False
        update["invalid_reasons"] = [
            *benchmark.result.invalid_reasons,
            f"find peak: the starting rate {start:g} queries/s was not VALID; lower server_target_qps",
        ]
    return dataclasses.replace(benchmark, result=benchmark.result.model_copy(update=update))
