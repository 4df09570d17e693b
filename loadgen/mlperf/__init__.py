"""`import loadgen.mlperf as lg`: the `mlperf_loadgen` Python API, run on this harness's engine.

A harness written for MLPerf LoadGen runs unchanged by switching the import. The same
names, signatures, attribute names and defaults; underneath, this project's schedule,
engine, trace and results, and LoadGen's log files written where LogSettings says. Where
LoadGen would crash or carry on silently (zero samples, a performance sample count above
the total, a non-positive rate, an exception in the SUT, Ctrl-C), this module raises a
clear error or ends the run INVALID, and still writes its logs.
"""

from __future__ import annotations

import ctypes
import enum
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.own_packages import claim

claim("reports")

from loadgen.benchmark.peak import run_find_peak
from loadgen.benchmark.runner import Benchmark, run_benchmark
from loadgen.engine.query import SampleBatch
from loadgen.errors import SettingsError
from loadgen.mlperf.config import read_configs, rules_path
from loadgen.results.folder import concluded, write_outputs
from loadgen.settings.layers import resolve_settings
from loadgen.settings.model import Mode
from loadgen.settings.model import TestSettings as HarnessSettings


class TestScenario(enum.IntEnum):
    """LoadGen's scenarios, with its numbering."""

    SingleStream = 0
    MultiStream = 1
    Server = 2
    Offline = 3


class TestMode(enum.IntEnum):
    """LoadGen's modes, with its numbering."""

    SubmissionRun = 0
    AccuracyOnly = 1
    PerformanceOnly = 2
    FindPeakPerformance = 3


class LoggingMode(enum.IntEnum):
    """Accepted for compatibility; logs are always written at the end of the test."""

    AsyncPoll = 0
    EndOfTestOnly = 1
    Synchronous = 2


class QuerySample:
    """One sample of an issued query: `id` to complete it with, `index` into the QSL."""

    __slots__ = ("id", "index")

    def __init__(self, id: int = 0, index: int = 0) -> None:
        self.id = id
        self.index = index


class QuerySampleResponse:
    """A completion: the sample's id, the address and size of its response, its token count."""

    __slots__ = ("data", "id", "n_tokens", "size")

    def __init__(self, id: int = 0, data: int = 0, size: int = 0, n_tokens: int = 0) -> None:
        self.id = id
        self.data = data
        self.size = size
        self.n_tokens = n_tokens


class LogOutputSettings:
    """Where the logs go (LoadGen's defaults)."""

    def __init__(self) -> None:
        self.outdir = "."
        self.prefix = "mlperf_log_"
        self.suffix = ""
        self.prefix_with_datetime = False
        self.copy_detail_to_stdout = False
        self.copy_summary_to_stdout = False


class LogSettings:
    """LoadGen's log settings; `enable_trace` also writes mlperf_log_trace.json (valid JSON)."""

    def __init__(self) -> None:
        self.log_output = LogOutputSettings()
        self.log_mode = LoggingMode.AsyncPoll
        self.log_mode_async_poll_interval_ms = 1000
        self.enable_trace = True


_LOADGEN_DEFAULTS: dict[str, Any] = {
    "scenario": TestScenario.SingleStream,
    "mode": TestMode.PerformanceOnly,
    "single_stream_expected_latency_ns": 1_000_000.0,
    "single_stream_target_latency_percentile": 0.90,
    "multi_stream_expected_latency_ns": 8_000_000.0,
    "multi_stream_target_latency_percentile": 0.99,
    "multi_stream_samples_per_query": 8,
    "server_target_qps": 1.0,
    "server_target_latency_ns": 100_000_000,
    "server_target_latency_percentile": 0.99,
    "server_coalesce_queries": False,
    "server_find_peak_qps_decimals_of_precision": 1,
    "server_find_peak_qps_boundary_step_size": 1.0,
    "server_max_async_queries": 0,
    "server_num_issue_query_threads": 0,
    "offline_expected_qps": 1.0,
    "min_duration_ms": 10_000,
    "max_duration_ms": 0,
    "min_query_count": 100,
    "max_query_count": 0,
    "qsl_rng_seed": 0,
    "sample_index_rng_seed": 0,
    "schedule_rng_seed": 0,
    "accuracy_log_rng_seed": 0,
    "accuracy_log_probability": 0.0,
    "accuracy_log_sampling_target": 0,
    "accuracy_sample_count_override": 0,
    "print_timestamps": False,
    "performance_issue_unique": False,
    "performance_issue_same": False,
    "performance_issue_same_index": 0,
    "performance_sample_count_override": 0,
    "sample_concatenate_permutation": False,
    "test05": False,
    "test05_qsl_rng_seed": 0,
    "test05_sample_index_rng_seed": 0,
    "test05_schedule_rng_seed": 0,
    "use_token_latencies": False,
    "ttft_latency": 100_000_000,
    "tpot_latency": 100_000_000,
    "infer_token_latencies": False,
    "token_latency_scaling_factor": 0,
}

_SHARED = (
    "min_duration_ms",
    "min_query_count",
    "single_stream_target_latency_percentile",
    "multi_stream_target_latency_percentile",
    "multi_stream_samples_per_query",
    "server_target_qps",
    "server_target_latency_ns",
    "server_target_latency_percentile",
    "server_coalesce_queries",
    "server_find_peak_qps_decimals_of_precision",
    "offline_expected_qps",
    "qsl_rng_seed",
    "sample_index_rng_seed",
    "schedule_rng_seed",
    "use_token_latencies",
    "ttft_latency",
    "tpot_latency",
    "accuracy_log_probability",
    "accuracy_log_rng_seed",
    "performance_issue_same",
    "performance_issue_same_index",
)
"""Attributes that mean the same here and in LoadGen, units included."""

_ZERO_IS_UNLIMITED = (
    "max_duration_ms", "max_query_count", "server_max_async_queries", "performance_sample_count_override",
)
_EXPECTED_LATENCY = ("single_stream_expected_latency_ns", "multi_stream_expected_latency_ns")


class TestSettings:
    """LoadGen's TestSettings: the same attribute names and defaults."""

    __test__ = False  # the name starts with "Test"; pytest must not collect it

    def __init__(self) -> None:
        for name, value in _LOADGEN_DEFAULTS.items():
            setattr(self, name, value)

    def FromConfig(self, path: str, model: str, scenario: str, conf_type: int = 1) -> int:
        """Read a config file as LoadGen does: with conf_type 1 the official rules first, then
        `path` as user.conf (seeds there are ignored, as LoadGen ignores them, with a note);
        with 0, `path` is the rules file. Raises on malformed files and unknown keys."""
        rules, user = (rules_path("mlperf"), path) if conf_type == 1 else (path, None)
        for source, values in read_configs(model, scenario, rules, user, None, refuse_seeds=False):
            for name, value in values.settings.items():
                if name == "mode":
                    value = TestMode[Mode.parse(value).value]
                setattr(self, name, 0 if value is None else value)
            for key in values.unsupported:
                print(f"loadgen.mlperf: {source}: {key} is not supported and was ignored", file=sys.stderr)
            for key in values.ignored:
                if key in values.reasons and "rules file" in values.reasons[key]:
                    print(f"loadgen.mlperf: {source}: {key} ignored: {values.reasons[key]}", file=sys.stderr)
        return 0


def harness_settings(settings: TestSettings) -> HarnessSettings:
    """LoadGen's settings as this harness's, validated; 0 = unlimited becomes unset."""
    values: dict[str, Any] = {name: getattr(settings, name) for name in _SHARED}
    values["scenario"] = TestScenario(settings.scenario).name
    values["mode"] = TestMode(settings.mode).name
    for name in _ZERO_IS_UNLIMITED:
        values[name] = getattr(settings, name) or None
    for name in _EXPECTED_LATENCY:
        values[name] = max(1, round(getattr(settings, name)))
    values["server_target_qps"] = float(values["server_target_qps"])
    values["offline_expected_qps"] = float(values["offline_expected_qps"])
    return resolve_settings([("TestSettings", values)])


def _unsupported_in_use(settings: TestSettings) -> list[str]:
    """Non-default LoadGen features this harness does not implement (warned, not silently used)."""
    handled = set(_SHARED) | set(_ZERO_IS_UNLIMITED) | set(_EXPECTED_LATENCY) | {"scenario", "mode"}
    return [
        f"{name} = {getattr(settings, name)!r}"
        for name, default in _LOADGEN_DEFAULTS.items()
        if name not in handled and getattr(settings, name) != default
    ]


class _SutHandle:
    """A SUT made of LoadGen callbacks, seen by the engine through this project's SUT protocol."""

    def __init__(self, issue: Callable[..., None], flush: Callable[[], None], fast: bool, name: str) -> None:
        self.name = name
        self._issue = issue
        self._flush = flush
        self._fast = fast

    def issue_query(self, samples: SampleBatch) -> None:
        _ACTIVE.batch = samples
        if self._fast:
            self._issue(samples.ids.tolist(), samples.indices.tolist())
        else:
            self._issue([QuerySample(sample_id, index) for sample_id, index in samples])

    def flush_queries(self) -> None:
        self._flush()


class _QslHandle:
    """A QSL made of LoadGen callbacks."""

    def __init__(self, total: int, performance: int, load: Callable[[list[int]], None],
                 unload: Callable[[list[int]], None]) -> None:
        if total < 1:
            raise SettingsError([f"ConstructQSL: total sample count is {total}; allowed: >= 1"])
        if not 1 <= performance <= total:
            raise SettingsError(
                [f"ConstructQSL: performance sample count {performance} must be between 1 and the total ({total})"]
            )
        self.name = "PyQSL"
        self.total_sample_count = total
        self.performance_sample_count = performance
        self._load, self._unload = load, unload

    def load_samples(self, indices: np.ndarray) -> None:
        self._load(indices.tolist())

    def unload_samples(self, indices: np.ndarray) -> None:
        self._unload(indices.tolist())


class _Active:
    """The running test's latest batch: completions from any thread route through it."""

    batch: SampleBatch | None = None


_ACTIVE = _Active()
_HANDLES: dict[int, Any] = {}
_NEXT_HANDLE = [1]


def _register(obj: Any) -> int:
    handle = _NEXT_HANDLE[0]
    _NEXT_HANDLE[0] += 1
    _HANDLES[handle] = obj
    return handle


def _lookup(handle: int, kind: type, what: str) -> Any:
    obj = _HANDLES.get(handle)
    if not isinstance(obj, kind):
        raise SettingsError([f"{what}: {handle!r} is not a live handle from Construct{what[:3]}"])
    return obj


def ConstructSUT(issue_cb: Callable[[list[QuerySample]], None], flush_cb: Callable[[], None]) -> int:
    """A SUT from callbacks: issue_cb(list of QuerySample), flush_cb()."""
    return _register(_SutHandle(issue_cb, flush_cb, fast=False, name="PySUT"))


def ConstructFastSUT(fast_issue_cb: Callable[[list[int], list[int]], None], flush_cb: Callable[[], None]) -> int:
    """A SUT whose issue callback takes two lists: ids and indices."""
    return _register(_SutHandle(fast_issue_cb, flush_cb, fast=True, name="PyFastSUT"))


def ConstructQSL(total_sample_count: int, performance_sample_count: int,
                 load_samples_to_ram: Callable[[list[int]], None],
                 unload_samples_from_ram: Callable[[list[int]], None]) -> int:
    """A QSL from callbacks; refuses counts LoadGen would accept and then crash on."""
    return _register(_QslHandle(total_sample_count, performance_sample_count, load_samples_to_ram,
                                unload_samples_from_ram))


def DestroySUT(sut: int) -> None:
    _HANDLES.pop(sut, None)


def DestroyFastSUT(sut: int) -> None:
    _HANDLES.pop(sut, None)


def DestroyQSL(qsl: int) -> None:
    _HANDLES.pop(qsl, None)


def _response_data(response: QuerySampleResponse) -> bytes:
    """The response bytes, read from the address as LoadGen reads them (a copy, at completion)."""
    return ctypes.string_at(response.data, response.size) if response.data and response.size else b""


def QuerySamplesComplete(
    responses: Sequence[QuerySampleResponse],
    response_cb: Callable[[QuerySampleResponse], None] | None = None,
) -> None:
    """Complete samples from any thread; response data is read only when it is logged."""
    batch = _ACTIVE.batch
    if batch is None:
        raise RuntimeError("QuerySamplesComplete called with no test running")
    if not responses:
        return
    ids = np.fromiter((r.id for r in responses), dtype=np.int64, count=len(responses))
    sizes = np.fromiter((r.size for r in responses), dtype=np.int64, count=len(responses))
    tokens = np.fromiter((r.n_tokens for r in responses), dtype=np.int64, count=len(responses))
    data = [_response_data(r) for r in responses] if batch.keeps_responses else None
    batch.complete(ids, response_sizes=sizes, responses=data, n_tokens=tokens if tokens.any() else None)
    if response_cb is not None:
        for response in responses:
            response_cb(response)


def FirstTokenComplete(
    responses: Sequence[QuerySampleResponse],
    response_cb: Callable[[QuerySampleResponse], None] | None = None,
) -> None:
    """Record time to first token for these samples."""
    batch = _ACTIVE.batch
    if batch is None:
        raise RuntimeError("FirstTokenComplete called with no test running")
    batch.first_token(np.fromiter((r.id for r in responses), dtype=np.int64, count=len(responses)))
    if response_cb is not None:
        for response in responses:
            response_cb(response)


def StartTest(sut: int, qsl: int, test_settings: TestSettings,
              audit_config_filename: str = "audit.config") -> Benchmark:
    """Run the test with default log settings (logs in the current folder)."""
    return StartTestWithLogSettings(sut, qsl, test_settings, LogSettings(), audit_config_filename)


def StartTestWithLogSettings(
    sut: int,
    qsl: int,
    test_settings: TestSettings,
    log_settings: LogSettings,
    audit_config_filename: str = "audit.config",
) -> Benchmark:
    """Run the test and write LoadGen's logs (and ours) to log_settings.log_output.outdir.

    Returns the Benchmark (LoadGen returns None; code that ignores the value is unaffected).
    An audit.config in the working folder is applied last, as LoadGen does.
    """
    sut_obj = _lookup(sut, _SutHandle, "SUT")
    qsl_obj = _lookup(qsl, _QslHandle, "QSL")
    for item in _unsupported_in_use(test_settings):
        print(f"loadgen.mlperf: {item} is not supported by this harness and is ignored", file=sys.stderr)
    settings = harness_settings(test_settings)
    audit = Path(audit_config_filename)
    if audit.is_file():
        layers = [("TestSettings", settings.model_dump())]
        audited = read_configs("*", settings.scenario, None, None, audit)
        layers += [(source, values.settings) for source, values in audited]
        settings = resolve_settings(layers)
    _ACTIVE.batch = None
    try:
        if settings.mode is Mode.FindPeakPerformance:
            benchmark = run_find_peak(sut_obj, qsl_obj, settings, progress=sys.stderr)
        else:
            benchmark = run_benchmark(sut_obj, qsl_obj, settings)
    finally:
        _ACTIVE.batch = None
    output = Path(log_settings.log_output.outdir)
    write_outputs(concluded(benchmark, log_settings.enable_trace), output, chrome_trace=log_settings.enable_trace)
    if log_settings.log_output.copy_summary_to_stdout:
        print((output / "mlperf_log_summary.txt").read_text(), end="")
    if benchmark.error is not None:
        print(f"loadgen.mlperf: {benchmark.error}", file=sys.stderr)
    return benchmark
