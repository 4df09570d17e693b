"""FindPeakPerformance (Server): the highest target rate whose run is still VALID.

As LoadGen does it: a run at the starting rate, which must pass (else the search stops and
says so), then the rate doubled until a run fails, then a binary search between the last
pass and the first fail until they are closer than the precision; the answer is the
highest passing rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from loadgen.benchmark.runner import Benchmark, Observer, run_benchmark
from loadgen.engine.query import QuerySampleLibrary, SystemUnderTest
from loadgen.errors import Interrupted, SettingsError
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
    limit: str | None = None
    """Why the search could not go higher (a rate whose schedule cannot run), if it hit a limit."""


def find_peak(run_at: Callable[[float], Benchmark], start_qps: float, decimals: int = 1) -> PeakSearch:
    """Search with `run_at(qps)`; a run that aborts (SUT error, Ctrl-C) ends the search, and a
    rate whose settings cannot run is its ceiling."""
    search = PeakSearch()

    def passes(qps: float) -> bool | None:
        try:
            bench = run_at(qps)
        except SettingsError as exc:
            search.limit = f"{qps:g} queries/s cannot run: {exc}"
            return False
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
    """Server runs at rising rates; the result is the best passing run's, with every rate tried.

    A search that cannot start (the pilot run aborts) or is cut short (a SUT error, Ctrl-C) ends
    INVALID with the aborted run's error, so its exit code says what happened."""
    fingerprint = collect_fingerprint()
    start = settings.server_target_qps
    if start is None:
        quick = settings.model_copy(update={"min_duration_ms": 0, "min_query_count": 1, "mode": Mode.PerformanceOnly})
        pilot = run_benchmark(sut, qsl, quick, fingerprint=fingerprint)
        start = pilot.result.settings_effective.get("server_target_qps")
        if pilot.error is not None or not isinstance(start, (int, float)):
            why = f"the run that measures the starting rate aborted: {pilot.error or 'no rate was measured'}"
            return _peak_outcome(PeakSearch(last=pilot), [f"find peak could not start: {why}"])
    last: list[Benchmark] = []

    def run_at(qps: float) -> Benchmark:
        try:
            if progress is not None:
                print(f"find peak: running at {qps:g} queries/s", file=progress)
            one = settings.model_copy(update={"server_target_qps": qps, "mode": Mode.PerformanceOnly})
            last[:] = [run_benchmark(sut, qsl, one, observer=observer, fingerprint=fingerprint)]
        except KeyboardInterrupt:
            if not last:
                raise
            last[:] = [_interrupted(last[0], f"between runs of the peak search, before {qps:g} queries/s")]
        return last[0]

    search = find_peak(run_at, start, settings.server_find_peak_qps_decimals_of_precision)
    return _peak_outcome(search, _search_problems(search, start))


def _interrupted(bench: Benchmark, when: str) -> Benchmark:
    """The last run, standing for a search that Ctrl-C stopped outside any run."""
    error = Interrupted(f"interrupted by the user {when}")
    return Benchmark(result=bench.result, trace=bench.trace, error=error, accuracy=bench.accuracy)


def _search_problems(search: PeakSearch, start: float) -> list[str]:
    """Why the search's answer is not a peak: it was cut short, or its starting rate failed."""
    aborted = search.last.error if search.last is not None else None
    if aborted is not None:
        qps = search.tried[-1][0]
        found = (
            f"; {search.best_qps:g} queries/s, the highest VALID rate found, is a lower bound, not the peak"
            if search.best_qps is not None
            else ""
        )
        return [f"find peak stopped early: the run at {qps:g} queries/s aborted: {aborted}{found}"]
    if search.best is None:
        return [f"find peak: the starting rate {start:g} queries/s was not VALID; lower server_target_qps"]
    return []


def _peak_outcome(search: PeakSearch, problems: list[str]) -> Benchmark:
    """The search as one result: the best passing run (or the last run), marked with every rate
    tried, INVALID with the problems, carrying the aborted run's error."""
    chosen = search.best or search.last
    assert chosen is not None
    aborted = search.last.error if search.last is not None else None
    update: dict[str, object] = {"mode": Mode.FindPeakPerformance.value, "peak_search": list(search.tried)}
    if problems:
        update |= {"valid": False, "invalid_reasons": [*chosen.result.invalid_reasons, *problems]}
    if aborted is not None:
        update["error"] = str(aborted)
    if search.limit is not None:
        update["warnings"] = [*chosen.result.warnings, f"find peak went no higher: {search.limit}"]
    result = chosen.result.model_copy(update=update)
    return Benchmark(result=result, trace=chosen.trace, error=aborted or chosen.error, accuracy=chosen.accuracy)
