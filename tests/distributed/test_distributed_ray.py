"""Distributed runs on a real local Ray instance: one schedule, one merged trace, faults named.

Few and short (about a second of load each), sharing one Ray instance (conftest.py)."""

from __future__ import annotations

import _thread
import functools
import json
import signal
import threading
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import psutil
import pytest
from faulty_suts import make_faulty, make_slow

from loadgen.benchmark.runner import Benchmark
from loadgen.cli.run import _sut_and_qsl, exit_code
from loadgen.cli.run import main as run_main
from loadgen.distributed.driver import Terminated, run_distributed
from loadgen.distributed.plan import split_schedule
from loadgen.engine.schedule import build_schedule, select_loaded_samples
from loadgen.engine.trace import NOT_YET, Trace
from loadgen.errors import Interrupted, RunAborted, SampleTimeout, SutError, SutLoadError
from loadgen.settings.model import Scenario, TestSettings


def server(duration_ms: int = 1500, qps: float = 1000.0) -> TestSettings:
    return TestSettings(
        scenario=Scenario.Server, server_target_qps=qps, min_duration_ms=duration_ms, min_query_count=100,
        sample_timeout_ms=10_000,
    )


def schedule_of(settings: TestSettings, total: int, loaded: int):  # type: ignore[no-untyped-def]
    return build_schedule(settings, select_loaded_samples(total, loaded, settings.qsl_rng_seed))


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_workers_gone(benchmark: Benchmark) -> None:
    """No orphan processes: every worker's process ends once the run is over."""
    assert benchmark.result.distributed is not None
    pids = [w["pid"] for w in benchmark.result.distributed["per_worker"]]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(running(p) for p in pids):
        time.sleep(0.05)
    assert not [p for p in pids if running(p)], "worker processes left running"


def test_server_on_two_workers_is_valid_and_holds_the_one_schedule_exactly_once(
    ray_instance: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = run_main([
        "--scenario", "server", "--workers", "2", "--sut", "sut.fixed_time", "--sut-arg", "service_us=50",
        "--set", "server_target_qps=1000", "--set", "min_duration_ms=1200", "--set", "warmup_ms=0",
        "--no-progress", "--output", str(out),
    ])
    result = json.loads((out / "result.json").read_text())
    assert code == 0, result["invalid_reasons"]
    assert result["valid"] and result["checks"]["clock_offsets"]
    facts = result["distributed"]
    assert facts["workers"] == 2 and facts["split"] == "round-robin by query"
    assert facts["clock_error_bound_ns"] == 0  # one machine: one CLOCK_MONOTONIC
    for worker in facts["per_worker"]:
        # the shared clock needs no offset; the measured one agrees within its round trip
        assert abs(worker["clock"]["measured_offset_ns"]) <= worker["clock"]["measured_round_trip_ns"]
    effective = TestSettings.model_validate(result["settings_effective"])
    schedule = schedule_of(effective, result["total_sample_count"], result["performance_sample_count"])
    trace = Trace.load(out / "trace.npz")
    assert trace.n_queries == schedule.n_queries == result["metrics"]["queries_completed"]
    np.testing.assert_array_equal(trace.scheduled_ns, schedule.scheduled_ns)
    np.testing.assert_array_equal(trace.sample_index, schedule.sample_index)
    assert (trace.completed_ns != NOT_YET).all() and (trace.issued_ns >= trace.scheduled_ns).all()
    assert "VALID" in capsys.readouterr().out


def test_offline_on_three_workers_covers_the_sample_set_in_order(ray_instance: ModuleType) -> None:
    settings = TestSettings(
        scenario=Scenario.Offline, offline_expected_qps=2000.0, min_duration_ms=300, min_query_count=10
    )
    make = functools.partial(_sut_and_qsl, "sut.fixed_time", {"service_us": 1500}, 256)
    benchmark = run_distributed(make, settings, workers=3, measure_clocks=True)  # as if on three machines
    assert benchmark.error is None, benchmark.result.invalid_reasons
    facts = benchmark.result.distributed
    assert facts is not None
    for worker in facts["per_worker"]:
        clock = worker["clock"]
        assert not clock["shared_clock"] and clock["offset_ns"] == clock["measured_offset_ns"]
        assert clock["error_bound_ns"] == (clock["measured_round_trip_ns"] + 1) // 2
        assert abs(clock["offset_ns"]) <= clock["error_bound_ns"]  # the true offset here is 0
    within = facts["clock_error_bound_ns"] <= facts["clock_error_limit_ns"]
    assert benchmark.result.checks["clock_offsets"] is within
    assert benchmark.result.valid is within, benchmark.result.invalid_reasons  # every other check passed
    schedule = schedule_of(settings, 256, 256)
    assert benchmark.trace.n_queries == 1
    np.testing.assert_array_equal(benchmark.trace.sample_index, schedule.sample_index)
    assert (benchmark.trace.completed_ns != NOT_YET).all()
    assert [w["samples_assigned"] for w in benchmark.result.distributed["per_worker"]] == [220, 220, 220]  # type: ignore[index]
    assert_workers_gone(benchmark)


def test_a_killed_worker_ends_the_run_invalid_naming_it_and_keeps_every_part_recorded(
    ray_instance: ModuleType, tmp_path: Path
) -> None:
    claim = tmp_path / "claim"
    benchmark = run_distributed(functools.partial(make_faulty, claim, "pause-die", 300), server(), workers=2)
    dead = int(claim.read_text())
    assert not benchmark.result.valid and isinstance(benchmark.error, RunAborted)
    assert exit_code(benchmark) == 1
    assert f"pid {dead} " in str(benchmark.error) and "died" in str(benchmark.error)
    per_worker = benchmark.result.distributed["per_worker"]  # type: ignore[index]
    survivor = next(w for w in per_worker if w["pid"] != dead)
    killed = next(w for w in per_worker if w["pid"] == dead)
    assert survivor["part_returned"] and survivor["queries_issued"] >= 300
    # the dead worker's part as it streamed it: it paused before dying, so all 300 answered queries
    assert not killed["part_returned"] and killed["part_streamed"] and killed["queries_issued"] == 300
    schedule = schedule_of(server(), 256, 256)
    parts = split_schedule(schedule, 2)
    kept = np.sort(np.r_[parts[survivor["worker"]].queries[: survivor["queries_issued"]],
                         parts[killed["worker"]].queries[:300]])
    trace = benchmark.trace
    assert trace.n_queries == survivor["queries_issued"] + 300  # every query either worker recorded
    np.testing.assert_array_equal(trace.scheduled_ns, schedule.scheduled_ns[kept])
    assert (trace.completed_ns != NOT_YET).all() and (trace.issued_ns >= trace.scheduled_ns).all()
    assert benchmark.result.invalid_reasons[0].startswith("the run did not complete: worker ")
    assert_workers_gone(benchmark)


def test_a_sut_call_that_never_returns_in_a_worker_is_caught_by_its_issue_watch(
    ray_instance: ModuleType, tmp_path: Path
) -> None:
    claim = tmp_path / "claim"
    settings = server(duration_ms=1500).model_copy(update={"sample_timeout_ms": 1000})
    benchmark = run_distributed(functools.partial(make_faulty, claim, "hang", 200), settings, workers=2)
    hung = int(claim.read_text())
    assert isinstance(benchmark.error, SampleTimeout) and exit_code(benchmark) == 1
    message = str(benchmark.error)
    assert f"pid {hung} " in message and "issue_query did not return, and completed nothing, for 1 s" in message
    assert "killed" in message
    per_worker = benchmark.result.distributed["per_worker"]  # type: ignore[index]
    stuck = next(w for w in per_worker if w["pid"] == hung)
    assert stuck["part_streamed"] and stuck["queries_issued"] == 200  # the 201st never came back
    assert benchmark.trace.n_queries == sum(w["queries_issued"] for w in per_worker)
    assert (benchmark.trace.completed_ns != NOT_YET).all()
    assert_workers_gone(benchmark)


def test_a_sut_call_that_never_returns_while_a_worker_warms_up_ends_the_run_before_timing(
    ray_instance: ModuleType, tmp_path: Path
) -> None:
    settings = server().model_copy(update={"sample_timeout_ms": 1000, "warmup_ms": 500})
    benchmark = run_distributed(functools.partial(make_faulty, tmp_path / "claim", "hang", 3), settings, workers=2)
    hung = int((tmp_path / "claim").read_text())
    assert isinstance(benchmark.error, SampleTimeout) and exit_code(benchmark) == 1
    assert f"pid {hung} on " in str(benchmark.error) and ", warming up: the SUT's issue_query did not return" in str(
        benchmark.error)
    assert benchmark.trace.n_queries == 0
    assert_workers_gone(benchmark)


def test_a_sut_error_in_one_worker_ends_the_run_and_every_part_is_kept(
    ray_instance: ModuleType, tmp_path: Path
) -> None:
    claim = tmp_path / "claim"
    benchmark = run_distributed(functools.partial(make_faulty, claim, "raise", 200), server(), workers=2)
    faulty = int(claim.read_text())
    assert isinstance(benchmark.error, SutError) and exit_code(benchmark) == 1
    assert f"pid {faulty} " in str(benchmark.error) and "injected fault" in str(benchmark.error)
    per_worker = benchmark.result.distributed["per_worker"]  # type: ignore[index]
    assert all(w["part_returned"] for w in per_worker)
    assert benchmark.trace.n_queries == sum(w["queries_issued"] for w in per_worker) >= 400
    assert benchmark.trace.n_queries < schedule_of(server(), 256, 256).n_queries  # the others were stopped


def test_samples_a_worker_reports_failed_end_the_merged_run_invalid_with_their_reasons(
    ray_instance: ModuleType, tmp_path: Path
) -> None:
    claim = tmp_path / "claim"
    benchmark = run_distributed(functools.partial(make_faulty, claim, "fail", 200), server(), workers=2)
    result = benchmark.result
    assert benchmark.error is None and exit_code(benchmark) == 3  # completed, judged INVALID
    failed = result.failed_samples["HTTP 503"]
    per_worker = result.distributed["per_worker"]  # type: ignore[index]
    faulty = next(w for w in per_worker if w["pid"] == int(claim.read_text()))
    assert failed == faulty["queries_issued"] - 200  # every sample after its 200th
    assert not result.valid and result.checks["no_failed_samples"] is False
    assert any(f"{failed} of " in reason and "HTTP 503" in reason for reason in result.invalid_reasons)


def test_ctrl_c_on_the_driver_stops_every_worker_and_keeps_their_parts(
    ray_instance: ModuleType, tmp_path: Path
) -> None:
    claim = tmp_path / "claim"
    started = claim.with_suffix(".started")

    def interrupt_when_started() -> None:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        _thread.interrupt_main()

    threading.Thread(target=interrupt_when_started, daemon=True).start()
    benchmark = run_distributed(functools.partial(make_faulty, claim, "none", 100), server(duration_ms=5000), 2)
    assert isinstance(benchmark.error, Interrupted) and exit_code(benchmark) == 130
    assert "Ctrl-C" in str(benchmark.error) and not benchmark.result.valid
    per_worker = benchmark.result.distributed["per_worker"]  # type: ignore[index]
    assert all(w["part_returned"] and w["queries_issued"] >= 100 for w in per_worker)
    assert benchmark.trace.n_queries == sum(w["queries_issued"] for w in per_worker)
    assert_workers_gone(benchmark)


def test_sigterm_before_timing_ends_the_run_with_nothing_recorded(ray_instance: ModuleType) -> None:
    """While the workers still build their SUTs: Terminated (exit 143 on the command line), no result."""
    found = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(1.0, _thread.interrupt_main, (signal.SIGTERM,))
    timer.start()
    try:
        with pytest.raises(Terminated, match="terminated by SIGTERM on the driver before timing started"):
            run_distributed(functools.partial(make_slow, 5.0), server(), workers=2)
    finally:
        timer.cancel()
    assert signal.getsignal(signal.SIGTERM) is found  # the handler the run found is back


def test_a_sut_that_cannot_be_built_is_refused_with_the_workers_reason(ray_instance: ModuleType) -> None:
    make = functools.partial(_sut_and_qsl, "nosuchmodule", {}, 16)
    with pytest.raises(SutLoadError, match=r"worker 0 \(pid \d+ on .*could not build its SUT: .*nosuchmodule"):
        run_distributed(make, server(), workers=2)
