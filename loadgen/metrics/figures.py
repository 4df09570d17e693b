"""Every figure of a run, computed from its trace and settings, and nowhere else.

The summary, result.json, the reports and the validator all call these functions, so
they can never disagree. Latency is measured from a query's *scheduled* time (for Server,
its Poisson arrival; elsewhere its issue), so a late issue counts against the SUT.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from loadgen.engine.trace import NOT_YET, Trace
from loadgen.metrics import early_stopping
from loadgen.metrics.early_stopping import EarlyStoppingResult as EarlyStopping
from loadgen.metrics.percentile import REPORTED_PERCENTILES, select_percentiles
from loadgen.settings.model import Scenario, TestSettings

HEADLINES = {
    Scenario.SingleStream: "{p}th percentile latency (ns)",
    Scenario.MultiStream: "{p}th percentile latency (ns)",
    Scenario.Server: "Completed samples per second",
    Scenario.Offline: "Samples per second",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LatencySummary(_Frozen):
    """Min, max, mean and LoadGen percentiles (sorted[floor(n*p)]) of a set of latencies."""

    count: int
    min_ns: int
    max_ns: int
    mean_ns: float
    percentiles_ns: dict[str, int]


class Metrics(_Frozen):
    """The figures of one run; the headline is the scenario's official metric."""

    headline_name: str
    headline_value: float | None
    queries_issued: int
    queries_completed: int
    samples_issued: int
    samples_completed: int
    duration_ns: int
    last_scheduled_ns: int
    samples_per_second: float | None
    completed_samples_per_second: float | None
    latency: LatencySummary | None
    target_latency_percentile: float | None
    target_percentile_latency_ns: int | None
    issue_delay: LatencySummary | None
    early_stopping: EarlyStopping | None
    ttft: LatencySummary | None = None
    tpot: LatencySummary | None = None
    tokens_per_second: float | None = None
    # LoadGen's further figures, each in the scenario where LoadGen logs it:
    sample_latency: LatencySummary | None = None
    """MultiStream: per-sample latency (completion - query scheduled time); `latency` is per query."""
    early_stopping_99: EarlyStopping | None = None
    """SingleStream: the early-stopping estimate of the 99th percentile, which LoadGen also reports."""
    qps_with_loadgen_overhead: float | None = None
    """SingleStream: (queries - 1) / the last query's issue time."""
    qps_without_loadgen_overhead: float | None = None
    """SingleStream: 1 / mean latency."""
    scheduled_samples_per_second: float | None = None
    """Server: (queries - 1) / the last query's scheduled time."""
    tokens: int | None = None
    """Output tokens of the completed samples (token-latency runs)."""
    token_throughput: float | None = None
    """Tokens / (mean latency x samples): LoadGen's result_token_throughput (not Offline)."""
    token_throughput_with_loadgen_overhead: float | None = None
    """Tokens / the last query's issue time (not Offline)."""


def percentile_label(p: float) -> str:
    """'99.9' for 0.999, '90.0' for 0.9: the key and text LoadGen uses."""
    value = round(p * 100, 6)
    return f"{value:.1f}" if value == round(value, 1) else f"{value:g}"


def summarize_latencies(latencies_ns: np.ndarray, extra: tuple[float, ...] = ()) -> LatencySummary | None:
    """LoadGen's latency statistics; None when there are none. Reorders its argument in place
    (an Offline run's latencies can be hundreds of MB: no copy, no full sort)."""
    if latencies_ns.size == 0:
        return None
    wanted = sorted(set(REPORTED_PERCENTILES) | set(extra) | {0.0, 1.0})
    selected = select_percentiles(latencies_ns, wanted)
    return LatencySummary(
        count=int(latencies_ns.size),
        min_ns=selected[0.0],
        max_ns=selected[1.0],
        mean_ns=float(latencies_ns.mean()),
        percentiles_ns={percentile_label(p): selected[p] for p in wanted if 0.0 < p < 1.0},
    )


def query_latencies_ns(trace: Trace, scenario: Scenario) -> np.ndarray:
    """Per completed query: last sample's completion minus the query's scheduled time.

    Offline reports per-sample latency instead, as LoadGen does, since its one query
    holds every sample.
    """
    if scenario is Scenario.Offline and trace.n_queries == 1:
        completed = trace.completed_ns
        if completed.min() == NOT_YET:
            completed = completed[completed != NOT_YET]
        return completed - trace.scheduled_ns[0]
    done = trace.completed_ns != NOT_YET
    if scenario is Scenario.Offline:
        return (trace.completed_ns - trace.per_sample(trace.scheduled_ns))[done]
    if trace.n_queries == 0 or len(trace) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = trace.query_offsets[:-1]
    all_done = np.logical_and.reduceat(done, starts)
    last = np.maximum.reduceat(trace.completed_ns, starts)
    return (last - trace.scheduled_ns)[all_done]


def issue_delays_ns(trace: Trace) -> np.ndarray:
    """Per issued query: how late the harness issued it after its scheduled time."""
    return trace.issued_ns - trace.scheduled_ns


def token_latencies_ns(trace: Trace) -> tuple[np.ndarray, np.ndarray]:
    """Time to first token (from the scheduled time) and time per output token after the
    first, per completed sample that reported a first token, as LoadGen defines them."""
    seen = (trace.first_token_ns != NOT_YET) & (trace.completed_ns != NOT_YET)
    ttft = (trace.first_token_ns - trace.per_sample(trace.scheduled_ns))[seen]
    more = seen & (trace.token_count > 1)
    tpot = (trace.completed_ns - trace.first_token_ns)[more] // (trace.token_count[more].astype(np.int64) - 1)
    return ttft, tpot


def _rate(count: int, span_ns: int) -> float | None:
    return count * 1e9 / span_ns if span_ns > 0 and count > 0 else None


def compute_metrics(trace: Trace, settings: TestSettings) -> Metrics:
    """All figures of a run from (the issued part of) its trace."""
    scenario = settings.scenario
    done = trace.completed_ns != NOT_YET
    samples_completed = int(np.count_nonzero(done))
    latencies = query_latencies_ns(trace, scenario)
    if scenario in (Scenario.SingleStream, Scenario.MultiStream):
        latencies.sort()  # the early-stopping estimate reads the sorted order
    stopping = _early_stopping(latencies, settings)
    # LoadGen also reports SingleStream's 99th-percentile estimate; read while still sorted
    stopping_99 = early_stopping.latency_estimate(latencies, 0.99) if scenario is Scenario.SingleStream else None
    target_p = settings.target_latency_percentile()
    latency = summarize_latencies(latencies, (target_p,) if target_p else ())
    last_completion = int(trace.completed_ns.max()) if samples_completed else 0
    first_scheduled = int(trace.scheduled_ns.min()) if trace.n_queries else 0
    last_scheduled = int(trace.scheduled_ns.max()) if trace.n_queries else 0
    completed_rate = _rate(samples_completed - 1, last_completion - first_scheduled)
    samples_rate = _rate(samples_completed, last_completion - first_scheduled)
    target_latency = latency.percentiles_ns[percentile_label(target_p)] if latency and target_p else None
    headline_value: float | None = {
        Scenario.Server: completed_rate,
        Scenario.Offline: samples_rate,
    }.get(scenario)
    if scenario in (Scenario.SingleStream, Scenario.MultiStream):
        headline_value = stopping.estimate_ns if stopping and stopping.met else target_latency
    return Metrics(
        headline_name=HEADLINES[scenario].format(p=percentile_label(target_p or 0)),
        headline_value=headline_value,
        queries_issued=trace.n_queries,
        queries_completed=_queries_completed(trace, latencies, scenario),
        samples_issued=len(trace),
        samples_completed=samples_completed,
        duration_ns=last_completion,
        last_scheduled_ns=last_scheduled,
        samples_per_second=samples_rate,
        completed_samples_per_second=completed_rate,
        latency=latency,
        target_latency_percentile=target_p,
        target_percentile_latency_ns=target_latency,
        issue_delay=summarize_latencies(issue_delays_ns(trace)) if scenario is Scenario.Server else None,
        early_stopping=stopping,
        **_token_metrics(trace, target_p, last_completion - first_scheduled),
        early_stopping_99=stopping_99,
        **_loadgen_figures(trace, scenario, latency),
    )


def _loadgen_figures(trace: Trace, scenario: Scenario, latency: LatencySummary | None) -> dict[str, Any]:
    """The figures LoadGen logs beside the headline, each as LoadGen's C++ results code defines it."""
    figures: dict[str, Any] = {}
    queries = trace.n_queries
    last_issued = int(trace.issued_ns.max()) if queries else 0
    if scenario is Scenario.SingleStream:
        figures["qps_with_loadgen_overhead"] = _rate(queries - 1, last_issued)
        if latency is not None and latency.mean_ns > 0:
            figures["qps_without_loadgen_overhead"] = 1e9 / latency.mean_ns
    elif scenario is Scenario.Server:
        last_scheduled = int(trace.scheduled_ns.max()) if queries else 0
        figures["scheduled_samples_per_second"] = _rate(queries - 1, last_scheduled)
    elif scenario is Scenario.MultiStream:
        done = trace.completed_ns != NOT_YET
        per_sample = (trace.completed_ns - trace.per_sample(trace.scheduled_ns))[done]
        figures["sample_latency"] = summarize_latencies(per_sample)
    if trace.has_tokens:
        done = trace.completed_ns != NOT_YET
        tokens = int(trace.token_count[done].sum())
        figures["tokens"] = tokens
        if scenario is not Scenario.Offline and latency is not None and latency.mean_ns > 0 and latency.count:
            figures["token_throughput"] = tokens * 1e9 / (latency.mean_ns * latency.count)
            figures["token_throughput_with_loadgen_overhead"] = _rate(tokens, last_issued)
    return figures


def _token_metrics(trace: Trace, target_p: float | None, span_ns: int) -> dict[str, Any]:
    if not trace.has_tokens:
        return {}
    ttft, tpot = token_latencies_ns(trace)
    extra = (target_p,) if target_p else ()
    done = trace.completed_ns != NOT_YET
    return {
        "ttft": summarize_latencies(ttft, extra),
        "tpot": summarize_latencies(tpot, extra),
        "tokens_per_second": _rate(int(trace.token_count[done].sum()), span_ns),
    }


def _queries_completed(trace: Trace, latencies: np.ndarray, scenario: Scenario) -> int:
    """Offline's latencies are per sample; its one query is complete when every sample is."""
    if scenario is Scenario.Offline:
        return int(len(trace) > 0 and bool((trace.completed_ns != NOT_YET).all()))
    return int(latencies.size)


def _early_stopping(latencies: np.ndarray, settings: TestSettings) -> EarlyStopping | None:
    """The verdict; SingleStream/MultiStream latencies arrive sorted ascending."""
    scenario = settings.scenario
    p = settings.target_latency_percentile()
    if p is None:
        return None
    if scenario is Scenario.Server:
        verdict = early_stopping.server_check(latencies, settings.server_target_latency_ns, p)
    else:
        verdict = early_stopping.latency_estimate(latencies, p)
    return verdict
