"""The drop-in API where a harness passes bad values: no segfault, no silent mislogging, no
crossed tests, and SettingsError for every bad setting (issue 11, case 11)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import loadgen.mlperf as lg
from loadgen.errors import SettingsError

REPO = Path(__file__).resolve().parents[2]

BOGUS_ADDRESS_HARNESS = """
import sys
import loadgen.mlperf as lg

def issue(samples):
    # the third sample's response points at an unmapped page
    lg.QuerySamplesComplete([
        lg.QuerySampleResponse(s.id, 0xDEAD0000 if s.index == 3 else 0, 16 if s.index == 3 else 0)
        for s in samples
    ])

sut = lg.ConstructSUT(issue, lambda: None)
qsl = lg.ConstructQSL(8, 8, lambda i: None, lambda i: None)
settings = lg.TestSettings()
settings.scenario = lg.TestScenario.Offline
settings.mode = lg.TestMode.AccuracyOnly
log = lg.LogSettings()
log.log_output.outdir = sys.argv[1]
log.enable_trace = False
lg.StartTestWithLogSettings(sut, qsl, settings, log)
print("returned")
"""


def test_an_unmapped_response_address_ends_that_sample_as_an_error_not_a_segfault(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", BOGUS_ADDRESS_HARNESS, str(tmp_path)],
        env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])  # -11 would be the segfault
    assert "returned" in done.stdout
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["valid"] is False
    assert "0xdead0000" in result["error"] and "not readable memory" in result["error"]
    assert (tmp_path / "mlperf_log_summary.txt").is_file() and (tmp_path / "mlperf_log_detail.txt").is_file()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"id": 1.5}, TypeError),
        ({"id": "7"}, TypeError),
        ({"data": "notanint"}, TypeError),
        ({"size": -1}, ValueError),
        ({"n_tokens": -2}, ValueError),
        ({"id": -1}, ValueError),
        ({"size": 2**63}, ValueError),
    ],
)
def test_responses_are_type_checked_when_built(fields: dict[str, Any], error: type[Exception]) -> None:
    values = {"id": 1, "data": 0, "size": 0} | fields
    with pytest.raises(error, match="QuerySampleResponse"):
        lg.QuerySampleResponse(values["id"], values["data"], values["size"], fields.get("n_tokens", 0))


def _one_sample_test(tmp_path: Path, issue: Any) -> dict[str, Any]:
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(4, 4, lambda indices: None, lambda indices: None)
    test_settings = lg.TestSettings()
    test_settings.scenario = lg.TestScenario.Offline
    test_settings.mode = lg.TestMode.AccuracyOnly
    log = lg.LogSettings()
    log.log_output.outdir = str(tmp_path)
    log.enable_trace = False
    lg.StartTestWithLogSettings(sut, qsl, test_settings, log)
    lg.DestroySUT(sut)
    lg.DestroyQSL(qsl)
    return json.loads((tmp_path / "result.json").read_text())


@pytest.mark.parametrize(
    ("field", "value", "error", "loadgen_refuses"),
    [("id", 1.5, TypeError, True), ("data", -1, ValueError, True), ("size", -5, ValueError, True),
     ("n_tokens", 2**63, ValueError, True), ("id", "7", TypeError, True),
     ("size", 2**63, ValueError, False)],  # LoadGen's size_t takes 2**63; the trace's int64 column does not
)
def test_a_bad_field_is_refused_where_it_is_written_as_loadgens_binding_refuses_it(
    field: str, value: Any, error: type[Exception], loadgen_refuses: bool
) -> None:
    response = lg.QuerySampleResponse(3, 0x10, 4, 2)
    with pytest.raises(error, match=f"QuerySampleResponse.{field}"):
        setattr(response, field, value)
    assert (response.id, response.data, response.size, response.n_tokens) == (3, 0x10, 4, 2)
    response.size = 9
    assert response.size == 9
    if importlib.util.find_spec("mlperf_loadgen") is None and os.environ.get("CI") != "true":
        pytest.skip("mlperf_loadgen is not installed: pip install '.[mlperf]'")
    loadgen_response = importlib.import_module("mlperf_loadgen").QuerySampleResponse(3, 0x10, 4, 2)
    try:
        setattr(loadgen_response, field, value)
    except TypeError:  # LoadGen's typed C++ fields refuse a value as a TypeError
        refused = True
    else:
        refused = False
    assert refused == loadgen_refuses


def test_a_response_changed_after_it_was_built_ends_the_run_invalid(tmp_path: Path) -> None:
    def issue(samples: list[Any]) -> None:
        responses = [lg.QuerySampleResponse(s.id, 0, 0) for s in samples]
        responses[0].size = -5  # raises here, in the SUT's callback, as LoadGen's binding does
        lg.QuerySamplesComplete(responses)

    result = _one_sample_test(tmp_path, issue)
    assert result["valid"] is False
    assert "size = -5" in result["error"]


def test_a_second_concurrent_start_test_is_refused(tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def slow_issue(samples: list[Any]) -> None:
        started.set()
        release.wait(10)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in samples])

    first = threading.Thread(target=_one_sample_test, args=(tmp_path / "first", slow_issue))
    first.start()
    try:
        assert started.wait(30)
        with pytest.raises(SettingsError, match="already running"):
            _one_sample_test(tmp_path / "second", slow_issue)
    finally:
        release.set()
        first.join(30)
    assert json.loads((tmp_path / "first" / "result.json").read_text())["error"] is None
    assert not (tmp_path / "second").exists()
    time.sleep(0)  # the lock is free again: a later test runs
    result = _one_sample_test(tmp_path / "third", lambda samples: lg.QuerySamplesComplete(
        [lg.QuerySampleResponse(s.id, 0, 0) for s in samples]))
    assert result["error"] is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("scenario", 7),
        ("mode", -1),
        ("scenario", "Server"),
        ("single_stream_expected_latency_ns", math.inf),
        ("multi_stream_expected_latency_ns", math.nan),
        ("server_target_qps", -3.0),
        ("min_duration_ms", -1),
        ("min_duration_ms", 10**401),
        ("min_query_count", 2.5),
        ("qsl_rng_seed", 2**64),
        ("use_token_latencies", "yes"),
        ("server_target_latency_ns", None),
    ],
)
def test_every_bad_setting_raises_settings_error_naming_it(name: str, value: Any) -> None:
    test_settings = lg.TestSettings()
    with pytest.raises(SettingsError, match=f"TestSettings.{name}"):
        setattr(test_settings, name, value)


def test_an_unknown_setting_is_a_settings_error_and_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'min_durration_ms'") as caught:
        lg.TestSettings().min_durration_ms = 5
    assert isinstance(caught.value, SettingsError)


def test_values_out_of_the_harness_range_are_settings_errors_at_start() -> None:
    test_settings = lg.TestSettings()
    test_settings.single_stream_target_latency_percentile = 1.5
    with pytest.raises(SettingsError, match="single_stream_target_latency_percentile"):
        lg.harness_settings(test_settings)


_NAMES = st.sampled_from(sorted(vars(lg.TestSettings())))
_VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.sampled_from(list(lg.TestScenario) + list(lg.TestMode)),
)


@seed(14)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=6))
def test_fuzzed_settings_raise_only_settings_error(assignments: list[tuple[str, Any]]) -> None:
    """Any assignment either takes or raises SettingsError; what took either converts to
    harness settings or raises SettingsError; never another exception."""
    test_settings = lg.TestSettings()
    for name, value in assignments:
        with contextlib.suppress(SettingsError):
            setattr(test_settings, name, value)
    with contextlib.suppress(SettingsError):
        lg.harness_settings(test_settings)


@pytest.mark.parametrize("mode", ["PerformanceOnly", "AccuracyOnly"])
def test_token_runs_log_loadgens_token_data_and_token_count(mode: str, tmp_path: Path) -> None:
    """With use_token_latencies the accuracy log carries each logged sample's first token and
    token count, as LoadGen's does (TEST06's script reads them)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import harness

    quick = {"min_duration_ms": 100, "min_query_count": 20, "server_target_qps": 500.0,
             "accuracy_log_probability": 1.0}
    harness.run(lg, "Server", mode, str(tmp_path), 0.0, quick, tokens=True)
    entries = json.loads((tmp_path / "mlperf_log_accuracy.json").read_text())
    assert entries
    for entry in entries:
        assert entry["token_count"] == 4
        assert entry["token_data"] == entry["data"][:8]  # the first int32 token, in hex
