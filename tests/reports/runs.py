"""Made-up but realistic runs for the report tests: traces from a seeded generator, figures from loadgen.metrics."""

from __future__ import annotations

import numpy as np

from loadgen.engine.trace import Trace
from loadgen.metrics.figures import compute_metrics
from loadgen.metrics.result import RunResult
from loadgen.metrics.verdict import judge
from loadgen.settings.model import TestSettings

SETTINGS: dict[str, dict[str, object]] = {
    "SingleStream": {"single_stream_expected_latency_ns": 500_000},
    "MultiStream": {"multi_stream_expected_latency_ns": 4_000_000},
    "Server": {"server_target_qps": 2000.0, "server_target_latency_ns": 5_000_000},
    "Offline": {"offline_expected_qps": 50_000.0},
}


def make_trace(scenario: str, queries: int, seed: int = 0, scale: float = 1.0) -> Trace:
    """A trace with lognormal service times; Server arrivals are Poisson, issue a little late."""
    rng = np.random.default_rng(seed)
    if scenario == "Offline":
        n = queries
        completed = np.sort(rng.uniform(1e5, 2e8, n)).astype(np.int64)
        return Trace.from_sample_rows(np.zeros(n, np.int64), np.arange(n) % 97, np.zeros(n, np.int64),
                                      np.zeros(n, np.int64), completed, np.full(n, 4))
    per_query = 8 if scenario == "MultiStream" else 1
    service = (rng.lognormal(np.log(300_000 * scale), 0.4, queries)).astype(np.int64)
    if scenario == "Server":
        scheduled = np.cumsum(rng.exponential(1e9 / 2000, queries)).astype(np.int64)
        issued = scheduled + rng.integers(0, 20_000, queries)
    else:
        scheduled = np.concatenate([[0], np.cumsum(service[:-1] + 5_000)]).astype(np.int64)
        issued = scheduled.copy()
    completed = issued + service
    query = np.repeat(np.arange(queries), per_query)
    return Trace.from_sample_rows(query, query % 97, scheduled[query], issued[query], completed[query],
                                  np.full(query.size, 4))


def make_result(scenario: str, trace: Trace, warnings: tuple[str, ...] = (), **overrides: object) -> RunResult:
    values = {"scenario": scenario, "min_duration_ms": 100, "min_query_count": 100} | SETTINGS[scenario] | overrides
    settings = TestSettings(**values)
    metrics = compute_metrics(trace, settings)
    validity = judge(metrics, settings, None)
    return RunResult(
        tool="tinyperf-loadgen test", started_at="2026-01-01T00:00:00+00:00", scenario=scenario,
        mode="PerformanceOnly", sut_name="FakeSUT <b>", qsl_name="FakeQSL", valid=validity.valid,
        invalid_reasons=validity.reasons, checks=validity.checks, stop_reason="schedule done", error=None,
        metrics=metrics, settings_requested={**settings.model_dump(mode="json"), "server_target_qps": None},
        settings_effective=settings.model_dump(mode="json"), chosen_by_pilot={"server_target_qps": "pilot said so"},
        warmup_queries=0, total_sample_count=97, performance_sample_count=97,
        fingerprint={"cpu": {"model": "Test CPU", "logical_cores": 2}, "hardware_hash": "abc"},
        load_average_end=None, warnings=list(warnings),
    )
