"""The drop-in API's hot path (issue 15): completions stamped on entry as LoadGen stamps them,
the scalar path for a few responses and the vectorized one for many keeping every protocol
check, shared index ints, chunked conversion, and no numpy call per SingleStream query."""

from __future__ import annotations

import functools
import json
import sys
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loadgen.mlperf as lg
from loadgen.benchmark import runner
from loadgen.benchmark.runner import run_benchmark
from loadgen.engine.recorder import Recorder
from loadgen.engine.trace import Trace


class ReadLog:
    """A clock that moves 1 us on every read and, while armed, notes the reads of the armed thread."""

    def __init__(self) -> None:
        self.now = 1_000_000_000
        self.reads: list[int] = []
        self.armed: threading.Thread | None = None
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self.now += 1_000
            if self.armed is threading.current_thread():
                self.reads.append(self.now)
            return self.now


def _settings(scenario: str, queries: int, mode: str = "PerformanceOnly", **extra: Any) -> lg.TestSettings:
    settings = lg.TestSettings()
    settings.scenario = getattr(lg.TestScenario, scenario)
    settings.mode = getattr(lg.TestMode, mode)
    settings.min_duration_ms = 0
    settings.min_query_count = queries
    settings.max_query_count = queries
    settings.offline_expected_qps = 1.0
    settings.multi_stream_samples_per_query = 3
    for key, value in extra.items():
        setattr(settings, key, value)
    return settings


def _run(tmp_path: Path, issue: Callable[..., None], settings: lg.TestSettings, fast: bool = True,
         samples: int = 64) -> dict[str, Any]:
    sut = lg.ConstructFastSUT(issue, lambda: None) if fast else lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(samples, samples, lambda indices: None, lambda indices: None)
    log = lg.LogSettings()
    log.log_output.outdir = str(tmp_path)
    log.enable_trace = False
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log)
    finally:
        lg.DestroySUT(sut)
        lg.DestroyQSL(qsl)
    result: dict[str, Any] = json.loads((tmp_path / "result.json").read_text())
    return result


@pytest.mark.parametrize(("scenario", "what"), [
    ("SingleStream", "one response"),
    ("MultiStream", "three responses: the scalar path"),
    ("Offline", "64 responses: the vectorized path"),
    ("SingleStream", "first token"),
])
def test_the_completion_stamp_is_the_first_clock_read_of_the_call(
    scenario: str, what: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ReadLog()
    monkeypatch.setattr(runner, "run_benchmark", functools.partial(run_benchmark, clock=clock))
    tokens = what == "first token"
    seen: list[tuple[Recorder, list[int], int]] = []

    def issue(ids: list[int], indices: list[int]) -> None:
        responses = [lg.QuerySampleResponse(i, 0, 0, 1 if tokens else 0) for i in ids]
        clock.reads.clear()
        clock.armed = threading.current_thread()
        (lg.FirstTokenComplete if tokens else lg.QuerySamplesComplete)(responses)
        clock.armed = None
        assert lg._ACTIVE.batch is not None
        seen.append((lg._ACTIVE.batch.phase, ids, clock.reads[0]))
        if tokens:
            lg.QuerySamplesComplete(responses)

    result = _run(tmp_path, issue, _settings(scenario, 64 if scenario == "Offline" else 4, use_token_latencies=tokens))
    assert result["error"] is None, result["error"]
    phase, ids, first_read = seen[-1]
    rows = np.asarray(ids) - 1
    stamped = phase.trace.first_token_ns[rows] if tokens else phase.trace.completed_ns[rows]
    assert (stamped + phase.start_ns == first_read).all(), (what, stamped + phase.start_ns, first_read)


class LastRead(ReadLog):
    """A ReadLog that also keeps, per thread, the last value it returned."""

    def __init__(self) -> None:
        super().__init__()
        self.last: dict[threading.Thread, int] = {}

    def __call__(self) -> int:
        value = super().__call__()
        self.last[threading.current_thread()] = value
        return value


@pytest.mark.parametrize(("scenario", "fast"), [
    ("SingleStream", True), ("SingleStream", False), ("MultiStream", False), ("Offline", True),
])
def test_the_issue_stamp_is_the_last_clock_read_before_the_callback(
    scenario: str, fast: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter's lists are built before the stamp: the span starts when the SUT's code gets them."""
    clock = LastRead()
    monkeypatch.setattr(runner, "run_benchmark", functools.partial(run_benchmark, clock=clock))
    build = lg._query_samples
    monkeypatch.setattr(lg, "_query_samples", lambda *lists: (build(*lists), clock())[0])  # building takes time
    seen: list[tuple[Recorder, int, int]] = []

    def issue(*args: Any) -> None:
        entry = clock.last[threading.current_thread()]  # no clock read of our own before this
        ids = args[0] if fast else [sample.id for sample in args[0]]
        assert lg._ACTIVE.batch is not None
        seen.append((lg._ACTIVE.batch.phase, ids[0], entry))
        lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids])

    result = _run(tmp_path, issue, _settings(scenario, 64 if scenario == "Offline" else 4), fast=fast)
    assert result["error"] is None, result["error"]
    phase, first_id, entry = seen[-1]
    query = int(np.searchsorted(phase.trace.query_offsets, first_id - 1, side="right")) - 1
    assert phase.trace.issued_ns[query] + phase.start_ns == entry
    assert phase.trace.completed_ns[first_id - 1] > phase.trace.issued_ns[query]


class LooseResponse:
    """A response-like object of the SUT's own, with plain attributes nothing checked when written."""

    def __init__(self, id: Any, data: Any, size: Any, n_tokens: Any = 0) -> None:
        self.id, self.data, self.size, self.n_tokens = id, data, size, n_tokens


BREACHES = {
    "an id never issued": (lambda ids: [ids[0] + 10_000, *ids[1:]], "never issued"),
    "id 0": (lambda ids: [0, *ids[1:]], "never issued"),
    "an id twice in one call": (lambda ids: [ids[0], *ids[:-1]], "twice"),
}


@pytest.mark.parametrize("per_call", [1, 3, 40], ids=["one", "few", "many"])
@pytest.mark.parametrize("breach", [*BREACHES, "an id completed twice", "a float id", "a huge size"])
def test_each_path_keeps_every_protocol_check(per_call: int, breach: str, tmp_path: Path) -> None:
    if breach == "an id twice in one call" and per_call == 1:
        pytest.skip("one response cannot repeat an id")
    errors: list[BaseException] = []

    def issue(ids: list[int], indices: list[int]) -> None:
        chunk = ids[:per_call]
        if breach in BREACHES:
            chunk = BREACHES[breach][0](chunk)
        responses: list[Any] = [lg.QuerySampleResponse(i, 0, 0) for i in chunk]
        if breach == "a float id":  # a response of another class: QuerySampleResponse refuses it when written
            responses[0] = LooseResponse(1.5, 0, 0)
        if breach == "a huge size":
            responses[-1] = LooseResponse(responses[-1].id, 0, 2**63)
        try:
            lg.QuerySamplesComplete(responses)
            if breach == "an id completed twice":
                lg.QuerySamplesComplete(responses[-1:])
        except (TypeError, ValueError) as exc:
            errors.append(exc)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 0) for i in ids if i not in chunk])

    result = _run(tmp_path, issue, _settings("Offline", 64))
    assert result["valid"] is False
    expected = {"a float id": "id must be a whole number", "a huge size": "size = 9223372036854775808",
                "an id completed twice": "twice"}.get(breach) or BREACHES[breach][1]
    assert expected in result["error"], result["error"]
    assert bool(errors) == (breach in ("a float id", "a huge size"))


@pytest.mark.parametrize("per_call", [1, 3, 40])
def test_good_completions_on_each_path_record_every_sample_and_size(per_call: int, tmp_path: Path) -> None:
    def issue(ids: list[int], indices: list[int]) -> None:
        for start in range(0, len(ids), per_call):
            lg.QuerySamplesComplete([lg.QuerySampleResponse(i, 0, 7 + i) for i in ids[start:start + per_call]])

    result = _run(tmp_path, issue, _settings("Offline", 64))
    assert result["error"] is None, result["error"]
    trace = Trace.load(tmp_path / "trace.npz")
    assert (trace.completed_ns >= 0).all()
    assert trace.response_size.tolist() == [7 + i for i in range(1, 65)]


def test_query_samples_share_their_index_ints(tmp_path: Path) -> None:
    batches: list[list[lg.QuerySample]] = []

    def issue(samples: list[lg.QuerySample]) -> None:
        batches.append(samples)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in samples])

    result = _run(tmp_path, issue, _settings("Offline", 3000), fast=False, samples=1000)
    assert result["error"] is None, result["error"]
    samples = batches[-1]
    assert [s.id for s in samples] == list(range(1, 3001))
    by_index: dict[int, int] = {}
    for sample in samples:
        assert sample.index == by_index.setdefault(sample.index, sample.index)
        assert sample.index is by_index[sample.index]  # one object per distinct index, not one per sample
    assert len(by_index) > 500


def test_a_large_completion_is_converted_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lg, "CHUNK", 4096)
    peaks: list[int] = []

    def issue(ids: list[int], indices: list[int]) -> None:
        responses = [lg.QuerySampleResponse(i, 0, 0) for i in ids]
        tracemalloc.start()
        try:
            lg.QuerySamplesComplete(responses)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()

    result = _run(tmp_path, issue, _settings("Offline", 100_000))
    assert result["error"] is None, result["error"]
    # Unchunked, three lists and three arrays of 100 k int64 would take 4.8 MB at once.
    assert peaks[0] < 1_000_000, peaks


def test_a_single_stream_query_makes_no_numpy_call(tmp_path: Path) -> None:
    """Calls into numpy on the issuing thread, counted by a profiler, do not grow with the queries."""

    def numpy_calls(queries: int) -> int:
        counted = [0]

        def profile(frame: Any, event: str, arg: Any) -> None:
            if event == "c_call":
                owner = getattr(arg, "__self__", None)
                if isinstance(owner, np.ndarray) or str(getattr(arg, "__module__", "")).startswith("numpy"):
                    counted[0] += 1
            elif event == "call" and f"{Path('numpy')}" in frame.f_code.co_filename:
                counted[0] += 1

        def issue(ids: list[int], indices: list[int]) -> None:
            lg.QuerySamplesComplete([lg.QuerySampleResponse(ids[0], 0, 0)])

        def observe(engine: Any) -> Any:
            sys.setprofile(profile)
            return _Unprofile()

        sut = lg.ConstructFastSUT(issue, lambda: None)
        qsl = lg.ConstructQSL(64, 64, lambda indices: None, lambda indices: None)
        handle, library = lg._HANDLES[sut], lg._HANDLES[qsl]
        settings = lg.harness_settings(_settings("SingleStream", queries))
        run_benchmark(handle, library, settings, observer=observe, fingerprint={})
        return counted[0]

    assert numpy_calls(600) - numpy_calls(200) == 0


class _Unprofile:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)
