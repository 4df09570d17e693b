"""What a run's plots show, computed from its trace with numpy: histograms and time bins, never a point per sample.

A 60 M-sample Offline run must plot in seconds and well under a gigabyte, so every series
here is a fixed number of bins filled chunk by chunk. Latencies are always those of
`loadgen.metrics.figures.query_latencies_ns` (Offline's per sample, the others' per query,
from the scheduled time) and issue delays those of `issue_delays_ns`: the plots show the
same numbers the summary reports, binned. The percentile bands over time are read from a
log-spaced histogram per time bin, with LoadGen's percentile rank (`percentile_index`), so
they are exact to one histogram bin (a factor of 10^(1/bins_per_decade)).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from loadgen.engine.trace import NOT_YET, Trace
from loadgen.metrics.figures import issue_delays_ns, query_latencies_ns
from loadgen.metrics.percentile import percentile_index
from loadgen.settings.model import Scenario

CHUNK = 1 << 22
"""Samples binned at a time: 4 M rows keep every temporary under ~50 MB."""
MAX_BINS_PER_DECADE = 40
MAX_LATENCY_BINS = 240
MAX_TIME_BINS = 120
BAND_PERCENTILES = (0.5, 0.9, 0.99)
MIN_DELAY_NS = 100
"""Issue delays below this are drawn in the first bin (a log axis has no zero)."""


@dataclass(frozen=True)
class LogHistogram:
    """Counts in log-spaced bins; edges_ns has one more entry than counts."""

    edges_ns: np.ndarray
    counts: np.ndarray
    bins_per_decade: int

    @property
    def total(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True)
class TimeBins:
    """Per time bin (ns since the start of timing): completions and the latency percentiles of what completed."""

    edges_ns: np.ndarray
    completed_samples: np.ndarray
    completed_points: np.ndarray
    bands_ns: dict[float, np.ndarray]
    outstanding: np.ndarray
    """Queries (Offline: samples) issued but not complete at each bin's right edge."""


@dataclass(frozen=True)
class Gaps:
    """Server arrivals: the scheduled and issued gaps as densities and survival curves, and the intended rate."""

    rate_per_s: float
    density_edges_ns: np.ndarray
    scheduled_density: np.ndarray
    issued_density: np.ndarray
    survival_x_ns: np.ndarray
    scheduled_survival: np.ndarray
    issued_survival: np.ndarray


@dataclass(frozen=True)
class RunSeries:
    """Everything the single-run page plots; a part is None when the run has nothing to show there."""

    unit: str
    """'query' or 'sample': what one latency is of."""
    latency: LogHistogram | None
    time: TimeBins | None
    issue_delay: LogHistogram | None
    gaps: Gaps | None


def _chunks(trace: Trace, scenario: Scenario) -> Iterator[tuple[np.ndarray | int, np.ndarray]]:
    """(completion time, latency) of every completed query (Offline: sample), in slices of CHUNK rows.

    An Offline run's one query makes every completion time its latency plus one offset: that
    offset comes back as an int rather than as a second array of tens of millions of times."""
    if scenario is Scenario.Offline and trace.n_queries == 1:
        for start in range(0, len(trace), CHUNK):
            part = _sample_slice(trace, start, start + CHUNK)
            yield int(trace.scheduled_ns[0]), query_latencies_ns(part, scenario)
        return
    latencies = query_latencies_ns(trace, scenario)
    if scenario is Scenario.Offline:
        done = trace.completed_ns != NOT_YET
        yield trace.completed_ns[done] - latencies, latencies
        return
    if latencies.size:
        starts = trace.query_offsets[:-1]
        all_done = np.logical_and.reduceat(trace.completed_ns != NOT_YET, starts)
        yield trace.scheduled_ns[all_done], latencies


def _sample_slice(trace: Trace, start: int, stop: int) -> Trace:
    """Rows start:stop of a one-query trace, as a one-query trace (views, no copies)."""
    rows = slice(start, stop)
    n = len(trace.completed_ns[rows])
    return Trace(
        query_offsets=np.array([0, n], dtype=np.int64),
        scheduled_ns=trace.scheduled_ns[:1],
        issued_ns=trace.issued_ns[:1],
        sample_index=trace.sample_index[rows],
        completed_ns=trace.completed_ns[rows],
        response_size=trace.response_size[rows],
    )


def log_edges(low_ns: float, high_ns: float) -> tuple[np.ndarray, int]:
    """Log-spaced edges covering [low, high] at whole fractions of a decade, at most MAX_LATENCY_BINS."""
    low = max(float(low_ns), 1.0)
    high = max(float(high_ns), low * 1.001)
    decades = math.log10(high) - math.log10(low)
    per_decade = max(4, min(MAX_BINS_PER_DECADE, int(MAX_LATENCY_BINS / max(decades, 0.1))))
    first = math.floor(math.log10(low) * per_decade)
    last = max(math.ceil(math.log10(high) * per_decade), first + 1)
    return 10.0 ** (np.arange(first, last + 1) / per_decade), per_decade


def _log_bin(values: np.ndarray, edges: np.ndarray, per_decade: int) -> np.ndarray:
    """Bin index of each value (clipped into range), via a float32 log: fast on tens of millions."""
    return _log_bin_in_place(values.astype(np.float32), edges, per_decade)


def _log_bin_in_place(positions: np.ndarray, edges: np.ndarray, per_decade: int) -> np.ndarray:
    """_log_bin of float32 values, overwriting them."""
    start = round(math.log10(edges[0]) * per_decade)
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero is -inf here and lands in the first bin
        np.log10(positions, out=positions)
        positions *= np.float32(per_decade)
        positions -= np.float32(start)
        np.maximum(positions, 0, out=positions)
        index = positions.astype(np.int32)
    np.clip(index, 0, len(edges) - 2, out=index)
    return index


def log_histogram(values: np.ndarray, low_ns: float | None = None, high_ns: float | None = None) -> LogHistogram | None:
    """A log-spaced histogram of positive values (nanoseconds); None when there are none."""
    if values.size == 0:
        return None
    low = float(values.min()) if low_ns is None else low_ns
    high = float(values.max()) if high_ns is None else high_ns
    edges, per_decade = log_edges(low, high)
    counts = np.bincount(_log_bin(values, edges, per_decade), minlength=len(edges) - 1)
    return LogHistogram(edges, counts.astype(np.int64), per_decade)


def _grid_index(base: np.ndarray | int, latencies: np.ndarray, start_ns: int, per_ns: float, n_time: int,
                edges: np.ndarray, per_decade: int) -> np.ndarray:
    """time bin x latency bins + latency bin of each completion (base + latency), in float32 arithmetic:
    at 120 time bins float32's 24 bits are ample, and no integer division or second int64 copy is made."""
    values = latencies.astype(np.float32)
    if isinstance(base, int):
        times = values * np.float32(per_ns)
        times += np.float32((base - start_ns) * per_ns)
    else:
        times = ((base - start_ns) + latencies).astype(np.float32)
        times *= np.float32(per_ns)
    index = times.astype(np.int32)
    np.clip(index, 0, n_time - 1, out=index)
    index *= len(edges) - 1
    index += _log_bin_in_place(values, edges, per_decade)
    return index


def _time_bin_count(points: int) -> int:
    return int(min(MAX_TIME_BINS, max(10, points // 20)))


def run_series(trace: Trace, scenario: Scenario, min_ns: int, max_ns: int, server_rate: float | None) -> RunSeries:
    """The plot data of one run; min_ns and max_ns are the run's latency range as its metrics report it."""
    unit = "sample" if scenario is Scenario.Offline else "query"
    rising = scenario is Scenario.Offline and trace.n_queries == 1 and _rising(trace.completed_ns)
    n_done, end_ns = _completions(trace.completed_ns, rising)
    if not n_done:
        return RunSeries(unit, None, None, None, None)
    edges, per_decade = log_edges(min_ns, max_ns)
    start_ns = min(0, int(trace.scheduled_ns.min())) if trace.n_queries else 0
    n_time = _time_bin_count(n_done if unit == "sample" else trace.n_queries)
    n_lat = len(edges) - 1
    per_ns = n_time / (end_ns - start_ns)
    if rising:
        grid = _rising_grid(trace, start_ns, per_ns, n_time, edges, per_decade)
    else:
        grid = np.zeros(n_time * n_lat, dtype=np.int64)
        for base, latencies in _chunks(trace, scenario):
            index = _grid_index(base, latencies, start_ns, per_ns, n_time, edges, per_decade)
            grid += np.bincount(index, minlength=grid.size)
    table = grid.reshape(n_time, n_lat)
    time_edges = np.linspace(start_ns, end_ns, n_time + 1)
    latency = LogHistogram(edges, table.sum(axis=0), per_decade)
    points = table.sum(axis=1)
    samples = _completions_per_bin(trace, time_edges) if unit == "query" else points
    bins = TimeBins(time_edges, samples, points, _bands(table, edges), _outstanding(trace, unit, time_edges, points))
    delay = gaps = None
    if scenario is Scenario.Server and trace.n_queries:
        delays = issue_delays_ns(trace)
        delay = log_histogram(np.maximum(delays, MIN_DELAY_NS), MIN_DELAY_NS, max(int(delays.max()), MIN_DELAY_NS * 10))
        if server_rate and trace.n_queries > 2:
            gaps = arrival_gaps(trace, server_rate)
    return RunSeries(unit, latency, bins, delay, gaps)


def _rising(completed: np.ndarray) -> bool:
    """Whether completion times never fall from row to row (NOT_YET rows, if any, first), checked chunk by chunk."""
    if completed.size and int(completed[0]) < NOT_YET:
        return False
    for start in range(0, completed.size - 1, CHUNK):
        part = completed[start:start + CHUNK + 1]
        if not np.all(part[1:] >= part[:-1]):
            return False
    return True


def _completions(completed: np.ndarray, rising: bool) -> tuple[int, int]:
    """(completed rows, last completion + 1 ns); with rising times read off the ends, else one pass each."""
    if rising:
        n_done = completed.size - int(np.searchsorted(completed, NOT_YET, side="right"))
        return n_done, int(completed[-1]) + 1 if n_done else 0
    n_done = int(np.count_nonzero(completed != NOT_YET))
    return n_done, int(completed.max()) + 1 if n_done else 0


def _rising_grid(trace: Trace, start_ns: int, per_ns: float, n_time: int, edges: np.ndarray,
                 per_decade: int) -> np.ndarray:
    """The time x latency grid of a one-query Offline run whose completions rise, with no pass over them.

    A sample's latency is its completion time less the one scheduled time, so both its time bin
    and its latency bin rise with its completion: the grid's cells follow one path, each cell
    holding the completions between two thresholds, which a binary search finds (exact, where
    the float32 path is exact to a bin's edge)."""
    completed = trace.completed_ns
    done = completed[int(np.searchsorted(completed, NOT_YET, side="right")):]
    scheduled = int(trace.scheduled_ns[0])
    lead = scheduled - start_ns
    time_steps = np.ceil(np.arange(1, n_time) / per_ns - lead).astype(np.int64)  # latency where bin j starts
    latency_steps = np.ceil(edges[1:-1]).astype(np.int64)
    thresholds = np.unique(np.r_[time_steps, latency_steps])
    below = np.searchsorted(done, thresholds + scheduled, side="left")
    counts = np.diff(np.r_[0, below, done.size])
    lowest = np.r_[thresholds[:1] - 1, thresholds]  # a latency inside each interval
    cells = (np.searchsorted(time_steps, lowest, side="right") * (len(edges) - 1)
             + np.searchsorted(latency_steps, lowest, side="right"))
    grid = np.zeros(n_time * (len(edges) - 1), dtype=np.int64)
    np.add.at(grid, cells, counts)
    return grid


def _completions_per_bin(trace: Trace, time_edges: np.ndarray) -> np.ndarray:
    """Samples completed in each time bin (queries may hold several samples)."""
    completed = trace.completed_ns[trace.completed_ns != NOT_YET]
    counts, _ = np.histogram(completed, bins=time_edges)
    return counts.astype(np.int64)


def _bands(table: np.ndarray, edges: np.ndarray) -> dict[float, np.ndarray]:
    """Per time bin, each band percentile as the geometric centre of the histogram bin holding its rank."""
    centres = np.sqrt(edges[:-1] * edges[1:])
    cumulative = np.cumsum(table, axis=1)
    totals = cumulative[:, -1]
    bands = {}
    for p in BAND_PERCENTILES:
        values = np.full(len(table), np.nan)
        for row in np.flatnonzero(totals):
            rank = percentile_index(int(totals[row]), p)
            values[row] = centres[int(np.searchsorted(cumulative[row], rank + 1))]
        bands[p] = values
    return bands


def _outstanding(trace: Trace, unit: str, time_edges: np.ndarray, completed_points: np.ndarray) -> np.ndarray:
    """Issued minus completed, at each time bin's right edge."""
    right = time_edges[1:]
    done = np.cumsum(completed_points)
    if unit == "sample":
        issued_samples = trace.per_sample(trace.issued_ns) if trace.n_queries > 1 else None
        if issued_samples is None:
            issued = np.where(right >= trace.issued_ns[0], len(trace), 0)
        else:
            issued = np.searchsorted(np.sort(issued_samples), right, side="right")
        return (issued - done).astype(np.int64)
    issued_times = np.sort(trace.issued_ns[trace.issued_ns != NOT_YET])
    return (np.searchsorted(issued_times, right, side="right") - done).astype(np.int64)


def arrival_gaps(trace: Trace, rate_per_s: float) -> Gaps:
    """The scheduled and issued inter-arrival gaps against the intended exponential of rate_per_s."""
    scheduled = np.diff(np.sort(trace.scheduled_ns)).astype(np.float64)
    issued = np.diff(np.sort(trace.issued_ns[trace.issued_ns != NOT_YET])).astype(np.float64)
    mean_ns = 1e9 / rate_per_s
    edges = np.linspace(0.0, 5 * mean_ns, 61)
    x = np.linspace(0.0, 8 * mean_ns, 161)

    def density(gaps: np.ndarray) -> np.ndarray:
        counts, _ = np.histogram(gaps, bins=edges)
        return counts / max(len(gaps), 1) / np.diff(edges) * 1e9  # per second, to compare with rate * exp(-rate t)

    def survival(gaps: np.ndarray) -> np.ndarray:
        ordered = np.sort(gaps)
        return 1.0 - np.searchsorted(ordered, x, side="right") / max(len(ordered), 1)

    return Gaps(rate_per_s, edges, density(scheduled), density(issued), x, survival(scheduled), survival(issued))


def latency_histogram(trace: Trace, scenario: Scenario, low_ns: float, high_ns: float) -> LogHistogram | None:
    """The run's latencies (as loadgen.metrics defines them) in log bins spanning [low, high]: the same
    edges for every run of a comparison, so their CDFs overlay."""
    if not (trace.completed_ns != NOT_YET).any():
        return None
    edges, per_decade = log_edges(low_ns, high_ns)
    counts = np.zeros(len(edges) - 1, dtype=np.int64)
    for _, latencies in _chunks(trace, scenario):
        counts += np.bincount(_log_bin(latencies, edges, per_decade), minlength=len(counts))
    return LogHistogram(edges, counts, per_decade)
