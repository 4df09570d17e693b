"""Failures are data: each way a server can fail marks its samples failed with a reason, and
the run ends INVALID with the counts; a dead server never hangs the run."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
import uuid
from typing import Any

import pytest

if os.environ.get("CI") != "true":  # CI installs the extra; elsewhere these tests skip without it
    pytest.importorskip("aiohttp", reason="these tests' loopback servers need aiohttp: pip install '.[http]'")

from loadgen.benchmark.runner import Benchmark, run_benchmark
from loadgen.errors import SutLoadError
from loadgen.settings.model import TestSettings
from sut.network import make_sut

SAMPLES = 20
OFFLINE = dict(
    scenario="Offline", warmup_ms=0, min_duration_ms=100, min_query_count=SAMPLES, offline_expected_qps=1.0,
    sample_timeout_ms=30_000,
)


def run(sut: Any, **overrides: Any) -> Benchmark:
    try:
        return run_benchmark(sut, sut.qsl, TestSettings(**{**OFFLINE, **overrides}), fingerprint={})
    finally:
        sut.close()


CASES = [  # /flaky/N answers the start-up check, then fails: a server that breaks once the run is under way
    ("/flaky/503", {}, "HTTP 503"),
    ("/flaky/404", {}, "HTTP 404"),
    ("/flaky/401", {}, "HTTP 401"),
    ("/bad-json", {}, "invalid JSON"),
    ("/drop", {}, "connection lost"),
    ("/hang", {"timeout_s": 0.5}, "timeout (> 0.5 s)"),
    ("/sse/garbage", {"protocol": "openai-completions"}, "invalid SSE (a line that is not an event field)"),
    ("/sse/not-json", {"protocol": "openai-completions"}, "invalid SSE (a data line that is not JSON)"),
    ("/sse/no-done", {"protocol": "openai-completions"}, "invalid SSE (the stream ended before [DONE])"),
    ("/sse/empty", {"protocol": "openai-chat"}, "no tokens streamed"),
]


@pytest.mark.parametrize(("path", "options", "reason"), CASES, ids=[case[0] for case in CASES])
def test_each_failure_kind_ends_the_run_invalid_with_its_reason(
    faulty_server: Any, path: str, options: dict[str, Any], reason: str
) -> None:
    tag = f"/{uuid.uuid4().hex}" if path.startswith("/flaky/") else ""
    sut = make_sut(url=faulty_server.url + path + tag, model="m", samples=SAMPLES, **options)
    started = time.monotonic()
    benchmark = run(sut)
    result = benchmark.result
    assert benchmark.error is None
    assert result.failed_samples == {reason: SAMPLES}
    assert not result.valid
    assert f"{SAMPLES} of {SAMPLES} samples failed: {SAMPLES} {reason}" in result.invalid_reasons
    assert time.monotonic() - started < 10


REFUSALS = [
    ("/status/404", "HTTP 404 Not Found (no); is the path right? sut.serve answers POST / and /infer"),
    ("/status/405", "HTTP 405 Method Not Allowed (no); is the path right?"),
    ("/auth", "HTTP 401 Unauthorized; the server wants credentials: give api_key_env=VARIABLE"),
    ("/status/422", "HTTP 422 Unprocessable Entity (no); the server rejects a json request body"),
    ("/status/503", "HTTP 503 Service Unavailable (no); the server failed that request: see its log"),
]


@pytest.mark.parametrize(("path", "message"), REFUSALS, ids=[case[0] for case in REFUSALS])
def test_a_server_that_answers_the_start_up_request_with_an_http_error_is_refused(
    faulty_server: Any, path: str, message: str
) -> None:
    with pytest.raises(SutLoadError) as refused:
        make_sut(url=faulty_server.url + path, samples=SAMPLES)
    text = str(refused.value)
    assert text.startswith(f"{faulty_server.url}{path}: a sample request was answered ") and message in text, text


def test_a_refusal_masks_the_credentials_a_server_echoes(faulty_server: Any) -> None:
    with pytest.raises(SutLoadError) as refused:
        make_sut(url=f"{faulty_server.url}/echo/400", headers={"Authorization": "Bearer sk-echoed-secret-1234"})
    assert "sk-echoed" not in str(refused.value) and "Authorization: ***" in str(refused.value)


def test_a_server_slower_than_the_start_up_check_is_not_refused(faulty_server: Any) -> None:
    started = time.monotonic()
    sut = make_sut(url=f"{faulty_server.url}/hang", samples=SAMPLES, timeout_s=30.0)
    sut.close()
    assert time.monotonic() - started < 10


def test_the_start_up_check_leaves_a_long_stream_at_its_first_bytes(faulty_server: Any) -> None:
    """A streamed generation is not read to its end before the run: the check's connection is
    dropped once the status is in, so the server stops generating."""
    started = time.monotonic()
    sut = make_sut(url=f"{faulty_server.url}/sse/slow", protocol="openai-completions", model="m", samples=SAMPLES)
    try:
        assert time.monotonic() - started < 5  # the stream would last 10 s
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the SUT is still open: only the check's own drop can end the stream
            with urllib.request.urlopen(f"{faulty_server.url}/sse/gone") as response:
                if json.loads(response.read()) >= 1:
                    return
            time.sleep(0.05)
        raise AssertionError("the server never saw the check's client leave")
    finally:
        sut.close()


def test_a_valid_stream_counts_its_usage_tokens(faulty_server: Any) -> None:
    sut = make_sut(url=f"{faulty_server.url}/sse/ok", protocol="openai-completions", model="m", samples=SAMPLES)
    benchmark = run(sut, use_token_latencies=True)
    assert benchmark.result.failed_samples == {}
    assert benchmark.trace.token_count.tolist() == [3] * SAMPLES


def test_the_api_key_comes_from_the_environment(faulty_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYPERF_TEST_KEY", "sk-test-0123456789abcdef")  # the faulty server's key
    sut = make_sut(url=f"{faulty_server.url}/auth", api_key_env="TINYPERF_TEST_KEY", samples=SAMPLES)
    assert "sk-test" not in sut.name
    assert run(sut).result.failed_samples == {}


def test_an_unset_api_key_variable_is_refused_by_name(faulty_server: Any) -> None:
    with pytest.raises(SutLoadError, match="api_key_env=TINYPERF_UNSET_KEY: that environment variable is not set"):
        make_sut(url=f"{faulty_server.url}/auth", api_key_env="TINYPERF_UNSET_KEY")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_is_refused_before_anything_runs() -> None:
    port = free_port()
    with pytest.raises(SutLoadError, match=f"cannot connect to 127.0.0.1:{port} \\(connection refused\\)"):
        make_sut(url=f"http://127.0.0.1:{port}/infer")


def test_a_server_that_dies_before_the_run_fails_every_sample_at_once(fresh_faulty_server: Any) -> None:
    server = fresh_faulty_server
    sut = make_sut(url=f"{server.url}/ok", samples=SAMPLES)
    server.stop()
    started = time.monotonic()
    result = run(sut).result
    assert result.failed_samples == {"connection refused": SAMPLES}
    assert time.monotonic() - started < 5


def test_a_server_that_dies_mid_run_is_reported_within_the_request_timeout(fresh_faulty_server: Any) -> None:
    server = fresh_faulty_server
    sut = make_sut(url=f"{server.url}/hang", samples=SAMPLES, timeout_s=20.0)
    killer = threading.Timer(0.5, server.stop)
    killer.start()
    started = time.monotonic()
    try:
        result = run(sut).result
    finally:
        killer.join()
    assert result.failed_samples == {"connection lost": SAMPLES}
    assert time.monotonic() - started < 10  # well within timeout_s: the connections dropped


def test_max_in_flight_caps_the_requests_outstanding(faulty_server: Any) -> None:
    """6 requests to a server that never answers, 2 at a time, each timing out after 0.3 s:
    three rounds, so the run lasts at least 0.9 s."""
    sut = make_sut(url=f"{faulty_server.url}/hang", samples=6, timeout_s=0.3, max_in_flight=2)
    started = time.monotonic()
    result = run(sut, min_query_count=6).result
    assert result.failed_samples == {"timeout (> 0.3 s)": 6}
    assert time.monotonic() - started >= 0.9


def test_connections_are_kept_alive_and_reused(faulty_server: Any) -> None:
    sut = make_sut(url=f"{faulty_server.url}/ok", samples=200, max_in_flight=4)
    assert run(sut, min_query_count=200).result.failed_samples == {}
    with urllib.request.urlopen(f"{faulty_server.url}/peers") as response:
        peers = json.loads(response.read())[-200:]
    assert len(set(peers)) <= 4  # 200 requests over at most 4 keep-alive connections


def test_a_server_that_closes_every_connection_is_answered_all_the_same(faulty_server: Any) -> None:
    sut = make_sut(url=f"{faulty_server.url}/close", samples=SAMPLES, max_in_flight=3)
    assert run(sut).result.failed_samples == {}


def test_https_works_with_a_trusted_certificate(tls_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server, cert = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    sut = make_sut(url=f"{server.url}/ok", samples=SAMPLES)
    assert server.url.startswith("https://") and run(sut).result.failed_samples == {}


def test_an_untrusted_certificate_is_refused_before_anything_runs(tls_server: Any) -> None:
    server, _ = tls_server
    with pytest.raises(SutLoadError, match=r"TLS error \(CERTIFICATE_VERIFY_FAILED\).*SSL_CERT_FILE"):
        make_sut(url=f"{server.url}/ok", samples=SAMPLES)


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer sk-test-0123456789abcdef"},
                                     "Authorization: Bearer sk-test-0123456789abcdef"])
def test_headers_given_as_a_table_or_as_text_are_sent(faulty_server: Any, headers: Any) -> None:
    sut = make_sut(url=f"{faulty_server.url}/auth", headers=headers, samples=SAMPLES)
    assert run(sut).result.failed_samples == {}


def test_headers_of_another_shape_are_refused() -> None:
    with pytest.raises(SutLoadError, match="headers=42: give a table"):
        make_sut(url="http://127.0.0.1:1/infer", headers=42)
