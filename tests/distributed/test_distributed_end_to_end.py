"""Distributed runs as a user runs them: against a real loopback model server, and stopped by SIGTERM.

The network test shares the package's Ray instance (conftest.py); the SIGTERM test runs
`python -m loadgen.run --workers 2` as a process of its own, which starts (and must stop)
a Ray instance of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import psutil
import pytest

from loadgen.cli.progress import READY_LINE
from loadgen.cli.run import main as run_main
from loadgen.engine.schedule import Schedule, build_schedule, select_loaded_samples
from loadgen.engine.trace import NOT_YET, Trace
from loadgen.settings.model import TestSettings

REPO = Path(__file__).parents[2]


def one_process_schedule(result: dict[str, Any]) -> Schedule:
    """The schedule a single-process run of these settings issues (loadgen.engine.schedule)."""
    effective = TestSettings.model_validate(result["settings_effective"])
    loaded = select_loaded_samples(result["total_sample_count"], result["performance_sample_count"],
                                   effective.qsl_rng_seed)
    return build_schedule(effective, loaded)


@pytest.fixture(scope="module")
def null_server_url() -> Iterator[str]:
    """`python -m sut.serve --sut sut.null` on a free loopback port, awaited on /health, stopped after."""
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI must install the http and serve extras") from None
        pytest.skip("aiohttp is not installed: pip install '.[http,serve]'")
    if str(REPO) not in sys.path:  # bench/ is run from a checkout, not installed
        sys.path.insert(0, str(REPO))
    from bench.distributed import loopback_server

    with loopback_server("sut.null", []) as (url, _):
        yield url


def test_two_workers_against_a_loopback_model_server_answer_the_one_schedule_once(
    ray_instance: ModuleType, null_server_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    code = run_main([
        "--scenario", "server", "--workers", "2", "--sut", "sut.network", "--sut-arg", f"url={null_server_url}/infer",
        "--set", "server_target_qps=1000", "--set", "min_duration_ms=1500", "--no-progress", "--no-report",
        "--set", "server_target_latency_ns=2000000000",  # generous: two workers, a server and the tests share 2 cores
        "--output", str(out),
    ])
    result = json.loads((out / "result.json").read_text())
    assert code == 0 and result["valid"], result["invalid_reasons"]
    assert result["sut_name"].startswith("HTTP ") and null_server_url in result["sut_name"]
    assert not result.get("failed_samples")
    schedule = one_process_schedule(result)
    trace = Trace.load(out / "trace.npz")
    # every scheduled query issued and answered once (a second answer would have made it INVALID)
    assert trace.n_queries == schedule.n_queries == result["metrics"]["queries_completed"]
    np.testing.assert_array_equal(trace.scheduled_ns, schedule.scheduled_ns)
    np.testing.assert_array_equal(trace.sample_index, schedule.sample_index)
    assert (trace.completed_ns != NOT_YET).all()
    per_worker = result["distributed"]["per_worker"]
    assert sorted(w["queries_issued"] for w in per_worker) == sorted(w["queries_assigned"] for w in per_worker)


def alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigterm_on_the_driver_stops_the_workers_writes_their_parts_and_leaves_no_process(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install '.[ray]'")
    out = tmp_path / "run"
    # a stale RAY_ADDRESS must not capture a run that promises its own local instance
    env = {**os.environ, "RAY_TQDM_PATCH_PRINT": "0", "RAY_ADDRESS": "127.0.0.1:9"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "loadgen.run", "--scenario", "server", "--workers", "2", "--sut", "sut.fixed_time",
         "--sut-arg", "service_us=50", "--set", "server_target_qps=1000", "--set", "min_duration_ms=60000",
         "--no-progress", "--no-report", "--output", str(out)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        assert driver.stdout is not None
        lines = []
        for line in driver.stdout:
            lines.append(line)
            if line.startswith(READY_LINE):
                break
        assert lines and lines[-1].startswith(READY_LINE), "".join(lines)
        time.sleep(1.0)  # some queries done
        started_by_the_run = psutil.Process(driver.pid).children(recursive=True)  # Ray's GCS, raylet, workers
        assert len(started_by_the_run) >= 3
        driver.send_signal(signal.SIGTERM)
        rest, _ = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    output = "".join(lines) + rest
    assert driver.returncode == 143, output
    assert "terminated by SIGTERM on the driver" in output
    result = json.loads((out / "result.json").read_text())
    assert not result["valid"] and "terminated by SIGTERM" in result["error"]
    per_worker = result["distributed"]["per_worker"]
    assert all(w["part_returned"] and w["queries_issued"] > 0 for w in per_worker)
    trace = Trace.load(out / "trace.npz")
    # every query the workers issued and every completion they recorded (the stop leaves a few in flight)
    assert trace.n_queries == sum(w["queries_issued"] for w in per_worker) == result["metrics"]["queries_issued"]
    done = int(np.count_nonzero(trace.completed_ns != NOT_YET))
    assert done == result["metrics"]["samples_completed"] and done >= 0.9 * len(trace)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(alive(p) for p in started_by_the_run):
        time.sleep(0.1)
    assert not [p.pid for p in started_by_the_run if alive(p)], "processes of the run left behind"
