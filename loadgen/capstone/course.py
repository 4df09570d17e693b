"""The course's figures for a submission, exactly as module 20 computes them, one function each, for the
writer and the validator alike; this harness's own figures (the speedup of medians) under their own names."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from loadgen.analysis import stats
from loadgen.capstone.schema import ATOL, RTOL
from loadgen.metrics.figures import Metrics, percentile_label

MEDIAN_RESAMPLES = 999
BOOTSTRAP_CHUNK = 2_000_000
"""Latencies drawn at once by the median speedup's bootstrap (16 MB of indices)."""


def speedup(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> float:
    """The course's speedup (module 20's generate_submission): baseline / optimized `latency_ms_mean`."""
    return stats.speedup(baseline["latency_ms_mean"], optimized["latency_ms_mean"])


def median_speedup(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> float:
    """This harness's speedup of medians (robust to a few slow samples), reported beside the course's."""
    return stats.speedup(baseline["latency_ms_median"], optimized["latency_ms_median"])


def median_speedup_interval(
    baseline_latencies: np.ndarray, optimized_latencies: np.ndarray, confidence: float = 0.95,
    resamples: int = MEDIAN_RESAMPLES, seed: int = 0,
) -> tuple[float, float] | None:
    """A percentile-bootstrap interval for the speedup of medians, each run's latencies resampled
    on their own; None with fewer than two latencies a side.

    Drawn in chunks of about `BOOTSTRAP_CHUNK` values, so 30,000 latencies a side (a fast model's
    5 s SingleStream run) cost some 250 MB less than a vectorised BCa's jackknife would (n^2 values)."""
    a, b = np.asarray(baseline_latencies, dtype=float), np.asarray(optimized_latencies, dtype=float)
    if a.size < 2 or b.size < 2:
        return None
    rng = np.random.default_rng(seed)
    ratios = np.empty(resamples)
    chunk = max(1, BOOTSTRAP_CHUNK // max(a.size, b.size))
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        medians_a = np.median(a[rng.integers(0, a.size, (count, a.size))], axis=1)
        medians_b = np.median(b[rng.integers(0, b.size, (count, b.size))], axis=1)
        ratios[start : start + count] = medians_a / medians_b
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)


def compression_ratio(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> float:
    """The course's compression: baseline / optimized `model_size_mb`."""
    return stats.compression_ratio(baseline["model_size_mb"], optimized["model_size_mb"])


def accuracy_delta(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> float:
    """The course's accuracy delta: optimized - baseline `accuracy`."""
    return stats.accuracy_delta(baseline["accuracy"], optimized["accuracy"])


IMPROVEMENT_INPUTS = {"speedup": "latency_ms_mean", "compression_ratio": "model_size_mb", "accuracy_delta": "accuracy"}
"""The metric each course improvement is computed from."""


IMPROVEMENTS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], float]] = {
    "speedup": speedup,
    "compression_ratio": compression_ratio,
    "accuracy_delta": accuracy_delta,
}


def compute_improvements(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> dict[str, float]:
    """The `improvements` block from two metric sets."""
    return {name: figure(baseline, optimized) for name, figure in IMPROVEMENTS.items()}


def run_figures(metrics: Metrics) -> dict[str, float]:
    """A run's latency (ns -> ms) and throughput in the submission's field names."""
    latency = metrics.latency
    if latency is None:
        raise ValueError("the run completed no query, so it has no latencies")
    percentiles = latency.percentiles_ns
    figures = {
        "latency_ms_mean": latency.mean_ns / 1e6,
        "latency_ms_median": percentiles[percentile_label(0.50)] / 1e6,
        "latency_ms_p95": percentiles[percentile_label(0.95)] / 1e6,
        "latency_ms_p99": percentiles[percentile_label(0.99)] / 1e6,
    }
    if metrics.samples_per_second is not None:
        figures["throughput_samples_per_sec"] = metrics.samples_per_second
    return figures


ACROSS_RUNS = "geometric mean of the runs' figures"
"""How a side with repeated runs states each latency and throughput figure: the estimator whose
ratios loadgen.analysis tests (a ratio of geometric means), so the course's speedup of two such
figures is the comparisons' own ratio."""


def across_runs(values: Sequence[float]) -> float:
    """A figure over repeated runs of one model (ACROSS_RUNS); one run's figure is itself."""
    if len(values) == 1:
        return float(values[0])
    return float(np.exp(np.mean(np.log(np.asarray(values, dtype=float)))))


def close(claimed: float, recomputed: float) -> bool:
    return math.isclose(claimed, recomputed, rel_tol=RTOL, abs_tol=ATOL)
