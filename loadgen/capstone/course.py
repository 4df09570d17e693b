"""The course's figures for a submission, exactly as module 20 computes them, one function each, for the
writer and the validator alike; this harness's own figures (the speedup of medians) under their own names."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from loadgen.capstone.schema import ATOL, RTOL
from loadgen.metrics.figures import Metrics, percentile_label


def speedup(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> float:
    """The course's speedup (module 20's generate_submission): baseline / optimized `latency_ms_mean`."""
    return float(baseline["latency_ms_mean"] / optimized["latency_ms_mean"])


def median_speedup(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> float:
    """This harness's speedup of medians (robust to a few slow samples), reported beside the course's."""
    return float(baseline["latency_ms_median"] / optimized["latency_ms_median"])


def compression_ratio(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> float:
    """The course's compression: baseline / optimized `model_size_mb`."""
    return float(baseline["model_size_mb"] / optimized["model_size_mb"])


def accuracy_delta(baseline: Mapping[str, Any], optimized: Mapping[str, Any]) -> float:
    """The course's accuracy delta: optimized - baseline `accuracy`."""
    return float(optimized["accuracy"] - baseline["accuracy"])


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


def close(claimed: float, recomputed: float) -> bool:
    return math.isclose(claimed, recomputed, rel_tol=RTOL, abs_tol=ATOL)
