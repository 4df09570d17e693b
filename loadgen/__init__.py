"""A LoadGen-style benchmarking harness: scenarios, per-sample traces, validated results.

Write a SUT as any object with `name`, `issue_query(samples)` and `flush_queries()`;
complete samples with `samples.complete(...)` from any thread; run it with
`run_benchmark(sut, qsl, TestSettings(...))` or `python -m loadgen.run`.
Importing this package does no I/O and installs no handler.
"""

from loadgen.errors import (
    Interrupted,
    LoadgenError,
    RunAborted,
    SampleTimeout,
    SettingsError,
    SutError,
    SutLoadError,
)
from loadgen.query import IndexQSL, QuerySampleLibrary, SampleBatch, SystemUnderTest
from loadgen.results import Metrics, compute_metrics, judge
from loadgen.run_result import RunResult
from loadgen.runner import Benchmark, run_benchmark
from loadgen.settings import Mode, Scenario, TestSettings, resolve_settings
from loadgen.trace import Trace

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
