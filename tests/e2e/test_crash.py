"""Faults that take the run's process down, wedge it, or signal it: `loadgen run` as a user runs it.

Each case ends within a bounded time with a results folder whose result.json is INVALID
and names the cause, and whose figures count every sample completed before the fault.
Tests wait for the SUT's READY line (or UNLOADING) on stderr before signalling, never a
fixed sleep. Timing bounds are loose: the machine may be loaded.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loadgen.engine.trace import Trace

REPO = Path(__file__).resolve().parents[2]
FAULTY = str(Path(__file__).with_name("faulty_suts.py"))
NO_PILOT = ["--set", "single_stream_expected_latency_ns=20000", "--set", "warmup_ms=0"]
LONG_RUN = ["--scenario", "single_stream", "--set", "min_duration_ms=60000", *NO_PILOT]
FAST_ESCALATION = ["--set", "sample_timeout_ms=500", "--grace-s", "1"]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "loadgen.run", "--no-progress", *args]


def environment() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


def run(*args: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), cwd=cwd, env=environment(), capture_output=True, text=True,
                          timeout=timeout)


class Running:
    """A `loadgen run` in the background whose stderr lines can be waited for."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.process = subprocess.Popen(command(*args), cwd=cwd, env=environment(), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in self.lines.get(timeout=0.5):
                    return
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
        raise AssertionError(f"no {text!r} on stderr; got: {''.join(self.stderr)[-2000:]}")

    def finish(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout)
        assert self.process.stdout is not None
        self.stdout = self.process.stdout.read()
        return code


def result_of(folder: Path) -> dict[str, Any]:
    result = json.loads((folder / "result.json").read_text())
    assert not (folder / "live").exists(), "the live recording outlived a written result"
    return result


def completed_in_trace(folder: Path) -> int:
    completed = Trace.load(folder / "trace.npz", columns=["completed_ns"]).completed_ns
    return int(np.count_nonzero(completed != -1))


def sut_count(path: Path) -> int:
    return int(path.read_text().split()[0])


def test_a_sut_that_sigkills_itself_after_2_s_leaves_every_completed_sample(tmp_path: Path) -> None:
    count = tmp_path / "count"
    done = run(*LONG_RUN, "--sut", f"{FAULTY}:SelfKill", "--sut-arg", f"count_file={count}",
               "--sut-arg", "after_s=2.0", "--output", "out", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    result = result_of(tmp_path / "out")
    assert not result["valid"] and "SIGKILL" in result["error"]
    assert "SIGKILL" in result["invalid_reasons"][0]
    completed = result["metrics"]["samples_completed"]
    assert completed == sut_count(count) == completed_in_trace(tmp_path / "out") > 100
    assert result["metrics"]["duration_ns"] > 1.5e9
    assert result["files"]["trace.npz"]
    assert "SIGKILL" in done.stderr and "rebuilt by the supervisor" in done.stdout


def test_a_segfaulting_sut_ends_invalid_with_its_completions(tmp_path: Path) -> None:
    count = tmp_path / "count"
    done = run(*LONG_RUN, "--sut", f"{FAULTY}:Segfault", "--sut-arg", f"count_file={count}",
               "--sut-arg", "after_s=0.3", "--output", "out", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    result = result_of(tmp_path / "out")
    assert "SIGSEGV" in result["error"] and not result["valid"]
    assert result["metrics"]["samples_completed"] == sut_count(count) > 0


@pytest.mark.parametrize("in_thread", [False, True], ids=["issue-thread", "sut-thread"])
def test_a_sut_holding_the_gil_ends_within_timeout_plus_grace(tmp_path: Path, in_thread: bool) -> None:
    count = tmp_path / "count"
    running = Running(*LONG_RUN, *FAST_ESCALATION, "--sut", f"{FAULTY}:GilHog", "--sut-arg", f"count_file={count}",
                      "--sut-arg", "after_s=0.3", "--sut-arg", f"thread={str(in_thread).lower()}",
                      "--output", "out", cwd=tmp_path)
    running.wait_for("READY")
    started = time.monotonic()
    assert running.finish(timeout=60) == 1
    # sample_timeout_ms 0.5 s + grace 1 s + the 0.3 s before the fault, then the result is written
    assert time.monotonic() - started < 15
    result = result_of(tmp_path / "out")
    assert not result["valid"]
    assert any(word in result["error"] for word in ("responding", "did not return"))
    assert result["metrics"]["samples_completed"] == sut_count(count) > 0


def test_a_sut_that_swallows_keyboardinterrupt_is_killed_after_the_grace(tmp_path: Path) -> None:
    count = tmp_path / "count"
    running = Running(*LONG_RUN, *FAST_ESCALATION, "--sut", f"{FAULTY}:Swallower", "--sut-arg",
                      f"count_file={count}", "--sut-arg", "after_s=0.3", "--output", "out", cwd=tmp_path)
    running.wait_for("SWALLOWED", timeout=60)  # the issue watch's SIGINT reached it
    started = time.monotonic()
    assert running.finish(timeout=60) == 1
    assert time.monotonic() - started < 12
    result = result_of(tmp_path / "out")
    assert "swallows KeyboardInterrupt" in result["error"]
    assert result["metrics"]["samples_completed"] == sut_count(count) > 0


@pytest.mark.parametrize(("signum", "code", "words"), [
    (signal.SIGTERM, 143, "terminated by SIGTERM"),
    (signal.SIGINT, 130, "interrupted by the user"),
])
def test_sigterm_and_sigint_write_partial_results(tmp_path: Path, signum: int, code: int, words: str) -> None:
    count = tmp_path / "count"
    running = Running(*LONG_RUN, "--sut", f"{FAULTY}:Steady", "--sut-arg", f"count_file={count}",
                      "--output", "out", cwd=tmp_path)
    running.wait_for("RUNNING")
    running.process.send_signal(signum)
    assert running.finish() == code, "".join(running.stderr)
    result = result_of(tmp_path / "out")
    assert words in result["error"] and not result["valid"]
    assert result["metrics"]["samples_completed"] == completed_in_trace(tmp_path / "out") > 0
    assert "Traceback" not in "".join(running.stderr)


def test_ctrl_c_after_timing_finishes_the_results_and_a_second_one_still_writes_them(tmp_path: Path) -> None:
    once = Running("--scenario", "single_stream", "--set", "min_duration_ms=300", *NO_PILOT, "--sut",
                   f"{FAULTY}:SlowUnload", "--sut-arg", "unload_s=1", "--output", "once", cwd=tmp_path)
    once.wait_for("UNLOADING")  # the timed run is over; the QSL is unloading
    once.process.send_signal(signal.SIGINT)
    assert once.finish() == 130
    assert result_of(tmp_path / "once")["valid"]  # the run had completed: its results are whole
    twice = Running("--scenario", "single_stream", "--set", "min_duration_ms=300", *NO_PILOT, "--sut",
                    f"{FAULTY}:SlowUnload", "--sut-arg", "unload_s=30", "--output", "twice", cwd=tmp_path)
    twice.wait_for("UNLOADING")
    twice.process.send_signal(signal.SIGINT)
    twice.wait_for("Ctrl-C again")
    twice.process.send_signal(signal.SIGINT)
    assert twice.finish(timeout=30) == 130
    result = result_of(tmp_path / "twice")
    assert "second Ctrl-C" in result["error"]
    assert result["metrics"]["samples_completed"] == completed_in_trace(tmp_path / "twice") > 0
    assert "Traceback" not in "".join(once.stderr + twice.stderr)


def test_recover_rebuilds_a_folder_whose_supervisor_died_too(tmp_path: Path) -> None:
    count = tmp_path / "count"
    running = Running(*LONG_RUN, "--sut", f"{FAULTY}:Steady", "--sut-arg", f"count_file={count}",
                      "--output", "out", cwd=tmp_path)
    running.wait_for("RUNNING")
    status = np.fromfile(tmp_path / "out" / "live" / "status.bin", dtype=np.int64)
    child = int(status[6])  # the pid slot (loadgen.results.live)
    os.kill(running.process.pid, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    running.finish()
    recovered = subprocess.run([sys.executable, "-m", "loadgen.recover", "out"], cwd=tmp_path, env=environment(),
                               capture_output=True, text=True, timeout=60)
    assert recovered.returncode == 3, recovered.stderr
    result = result_of(tmp_path / "out")
    assert not result["valid"] and "loadgen recover" in result["error"]
    assert result["metrics"]["samples_completed"] == completed_in_trace(tmp_path / "out") > 0
    again = subprocess.run([sys.executable, "-m", "loadgen", "recover", "out"], cwd=tmp_path, env=environment(),
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "the run finished" in again.stderr


def test_a_non_empty_output_is_refused_unless_overwrite_which_drops_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mlperf_log_trace.json").write_text("{}")  # from an earlier run with --trace
    (out / "notes.txt").write_text("mine")
    quick = ["--scenario", "offline", "--sut", "sut.null", "--set", "min_duration_ms=100",
             "--set", "offline_expected_qps=10000", "--set", "warmup_ms=0", "--output", "out"]
    refused = run(*quick, cwd=tmp_path)
    assert refused.returncode == 2 and "not empty" in refused.stderr and "--overwrite" in refused.stderr
    repeated = run(*quick, "--runs", "2", cwd=tmp_path)
    assert repeated.returncode == 2 and "not empty" in repeated.stderr and not (out / "run-1").exists()
    done = run(*quick, "--overwrite", cwd=tmp_path)
    assert done.returncode in (0, 3), done.stderr
    assert not (out / "mlperf_log_trace.json").exists() and (out / "notes.txt").read_text() == "mine"
    assert "notes.txt" in done.stderr
    assert completed_in_trace(out) == result_of(out)["metrics"]["samples_completed"]


def test_an_output_under_a_file_is_refused_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    done = run("--scenario", "offline", "--sut", "sut.null", "--output", "afile/out", cwd=tmp_path)
    assert done.returncode == 2 and "afile/out" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs, where the system lets this process mount one (root with CAP_SYS_ADMIN)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], capture_output=True,
                             text=True, check=False) if os.geteuid() == 0 else None
    if mounted is None or mounted.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root with CAP_SYS_ADMIN)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_disk_that_fills_during_the_run_loses_nothing_and_recover_writes_it_later(
    tmp_path: Path, small_disk: Path
) -> None:
    junk = small_disk / "junk"
    out = small_disk / "out"
    done = run("--scenario", "single_stream", "--set", "min_duration_ms=300", *NO_PILOT, "--sut",
               f"{FAULTY}:DiskFiller", "--sut-arg", f"fill_path={junk}", "--output", str(out), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "SingleStream run of SUT" in done.stdout  # the console summary, whatever the disk says
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
    assert sorted(path.name for path in out.iterdir()) == ["live"]  # no truncated file, no leftover
    junk.unlink()  # the user makes room
    recovered = subprocess.run([sys.executable, "-m", "loadgen.recover", str(out)], cwd=tmp_path,
                               env=environment(), capture_output=True, text=True, timeout=60)
    assert recovered.returncode == 3, recovered.stderr
    assert result_of(out)["metrics"]["samples_completed"] == completed_in_trace(out) > 0
