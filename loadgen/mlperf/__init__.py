"""`import loadgen.mlperf as lg`: the `mlperf_loadgen` Python API, run on this harness's engine.

A harness written for MLPerf LoadGen runs unchanged by switching the import. The same
names, signatures, attribute names and defaults; underneath, this project's schedule,
engine, trace and results, and LoadGen's log files written where LogSettings says. Where
LoadGen would crash or carry on silently (zero samples, a performance sample count above
the total, a non-positive rate, an exception in the SUT, Ctrl-C), this module raises a
clear error or ends the run INVALID, and still writes its logs.

Safer than LoadGen where a harness passes bad values: response memory is read through
/proc/self/mem, so a bogus address ends that sample as an error (the run INVALID, naming
the id and address) instead of a segfault; responses are type-checked (ids and sizes are
whole numbers >= 0); a second StartTest while one runs is refused; and every bad setting,
on assignment or at StartTest, raises SettingsError naming the attribute and the range.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import enum
import gc
import importlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadgen.errors import SettingsError, SutError
from loadgen.own_packages import claim

claim("reports")

if TYPE_CHECKING:
    # The engine, settings model (pydantic), results and config readers are imported where a
    # test starts or a config is read, and numpy where a test runs, so `import loadgen.mlperf`
    # costs about what `import mlperf_loadgen` does.
    import numpy as np

    from loadgen.benchmark.runner import Benchmark
    from loadgen.engine.query import SampleBatch
    from loadgen.settings.model import TestSettings as HarnessSettings

_LAZY = {
    "Benchmark": ("loadgen.benchmark.runner", "Benchmark"),
    "run_benchmark": ("loadgen.benchmark.runner", "run_benchmark"),
    "run_find_peak": ("loadgen.benchmark.peak", "run_find_peak"),
    "SampleBatch": ("loadgen.engine.query", "SampleBatch"),
    "read_configs": ("loadgen.mlperf.config", "read_configs"),
    "rules_path": ("loadgen.mlperf.config", "rules_path"),
    "concluded": ("loadgen.results.folder", "concluded"),
    "write_outputs": ("loadgen.results.folder", "write_outputs"),
    "resolve_settings": ("loadgen.settings.layers", "resolve_settings"),
    "Mode": ("loadgen.settings.model", "Mode"),
    "HarnessSettings": ("loadgen.settings.model", "TestSettings"),
}
"""Names this module imported eagerly before, still reachable (`lg.Benchmark`), loaded on first use."""


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)


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


UINT64_LIMIT = 1 << 64
INT64_LIMIT = 1 << 63


def _numpy_types(*names: str) -> tuple[type, ...]:
    """numpy's scalar types of these names, or none while numpy is not imported: a value can only
    be a numpy scalar once something has imported numpy, so checking needs not import it."""
    numpy = sys.modules.get("numpy")
    return () if numpy is None else tuple(getattr(numpy, name) for name in names)


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, *_numpy_types("integer")))


def _is_float(value: Any) -> bool:
    return isinstance(value, (float, *_numpy_types("floating")))


def _whole_number(what: str, value: Any, limit: int) -> int:
    """A response field as LoadGen's C++ types take it: a whole number in [0, limit)."""
    if isinstance(value, bool) or not _is_integer(value):
        raise TypeError(f"QuerySampleResponse.{what} must be a whole number, got {type(value).__name__} {value!r}")
    if not 0 <= int(value) < limit:
        raise ValueError(f"QuerySampleResponse.{what} = {value}: allowed 0 to {limit - 1}")
    return int(value)


class _CheckedField:
    """A response field stored in the slot `_<name>`, checked on every assignment (LoadGen's
    typed C++ fields refuse a bad value where it is written)."""

    def __init__(self, name: str, limit: int) -> None:
        self._name, self._limit = name, limit
        self._slot = attrgetter(f"_{name}")
        self._store = f"_{name}"

    def __get__(self, response: Any, owner: type) -> Any:
        return self if response is None else self._slot(response)

    def __set__(self, response: Any, value: Any) -> None:
        setattr(response, self._store, _whole_number(self._name, value, self._limit))


class QuerySampleResponse:
    """A completion: the sample's id, the address and size of its response, its token count.

    Checked on construction and on every assignment, as LoadGen's binding checks its typed
    C++ fields: a float id or a negative size is a TypeError/ValueError where it is written,
    not a sample silently mislogged. So a response of this very class holds valid fields, and
    QuerySamplesComplete reads a large batch of them without checking each one again.
    """

    __slots__ = ("_data", "_id", "_n_tokens", "_size")

    def __init__(self, id: int = 0, data: int = 0, size: int = 0, n_tokens: int = 0) -> None:
        if (type(id) is type(data) is type(size) is type(n_tokens) is int  # the common case, plain ints
                and not (id | data) >> 64 and not (size | n_tokens) >> 63):  # negative or too large: not 0
            self._id = id
            self._data = data
            self._size = size
            self._n_tokens = n_tokens
            return
        self._id = _whole_number("id", id, UINT64_LIMIT)
        self._data = _whole_number("data", data, UINT64_LIMIT)
        self._size = _whole_number("size", size, INT64_LIMIT)
        self._n_tokens = _whole_number("n_tokens", n_tokens, INT64_LIMIT)

    id = _CheckedField("id", UINT64_LIMIT)
    data = _CheckedField("data", UINT64_LIMIT)
    size = _CheckedField("size", INT64_LIMIT)
    n_tokens = _CheckedField("n_tokens", INT64_LIMIT)

    def __repr__(self) -> str:
        return f"QuerySampleResponse(id={self._id}, data={self._data:#x}, size={self._size}, n_tokens={self._n_tokens})"


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


_SEED_SETTINGS = frozenset(name for name in _LOADGEN_DEFAULTS if name.endswith("_rng_seed"))
_ENUMS: dict[str, type[enum.IntEnum]] = {"scenario": TestScenario, "mode": TestMode}


class UnknownSettingError(SettingsError, AttributeError):
    """An attribute LoadGen's TestSettings does not have (an AttributeError there too)."""


def _refuse(name: str, value: Any, allowed: str) -> SettingsError:
    return SettingsError([f"TestSettings.{name} = {value!r}: allowed: {allowed}"])


def checked_setting(name: str, value: Any) -> Any:
    """A TestSettings value checked as LoadGen's C++ field types would take it (enums, bools,
    whole numbers in range, finite numbers >= 0), or SettingsError naming the attribute."""
    if name not in _LOADGEN_DEFAULTS:
        raise UnknownSettingError([f"TestSettings has no attribute {name!r} (LoadGen's TestSettings has none either)"])
    if name in _ENUMS:
        kind = _ENUMS[name]
        number = getattr(value, "value", value)
        if isinstance(number, bool) or not _is_integer(number) or int(number) not in set(kind):
            choices = ", ".join(f"{member.name} ({member.value})" for member in kind)
            raise _refuse(name, value, f"lg.{kind.__name__}: {choices}")
        return kind(int(number))
    default = _LOADGEN_DEFAULTS[name]
    if isinstance(default, bool):
        if isinstance(value, (bool, *_numpy_types("bool_"))) or (_is_integer(value) and value in (0, 1)):
            return bool(value)
        raise _refuse(name, value, "True or False")
    if isinstance(value, bool) or not (_is_integer(value) or _is_float(value)):
        raise _refuse(name, value, "a number")
    if (_is_float(value) and not math.isfinite(value)) or value < 0:
        raise _refuse(name, value, "a finite number >= 0")
    if isinstance(default, int):
        limit = UINT64_LIMIT if name in _SEED_SETTINGS else INT64_LIMIT
        if (_is_float(value) and not value.is_integer()) or int(value) >= limit:
            raise _refuse(name, value, f"a whole number from 0 to {limit - 1}")
        return int(value)
    if _is_integer(value) and abs(int(value)) >= INT64_LIMIT:
        raise _refuse(name, value, "a finite number >= 0, below 2**63")
    return float(value)


class TestSettings:
    """LoadGen's TestSettings: the same attribute names and defaults; each assignment is checked."""

    __test__ = False  # the name starts with "Test"; pytest must not collect it

    def __init__(self) -> None:
        for name, value in _LOADGEN_DEFAULTS.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, checked_setting(name, value))

    def FromConfig(self, path: str, model: str, scenario: str, conf_type: int = 1) -> int:
        """Read a config file as LoadGen does: with conf_type 1 the official rules first, then
        `path` as user.conf (seeds there are ignored, as LoadGen ignores them, with a note);
        with 0, `path` is the rules file. Raises on malformed files and unknown keys."""
        from loadgen.mlperf.config import read_configs, rules_path
        from loadgen.settings.model import Mode

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
    """LoadGen's settings as this harness's, validated; 0 = unlimited becomes unset.

    Every value is checked again (a settings object may have been built around our checks);
    anything out of range raises SettingsError.
    """
    from loadgen.settings.layers import resolve_settings

    given = {name: checked_setting(name, getattr(settings, name, off)) for name, off in _LOADGEN_DEFAULTS.items()}
    values: dict[str, Any] = {name: given[name] for name in _SHARED}
    values["scenario"] = given["scenario"].name
    values["mode"] = given["mode"].name
    for name in _ZERO_IS_UNLIMITED:
        values[name] = given[name] or None
    for name in _EXPECTED_LATENCY:
        values[name] = max(1, round(given[name]))
    values["server_target_qps"] = float(values["server_target_qps"])
    values["offline_expected_qps"] = float(values["offline_expected_qps"])
    try:
        return resolve_settings([("TestSettings", values)])
    except (ValueError, TypeError, OverflowError) as exc:  # pydantic's ValidationError is a ValueError
        raise SettingsError([f"TestSettings: {exc}"]) from None


def _unsupported_in_use(settings: TestSettings) -> list[str]:
    """Non-default LoadGen features this harness does not implement (warned, not silently used)."""
    handled = set(_SHARED) | set(_ZERO_IS_UNLIMITED) | set(_EXPECTED_LATENCY) | {"scenario", "mode"}
    return [
        f"{name} = {getattr(settings, name)!r}"
        for name, default in _LOADGEN_DEFAULTS.items()
        if name not in handled and getattr(settings, name) != default
    ]


class _SutHandle:
    """A SUT made of LoadGen callbacks, seen by the engine through this project's SUT protocol.

    A QDL's name comes from a callback (over the network, LoadGen's LON demo asks each
    server); it is asked once, when a test starts, and the time it took is logged as LoadGen's
    get_sut_name_duration_ns.
    """

    def __init__(self, issue: Callable[..., None], flush: Callable[[], None], fast: bool, name: str,
                 name_cb: Callable[[], str] | None = None) -> None:
        self.name = name
        self.name_duration_ns = 0
        self._issue = issue
        self._flush = flush
        self._fast = fast
        self._name_cb = name_cb
        self._phase: Any = None
        self._row_index: list[int] = []
        """Per row of the phase's trace, its sample index as one of a shared set of ints."""
        self._clock_ns: Callable[[], int] = time.perf_counter_ns

    def resolve_name(self) -> None:
        """Ask the name callback (if any) for the SUT's name, timing the call."""
        if self._name_cb is None:
            return
        start = time.perf_counter_ns()
        try:
            name = self._name_cb()
        except Exception as exc:
            raise SutError(f"the QDL's name callback raised {type(exc).__name__}: {exc}") from exc
        self.name_duration_ns = time.perf_counter_ns() - start
        self.name = str(name)

    def _enter(self, phase: Any) -> None:
        """A new phase (pilot, warm-up, accuracy pass, timed run): its rows' index ints, and its
        clock for the completion stamps."""
        self._phase = phase
        self._row_index = _shared_index_list(phase.trace.sample_index)
        self._clock_ns = _ACTIVE.now_ns = phase.clock_ns

    @contextlib.contextmanager
    def prepared(self, engine: Any) -> Iterator[None]:
        """An observer of the timed run: its rows' index ints are built before timing starts."""
        self._enter(engine.recorder)
        yield

    def issue_query(self, samples: SampleBatch) -> None:
        """LoadGen's lists for the batch's rows: ids lo+1..hi and the shared index ints."""
        phase = samples.phase
        if phase is not self._phase:
            self._enter(phase)
        _ACTIVE.batch = samples
        lo, hi = samples.first_row, samples.end_row
        ids = [hi] if hi - lo == 1 else list(range(lo + 1, hi + 1))
        if self._fast:
            indices = self._row_index[lo:hi]
            samples.issued_at = self._clock_ns()  # the lists are the harness's work: stamp after them
            self._issue(ids, indices)
        else:
            query = _query_samples(ids, self._row_index[lo:hi])
            samples.issued_at = self._clock_ns()
            self._issue(query)

    def flush_queries(self) -> None:
        self._flush()

    def forget_phase(self) -> None:
        """After a test: drop the last phase's rows (a SUT handle may outlive many tests)."""
        self._phase, self._row_index = None, []


SCALAR_RESPONSES = 16
"""Up to this many responses (no token counts, nothing logged) are checked and recorded in
plain ints, one by one; numpy's fixed cost per call is more than the whole of that."""

CHUNK = 1 << 16
"""Larger completions are converted and recorded this many responses at a time, so a call with
a million responses never holds several million-element lists at once."""

GC_PAUSED_BUILD = 4096
"""Building at least this many QuerySample objects pauses the garbage collector (docs/latency.md)."""


def _shared_index_list(sample_index: np.ndarray) -> list[int]:
    """Each row's sample index as a list whose ints are shared: one object per distinct index,
    8 bytes a row instead of a fresh int (and 28 bytes more) for each."""
    if not len(sample_index):
        return []
    shared = list(range(int(sample_index.max()) + 1))
    rows: list[int] = []
    for start in range(0, len(sample_index), CHUNK):
        rows.extend(map(shared.__getitem__, sample_index[start:start + CHUNK].tolist()))
    return rows


def _query_samples(ids: list[int], indices: list[int]) -> list[QuerySample]:
    """The QuerySample list with the least work; a large one is built with the garbage collector
    paused (its objects are all live: a collection would only scan them)."""
    if len(ids) < GC_PAUSED_BUILD or not gc.isenabled():
        return list(map(QuerySample, ids, indices))
    gc.disable()
    try:
        return list(map(QuerySample, ids, indices))
    finally:
        gc.enable()


MAX_RESPONSE_BYTES = 256 << 20
"""Largest response read for logging; a larger size ends that sample as an error."""


class ResponseMemory:
    """Reads a response's bytes at an address of this process without trusting the address.

    Reading goes through /proc/self/mem, so an unmapped or bogus address is an OSError for that
    sample instead of a segfault of the whole process (what ctypes.string_at, and LoadGen, do).
    Where /proc/self/mem cannot be opened (not Linux), ctypes is the fallback.
    """

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/proc/self/mem", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            self._fd = None

    def read(self, address: int, size: int) -> bytes:
        """The bytes at [address, address + size); raises OSError where they are not readable."""
        if size == 0 or address == 0:
            return b""
        if size > MAX_RESPONSE_BYTES:
            raise OSError(f"size {size} is more than the {MAX_RESPONSE_BYTES} bytes a response may log")
        if self._fd is None:
            return ctypes.string_at(address, size)
        try:
            data = os.pread(self._fd, size, address)
        except OverflowError as exc:
            raise OSError(str(exc)) from None
        if len(data) != size:
            raise OSError(f"only {len(data)} of {size} bytes are readable")
        return data

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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
    """The running test: its latest batch (completions from any thread route through it), the
    reader of response memory, and the lock that lets one test run at a time."""

    def __init__(self) -> None:
        self.batch: SampleBatch | None = None
        self.now_ns: Callable[[], int] = time.perf_counter_ns
        """The running phase's clock: completions are stamped with it on entry."""
        self.memory: ResponseMemory | None = None
        self.running = threading.Lock()
        self.log_tokens = False
        self.tokens: dict[Any, tuple[dict[int, int], dict[int, bytes]]] = {}
        """With token latencies, per phase (its recorder): token counts and first tokens by
        sample id of the logged samples, for LoadGen's token_count and token_data."""


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


def ConstructQDL(issue_cb: Callable[[list[QuerySample]], None], flush_cb: Callable[[], None],
                 name_cb: Callable[[], str]) -> int:
    """A query dispatch library: a SUT (often a proxy to servers over the network) whose name
    comes from `name_cb`, asked when the test starts."""
    return _register(_SutHandle(issue_cb, flush_cb, fast=False, name="PyQDL", name_cb=name_cb))


def DestroyQDL(qdl: int) -> None:
    _HANDLES.pop(qdl, None)


def DestroySUT(sut: int) -> None:
    _HANDLES.pop(sut, None)


def DestroyFastSUT(sut: int) -> None:
    _HANDLES.pop(sut, None)


def DestroyQSL(qsl: int) -> None:
    _HANDLES.pop(qsl, None)


def _fail_run(reason: str) -> None:
    """End the phase under way as INVALID with this reason (the engine reports it)."""
    batch = _ACTIVE.batch
    if batch is not None:
        batch.breach(reason)


def _checked_fields(responses: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """ids, sizes and token counts (None when all are 0), each checked; a bad one ends the run
    and raises TypeError/ValueError to the caller."""
    own = _own_fields(responses)
    if own is not None:
        return own
    ids: list[int] = []
    sizes: list[int] = []
    tokens: list[int] = []
    try:
        for response in responses:
            sample_id, size = getattr(response, "id", None), getattr(response, "size", None)
            count, data = getattr(response, "n_tokens", 0), getattr(response, "data", None)
            if not (type(sample_id) is type(size) is type(count) is type(data) is int
                    and not (sample_id | size | count) >> 63 and not data >> 64):  # else: which field, and why
                sample_id = _whole_number("id", sample_id, INT64_LIMIT)
                size = _whole_number("size", size, INT64_LIMIT)
                count = _whole_number("n_tokens", count, INT64_LIMIT)
                _whole_number("data", data, UINT64_LIMIT)
            ids.append(sample_id)
            sizes.append(size)
            tokens.append(count)
    except (TypeError, ValueError) as exc:
        _fail_run(f"QuerySamplesComplete: {exc}")
        raise
    import numpy as np  # loaded by the engine already: a test is running

    counts = np.asarray(tokens, dtype=np.int64)
    return np.asarray(ids, dtype=np.int64), np.asarray(sizes, dtype=np.int64), counts if counts.any() else None


_GET_ID, _GET_SIZE, _GET_TOKENS = attrgetter("_id"), attrgetter("_size"), attrgetter("_n_tokens")


def _own_fields(responses: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """The fields of responses that are all QuerySampleResponse itself, whose fields were checked
    when written, read in C loops (a third of the per-response checks' time); None otherwise, or
    for an id past int64, which the checked path then names."""
    if set(map(type, responses)) != {QuerySampleResponse}:
        return None
    import numpy as np

    count = len(responses)
    try:
        ids = np.fromiter(map(_GET_ID, responses), np.int64, count)
    except OverflowError:
        return None
    sizes = np.fromiter(map(_GET_SIZE, responses), np.int64, count)
    tokens = np.fromiter(map(_GET_TOKENS, responses), np.int64, count) if any(map(_GET_TOKENS, responses)) else None
    return ids, sizes, tokens


def _response_data(responses: Sequence[QuerySampleResponse]) -> list[bytes]:
    """Each response's bytes, copied at completion as LoadGen copies them; an unreadable
    address logs the sample empty and ends the run naming the sample, address and size."""
    memory = _ACTIVE.memory or ResponseMemory()  # a completion that raced the test's end reads alone
    data = []
    try:
        for response in responses:
            try:
                data.append(memory.read(response.data, response.size))
            except OSError as exc:
                data.append(b"")
                _fail_run(
                    f"QuerySamplesComplete: sample id {response.id}: the response at address {response.data:#x} "
                    f"({response.size} bytes) is not readable memory ({exc})"
                )
    finally:
        if memory is not _ACTIVE.memory:
            memory.close()
    return data


def _phase_tokens(batch: SampleBatch) -> tuple[dict[int, int], dict[int, bytes]]:
    """The token records of the batch's phase (ids restart in each: accuracy, pilot, timed run)."""
    return _ACTIVE.tokens.setdefault(batch.phase, ({}, {}))


def _keep_token_counts(batch: SampleBatch, ids: list[int], counts: list[int]) -> None:
    """Token counts of the samples the phase logs (the others are not kept)."""
    logged = batch.phase.responses or {}
    kept = _phase_tokens(batch)[0]
    for sample_id, count in zip(ids, counts, strict=True):
        if sample_id - 1 in logged:
            kept[sample_id] = count


def _with_token_log(benchmark: Benchmark, scenario: str) -> Benchmark:
    """The logged phase's token counts and first tokens (not Offline's: LoadGen logs none there)
    on the accuracy record, by row (a sample id is its row + 1)."""
    record = benchmark.accuracy
    if record is None:
        return benchmark
    for phase, (counts, firsts) in _ACTIVE.tokens.items():
        if phase is not None and getattr(phase, "responses", None) is record.responses:
            record = dataclasses.replace(
                record,
                token_counts={sample_id - 1: count for sample_id, count in counts.items()},
                first_tokens=None if scenario == "Offline" else {i - 1: first for i, first in firsts.items()},
            )
            return dataclasses.replace(benchmark, accuracy=record)
    return benchmark


def _plain_fields(response: Any) -> tuple[int, int] | None:
    """The id and size of a response whose fields are all plain ints in range (its size within the
    trace's int32 column) and that carries no token count; None sends it the vectorized way,
    which checks it again and names what is wrong."""
    if type(response) is QuerySampleResponse:  # fields checked when written
        sample_id, size = response._id, response._size
        if not response._n_tokens and not sample_id >> 63 and not size >> 31:
            return sample_id, size
        return None
    try:
        sample_id, data, size = response.id, response.data, response.size
    except AttributeError:
        return None
    tokens = getattr(response, "n_tokens", 0)
    if (type(sample_id) is type(data) is type(size) is type(tokens) is int
            and not tokens and not sample_id >> 63 and not data >> 64 and not size >> 31):
        return sample_id, size
    return None


def _complete_few(phase: Any, responses: Sequence[Any], stamp: int) -> bool:
    """The scalar path, for a few plain responses when nothing is logged; False if it does not apply."""
    few = list(map(_plain_fields, responses))
    if None in few:
        return False
    phase.complete_few([f[0] for f in few], [f[1] for f in few], stamp)  # type: ignore[index]
    return True


def _complete_chunk(batch: SampleBatch, responses: Sequence[Any], stamp: int) -> None:
    """Check, convert and record one chunk of responses, all completed at `stamp`."""
    ids, sizes, tokens = _checked_fields(responses)
    data = _response_data(responses) if batch.keeps_responses else None
    batch.phase.complete(ids, sizes, data, tokens, at_ns=stamp)
    if data is not None and _ACTIVE.log_tokens:
        _keep_token_counts(batch, ids.tolist(), [0] * len(ids) if tokens is None else tokens.tolist())


def QuerySamplesComplete(
    responses: Sequence[QuerySampleResponse],
    response_cb: Callable[[QuerySampleResponse], None] | None = None,
) -> None:
    """Complete samples from any thread; response data is read only when it is logged.

    The completion time is read first, on entry, as LoadGen does: the checks and conversions
    that follow are the harness's work, not the SUT's latency (docs/latency.md)."""
    stamp = _ACTIVE.now_ns()
    batch = _ACTIVE.batch
    if batch is None:
        raise RuntimeError("QuerySamplesComplete called with no test running")
    if not isinstance(responses, (list, tuple)):
        responses = list(responses)
    count = len(responses)
    if not count:
        return
    phase = batch.phase
    fields = _plain_fields(responses[0]) if count == 1 and phase.responses is None else None
    if fields is not None:  # SingleStream's one response
        phase.complete_sample(fields[0], fields[1], stamp)
    elif count > SCALAR_RESPONSES or phase.responses is not None or not _complete_few(phase, responses, stamp):
        for start in range(0, len(responses), CHUNK):
            _complete_chunk(batch, responses[start:start + CHUNK], stamp)
    if response_cb is not None:
        for response in responses:
            response_cb(response)


def FirstTokenComplete(
    responses: Sequence[QuerySampleResponse],
    response_cb: Callable[[QuerySampleResponse], None] | None = None,
) -> None:
    """Record time to first token for these samples, stamped on entry as QuerySamplesComplete is."""
    stamp = _ACTIVE.now_ns()
    batch = _ACTIVE.batch
    if batch is None:
        raise RuntimeError("FirstTokenComplete called with no test running")
    if not responses:
        return
    ids, _, _ = _checked_fields(responses)
    batch.phase.first_token(ids, at_ns=stamp)
    if batch.keeps_responses and _ACTIVE.log_tokens:
        _phase_tokens(batch)[1].update(zip(ids.tolist(), _response_data(responses), strict=True))
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
    An audit.config in the working folder is applied last, as LoadGen does. One test runs at
    a time: a second StartTest while one runs (from another thread) raises SettingsError,
    where LoadGen would cross the two tests' samples.
    """
    from loadgen.results.folder import concluded, write_outputs

    if not _ACTIVE.running.acquire(blocking=False):
        raise SettingsError(["StartTest: a test is already running in this process; LoadGen runs one at a time"])
    try:
        benchmark = _run_test(sut, qsl, test_settings, audit_config_filename)
    finally:
        _ACTIVE.running.release()
    output = Path(log_settings.log_output.outdir)
    write_outputs(concluded(benchmark, log_settings.enable_trace), output, chrome_trace=log_settings.enable_trace)
    if log_settings.log_output.copy_summary_to_stdout:
        print((output / "mlperf_log_summary.txt").read_text(), end="")
    if benchmark.error is not None:
        print(f"loadgen.mlperf: {benchmark.error}", file=sys.stderr)
    return benchmark


def _run_test(sut: int, qsl: int, test_settings: TestSettings, audit_config_filename: str) -> Benchmark:
    """Check the handles and settings, ask a QDL its name, run, and note how long the name took."""
    from loadgen.benchmark.peak import run_find_peak
    from loadgen.benchmark.runner import run_benchmark
    from loadgen.mlperf.config import read_configs
    from loadgen.settings.layers import resolve_settings
    from loadgen.settings.model import Mode

    sut_obj = _lookup(sut, _SutHandle, "SUT")
    qsl_obj = _lookup(qsl, _QslHandle, "QSL")
    for item in _unsupported_in_use(test_settings):
        print(f"loadgen.mlperf: {item} is not supported by this harness and is ignored", file=sys.stderr)
    settings = harness_settings(test_settings)
    audit = Path(audit_config_filename)
    if audit.is_file():
        layers = [("TestSettings", settings.model_dump())]
        audit_layers = read_configs("*", settings.scenario, None, None, audit)
        layers += [(source, values.settings) for source, values in audit_layers]
        settings = resolve_settings(layers)
    sut_obj.resolve_name()
    _ACTIVE.batch = None
    _ACTIVE.memory = ResponseMemory()
    _ACTIVE.tokens, _ACTIVE.log_tokens = {}, settings.use_token_latencies
    try:
        if settings.mode is Mode.FindPeakPerformance:
            benchmark = run_find_peak(sut_obj, qsl_obj, settings, observer=sut_obj.prepared, progress=sys.stderr)
        else:
            benchmark = run_benchmark(sut_obj, qsl_obj, settings, observer=sut_obj.prepared)
    finally:
        _ACTIVE.batch = None
        _ACTIVE.now_ns = time.perf_counter_ns
        sut_obj.forget_phase()
        _ACTIVE.memory.close()
        _ACTIVE.memory = None
    if settings.use_token_latencies:
        benchmark = _with_token_log(benchmark, settings.scenario.value)
    _ACTIVE.tokens, _ACTIVE.log_tokens = {}, False
    result = benchmark.result.model_copy(update={"sut_name_duration_ns": sut_obj.name_duration_ns})
    return dataclasses.replace(benchmark, result=result)
