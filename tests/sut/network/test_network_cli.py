"""The commands as the README gives them: `python -m sut.serve` and `python -m loadgen.run
--sut sut.network ...`, each in a process of its own, against real loopback servers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("CI") != "true":  # CI installs the extra; elsewhere these tests skip without it
    pytest.importorskip("aiohttp", reason="these tests' loopback servers need aiohttp: pip install '.[http]'")

REPO = Path(__file__).resolve().parents[3]

KEY = "sk-test-0123456789abcdef"  # the faulty server's key (conftest)


def loadgen_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadgen.run", "--no-progress", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
    )


def test_server_scenario_over_http_against_sut_serve_is_valid(digit_server: Any, tmp_path: Path) -> None:
    """The README's round trip, with the bare URL a new user types (sut.serve answers JSON at /)."""
    done = loadgen_run(
        "--scenario", "server", "--sut", "sut.network", "--sut-arg", f"url={digit_server.url}",
        "--set", "server_target_qps=300", "--set", "min_duration_ms=1000", "--set", "min_query_count=470",
        "--set", "warmup_ms=0",
        "--set", "server_target_latency_ns=2000000000",  # generous: the test machine is shared
        "--output", str(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["valid"] and result["failed_samples"] == {}
    assert result["sut_name"] == f"HTTP json {digit_server.url}"


def test_a_wrong_path_is_refused_before_anything_runs_with_the_routes_sut_serve_offers(
    digit_server: Any, tmp_path: Path
) -> None:
    done = loadgen_run(
        "--scenario", "server", "--sut", "sut.network", "--sut-arg", f"url={digit_server.url}/predict",
        "--output", str(tmp_path / "out"),
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{digit_server.url}/predict: a sample request was answered HTTP 404 Not Found" in done.stderr
    assert "is the path right? sut.serve answers POST / and /infer (generic JSON)" in done.stderr
    assert not (tmp_path / "out").exists()


def test_http_errors_end_the_run_invalid_with_counts_and_the_api_key_is_never_written(
    faulty_server: Any, tmp_path: Path
) -> None:
    """A server that answers the start-up check, then fails every timed request."""
    done = loadgen_run(
        "--scenario", "offline", "--sut", "sut.network", "--sut-arg", f"url={faulty_server.url}/flaky/503/cli",
        "--sut-arg", "api_key_env=MY_SERVER_KEY", "--set", "offline_expected_qps=1", "--set", "min_query_count=30",
        "--set", "min_duration_ms=100", "--set", "warmup_ms=0", "--output", str(tmp_path),
        env={**os.environ, "MY_SERVER_KEY": KEY},
    )
    assert done.returncode == 3, done.stdout + done.stderr
    reason = "30 of 30 samples failed: 30 HTTP 503"
    assert reason in done.stdout
    assert reason in (tmp_path / "mlperf_log_summary.txt").read_text()
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["failed_samples"] == {"HTTP 503": 30} and reason in result["invalid_reasons"]
    assert KEY not in done.stdout + done.stderr
    for path in tmp_path.iterdir():
        assert KEY.encode() not in path.read_bytes(), path.name


def test_an_unreachable_server_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = loadgen_run(
        "--scenario", "server", "--sut", "sut.network", "--sut-arg", f"url=http://127.0.0.1:{port}/infer",
        "--output", str(tmp_path / "out"),
    )
    assert done.returncode == 2
    assert f"cannot connect to 127.0.0.1:{port} (connection refused); is the server running?" in done.stderr
    assert not (tmp_path / "out").exists()


def test_sut_serve_refuses_a_taken_port(digit_server: Any) -> None:
    port = digit_server.url.rsplit(":", 1)[1]
    taken = subprocess.run([sys.executable, "-m", "sut.serve", "--sut", "sut.null", "--port", port], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert taken.returncode == 1 and f"cannot serve on 127.0.0.1:{port}" in taken.stderr
