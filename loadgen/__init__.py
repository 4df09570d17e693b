"""A LoadGen-style benchmarking harness: scenarios, per-sample traces, validated results.

Write a SUT as any object with `name`, `issue_query(samples)` and `flush_queries()`;
complete samples with `samples.complete(...)` from any thread; run it with
`run_benchmark(sut, qsl, TestSettings(...))` or `python -m loadgen.run`.
Importing this package does no I/O, installs no handler, and imports nothing heavy: each
name below is loaded from its room on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "Interrupted": "loadgen.errors",
    "LoadgenError": "loadgen.errors",
    "RunAborted": "loadgen.errors",
    "SampleTimeout": "loadgen.errors",
    "SettingsError": "loadgen.errors",
    "SutError": "loadgen.errors",
    "SutLoadError": "loadgen.errors",
    "IndexQSL": "loadgen.engine.query",
    "QuerySampleLibrary": "loadgen.engine.query",
    "SampleBatch": "loadgen.engine.query",
    "SystemUnderTest": "loadgen.engine.query",
    "Trace": "loadgen.engine.trace",
    "Metrics": "loadgen.metrics.figures",
    "compute_metrics": "loadgen.metrics.figures",
    "judge": "loadgen.metrics.verdict",
    "RunResult": "loadgen.metrics.result",
    "Benchmark": "loadgen.benchmark.runner",
    "run_benchmark": "loadgen.benchmark.runner",
    "Mode": "loadgen.settings.model",
    "Scenario": "loadgen.settings.model",
    "TestSettings": "loadgen.settings.model",
    "resolve_settings": "loadgen.settings.layers",
}

__all__ = [
    "Benchmark",
    "IndexQSL",
    "Interrupted",
    "LoadgenError",
    "Metrics",
    "Mode",
    "QuerySampleLibrary",
    "RunAborted",
    "RunResult",
    "SampleBatch",
    "SampleTimeout",
    "Scenario",
    "SettingsError",
    "SutError",
    "SutLoadError",
    "SystemUnderTest",
    "TestSettings",
    "Trace",
    "compute_metrics",
    "judge",
    "resolve_settings",
    "run_benchmark",
]

if TYPE_CHECKING:
    from loadgen.benchmark.runner import Benchmark, run_benchmark
    from loadgen.engine.query import IndexQSL, QuerySampleLibrary, SampleBatch, SystemUnderTest
    from loadgen.engine.trace import Trace
    from loadgen.errors import (
        Interrupted,
        LoadgenError,
        RunAborted,
        SampleTimeout,
        SettingsError,
        SutError,
        SutLoadError,
    )
    from loadgen.metrics.figures import Metrics, compute_metrics
    from loadgen.metrics.result import RunResult
    from loadgen.metrics.verdict import judge
    from loadgen.settings.layers import resolve_settings
    from loadgen.settings.model import Mode, Scenario, TestSettings


def __getattr__(name: str) -> Any:
    """Load a public name from its room on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'loadgen' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
