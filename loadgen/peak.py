"""FindPeakPerformance (Server): the highest target rate whose run is still VALID.

As LoadGen does it: a run at the starting rate, which must pass (else the search stops and
says so), then the rate doubled until a run fails, then a binary search between the last
pass and the first fail until they are closer than the precision; the answer is the
highest passing rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from loadgen.runner import Benchmark

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
