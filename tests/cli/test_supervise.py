"""The supervisor's escalation rules, on a real child that ignores SIGINT and a fake clock."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadgen.cli.supervise import Supervisor, exit_cause
from loadgen.results.live import Phase, Request, Status, create_status

STUBBORN = ("import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print('ready', flush=True); "
            "time.sleep(60)")
S = 1_000_000_000


@pytest.fixture
def stubborn() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True, process_group=0)
    assert process.stdout is not None and process.stdout.readline() == "ready\n"  # its SIGINT is ignored now
    yield process
    process.kill()
    process.wait()


Child = subprocess.Popen[str]


def _supervisor(process: Child, folder: Path, unresponsive_s: float = 100.0) -> tuple[Supervisor, Status]:
    """Heartbeats are real times; a test that moves its fake clock far ahead sets a long timeout."""
    status = create_status(folder)
    return Supervisor(process.pid, status, unresponsive_s=unresponsive_s, grace_s=2.0), status


def test_no_heartbeat_means_sigint_then_sigkill_after_the_grace(tmp_path: Path, stubborn: Child) -> None:
    supervisor, status = _supervisor(stubborn, tmp_path, unresponsive_s=1.0)
    status.beat()
    beat = status.heartbeat_ns
    supervisor.check(beat + S // 2)
    assert status.request is Request.NONE and stubborn.poll() is None
    supervisor.check(beat + 3 * S // 2)  # silent past sample_timeout: asked to stop
    assert status.request is Request.UNRESPONSIVE and supervisor.kill_reason is None
    supervisor.check(beat + 3 * S)  # not yet past the grace
    assert stubborn.poll() is None
    supervisor.check(beat + 4 * S)
    assert stubborn.wait(10) == -signal.SIGKILL
    assert supervisor.kill_reason is not None and "stopped responding" in supervisor.kill_reason


def test_an_interrupt_the_run_does_not_leave_is_followed_by_sigkill(tmp_path: Path, stubborn: Child) -> None:
    supervisor, status = _supervisor(stubborn, tmp_path)
    status.phase = Phase.TIMED
    status.note_signal(signal.SIGINT)  # what the run's handler does when the issue watch fires
    status.beat()
    supervisor.check(status.signal_ns + S)
    assert stubborn.poll() is None
    status.beat()
    supervisor.check(status.signal_ns + 3 * S)
    assert stubborn.wait(10) == -signal.SIGKILL
    assert "swallows KeyboardInterrupt" in str(supervisor.kill_reason)


def test_an_interrupt_the_run_answers_by_moving_on_is_left_alone(tmp_path: Path, stubborn: Child) -> None:
    supervisor, status = _supervisor(stubborn, tmp_path)
    status.phase = Phase.TIMED
    status.note_signal(signal.SIGINT)
    status.phase = Phase.AFTER_TIMING  # the timed run ended: the figures are being computed
    status.beat()
    supervisor.check(status.signal_ns + 10 * S)
    assert stubborn.poll() is None and supervisor.kill_reason is None


def test_a_second_ctrl_c_kills_at_once(tmp_path: Path, stubborn: Child) -> None:
    supervisor, status = _supervisor(stubborn, tmp_path)
    supervisor.on_signal(signal.SIGINT, None)
    assert status.request is Request.USER_INTERRUPT and stubborn.poll() is None
    supervisor.on_signal(signal.SIGINT, None)
    assert stubborn.wait(10) == -signal.SIGKILL
    assert "second Ctrl-C" in str(supervisor.kill_reason) and supervisor.exit_code == 130


@pytest.mark.parametrize(("code", "words"), [
    (-signal.SIGKILL, "killed by SIGKILL"),
    (-signal.SIGSEGV, "crashed with SIGSEGV"),
    (-signal.SIGUSR1, "killed by SIGUSR1"),
    (3, "exited with code 3 before writing its results"),
])
def test_exit_causes_are_told_in_words(code: int, words: str) -> None:
    assert words in exit_cause(code)
