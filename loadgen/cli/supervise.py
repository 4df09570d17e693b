"""The timed run goes on in a child process; this parent (the supervisor) sees it end, however it ends.

Why a parent: a SUT can take the whole process with it (a segfault, `kill -9`, the OOM
killer) or wedge it so no thread of it runs (a C call holding the GIL), and then nothing
inside can write a result. The child keeps its trace in OUTPUT/live/ as it goes
(loadgen.results.live); when it dies without writing its results, the supervisor
rebuilds them from there (loadgen.results.recovery): INVALID, naming the cause, counting
every completion recorded up to the fault.

The supervisor ends a run within a bounded time, escalating from SIGINT to SIGKILL:
- Ctrl-C: SIGINT to the run, which stops and writes what it recorded (exit 130); a second
  Ctrl-C kills it at once and the supervisor writes the result. SIGTERM is passed on the
  same way (exit 143).
- No heartbeat (the run beats every 50 ms from a thread) for sample_timeout_ms: SIGINT,
  then SIGKILL if it still does not respond after the grace period.
- Interrupted (by the issue watch, the user or the supervisor) but still in the same phase
  after the grace period, as when a SUT swallows KeyboardInterrupt: SIGKILL.
The child is forked once the command line is checked (so it pays no second start-up and
the supervisor never runs SUT code); it runs in its own process group, so a terminal's
Ctrl-C reaches the supervisor only, and it gets SIGTERM if the supervisor itself dies
(Linux: PR_SET_PDEATHSIG).

This lives in loadgen.cli because it runs a command and chooses its exit code, and it
writes results folders (loadgen.results), which sit above the engine it supervises.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import FrameType

from loadgen.benchmark.runner import Benchmark
from loadgen.cli.common import ExitCode, print_error
from loadgen.engine.loops import Engine
from loadgen.errors import Interrupted, SampleTimeout
from loadgen.metrics.result import RunResult
from loadgen.results.folder import RESULT_FILE
from loadgen.results.live import (
    Phase,
    Request,
    Status,
    create_status,
    has_live_recording,
    remove_live,
    take_refusal,
    update_state,
)
from loadgen.results.recovery import recover
from reports.summary import render_console

GRACE_S = 5.0
"""Default time a run has to stop after SIGINT before SIGKILL (`--grace-s`)."""
POLL_S = 0.05
HEARTBEAT_S = 0.05
_PR_SET_PDEATHSIG = 1

_SIGNAL_CAUSES = {
    signal.SIGKILL: "was killed by SIGKILL (the SUT, `kill -9`, or the kernel's out-of-memory killer: see `dmesg`)",
    signal.SIGSEGV: "crashed with SIGSEGV (a segmentation fault in the SUT or a native library it called)",
    signal.SIGBUS: "crashed with SIGBUS (a bad memory access, or a mapped file that lost its disk space)",
    signal.SIGABRT: "was aborted (SIGABRT: a native library or the interpreter gave up)",
    signal.SIGFPE: "crashed with SIGFPE (an arithmetic fault in native code)",
}


def exit_cause(returncode: int) -> str:
    """Why the run's process ended, in words, from its exit status."""
    if returncode < 0:
        number = -returncode
        cause = _SIGNAL_CAUSES.get(signal.Signals(number)) if number in signal.valid_signals() else None
        name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
        return f"the run's process {cause or f'was killed by {name}'}"
    return f"the run's process exited with code {returncode} before writing its results"


class Supervisor:
    """Watches one child run: its exit, its heartbeat, its answer to interrupts."""

    def __init__(self, pid: int, status: Status, unresponsive_s: float, grace_s: float) -> None:
        self.pid = pid
        self.status = status
        self.unresponsive_ns = int(unresponsive_s * 1e9)
        self.grace_ns = int(grace_s * 1e9)
        self.grace_s = grace_s
        self.kill_reason: str | None = None
        self.exit_code = ExitCode.ERROR
        self.user_interrupts = 0
        self._nudged_at = 0

    def _ask(self, request: Request, signum: int) -> None:
        """Tell the run why before signalling it, so its result gives the right reason."""
        if self.status.request in (Request.NONE, Request.UNRESPONSIVE):
            self.status.request = request
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def kill(self, reason: str) -> None:
        """SIGKILL the run's whole process group (SUT helpers too); the result names `reason`."""
        if self.kill_reason is None:
            self.kill_reason = reason
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """SIGINT/SIGTERM to the supervisor: pass it on; a second Ctrl-C kills the run at once."""
        if signum == signal.SIGTERM:
            self.exit_code = ExitCode.TERMINATED
            self._ask(Request.TERMINATE, signal.SIGTERM)
            return
        self.user_interrupts += 1
        if self.exit_code is not ExitCode.TERMINATED:
            self.exit_code = ExitCode.INTERRUPTED
        if self.user_interrupts == 1:
            print("\ninterrupted: stopping the run and writing what it recorded (Ctrl-C again to stop it at once)",
                  file=sys.stderr, flush=True)
            self._ask(Request.USER_INTERRUPT, signal.SIGINT)
        else:
            self.kill("interrupted by the user: a second Ctrl-C stopped the run at once")

    def check(self, now_ns: int) -> None:
        """One look at the run: escalate where it stopped responding or ignores an interrupt."""
        status = self.status
        beat = status.heartbeat_ns
        if beat and now_ns - beat <= self.unresponsive_ns:
            self._nudged_at = 0
        elif beat:
            seconds = (now_ns - beat) / 1e9
            if not self._nudged_at:
                self._nudged_at = now_ns
                self._ask(Request.UNRESPONSIVE, signal.SIGINT)
            elif now_ns - self._nudged_at > self.grace_ns:
                self.kill(f"the run stopped responding (no heartbeat for {seconds:.1f} s, more than sample_timeout_ms: "
                          f"the SUT held the GIL or froze the process) and did not stop within {self.grace_s:g} s "
                          "of SIGINT, so it was killed")
            return
        signalled = status.signal_ns
        stuck = status.signal_phase < Phase.AFTER_TIMING and status.phase == status.signal_phase
        if signalled and stuck and now_ns - signalled > self.grace_ns:
            self.kill(f"the run did not stop within {self.grace_s:g} s of being interrupted (the SUT kept "
                          "running: it swallows KeyboardInterrupt?), so it was killed")

    def wait(self) -> tuple[int, int]:
        """Until the run's process ends: its return code (-N: killed by signal N) and peak memory in bytes."""
        while True:
            pid, wait_status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(wait_status), usage.ru_maxrss * 1024  # ru_maxrss is in KiB
            self.check(time.monotonic_ns())
            time.sleep(POLL_S)


@contextlib.contextmanager
def _handlers(supervisor: Supervisor) -> Iterator[None]:
    previous = {signum: signal.signal(signum, supervisor.on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _fork(run: Callable[[Status], int], status: Status) -> int:
    """Start the run in a child process of its own group; the child leaves with run's exit code."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        with contextlib.suppress(OSError):  # the child does this too: whichever comes first
            os.setpgid(pid, pid)
        return pid
    code: int = ExitCode.ERROR
    try:
        os.setpgid(0, 0)
        code = run(status)
    except BaseException:  # the child must never return into the supervisor's code
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def supervise(run: Callable[[Status], int], output: Path, unresponsive_s: float, grace_s: float = GRACE_S) -> int:
    """Run `run` (the benchmark, writing to output) in a supervised child and see it end; the exit code."""
    status = create_status(output)
    supervisor = Supervisor(_fork(run, status), status, unresponsive_s, grace_s)
    with _handlers(supervisor):  # also while a result is rebuilt: a signal then only sets the exit code
        returncode, peak_bytes = supervisor.wait()
        return _conclude(supervisor, output, returncode, peak_bytes)


def _conclude(supervisor: Supervisor, output: Path, returncode: int, peak_bytes: int) -> int:
    """The exit code once the run's process has ended; its result rebuilt when it wrote none."""
    if (output / RESULT_FILE).is_file():  # written last, by this run (prepare_output cleared older ones)
        remove_live(output)
        return returncode if returncode >= 0 else int(supervisor.exit_code)
    if supervisor.kill_reason is None and returncode >= 0 and not has_live_recording(output):
        refusal = take_refusal(output)
        if refusal is not None:
            print_error(refusal)
        remove_live(output)  # the run refused to start (exit 2) or was interrupted before it did
        return returncode
    if supervisor.kill_reason is None and returncode >= 0 and supervisor.status.phase is Phase.WRITING:
        return returncode  # it ran, could not write, and said so; live/ is kept for `loadgen recover`
    if not has_live_recording(output):  # it died before recording anything
        remove_live(output)
        print_error(f"{exit_cause(returncode)}; it had not started recording, so there is nothing to write")
        return int(supervisor.exit_code)
    reason = supervisor.kill_reason or exit_cause(returncode)
    try:
        benchmark = recover(output, reason, {"rss_peak_bytes": peak_bytes})
    except (OSError, ValueError) as exc:
        print_error(f"{reason}; its results could not be written: {exc}")
        print_error(f"the live recording is kept in {output / 'live'}: `loadgen recover {output}` retries")
        return ExitCode.ERROR
    print(render_console(benchmark.result))
    print(f"results: {output} (rebuilt by the supervisor)")
    print_error(reason)
    return int(supervisor.exit_code)


class ChildRun:
    """The child's side: heartbeat, phases, and signals turned into KeyboardInterrupt only while SUT code may block."""

    def __init__(self, output: Path, status: Status, defer_after_timing: bool = True) -> None:
        """`defer_after_timing`: an interrupt after the timed run waits for the results to be written
        (False for find_peak, whose later trials run SUT code again)."""
        self.output = output
        self.status = status
        self.status.pid = os.getpid()
        self.defer_after_timing = defer_after_timing
        self.deferred = False
        self.status.beat()
        threading.Thread(target=self._beat, name="loadgen-heartbeat", daemon=True).start()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        _die_with_parent()

    def _beat(self) -> None:
        while True:
            self.status.beat()
            time.sleep(HEARTBEAT_S)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.status.note_signal(signum)
        if self.defer_after_timing and self.status.phase >= Phase.AFTER_TIMING:
            self.deferred = True  # figures and files are bounded work: finish them, then exit 130/143
            return
        raise KeyboardInterrupt

    def set_phase(self, phase: Phase) -> None:
        self.status.phase = phase

    @contextlib.contextmanager
    def timed(self, engine: Engine, inner: AbstractContextManager[None] | None = None) -> Iterator[None]:
        """The observer of the timed run: records the effective settings for recovery, marks the phase."""
        if self.deferred:
            raise KeyboardInterrupt
        update_state(self.output, settings_effective=engine.settings.settings.model_dump(mode="json"))
        self.set_phase(Phase.TIMED)
        try:
            with inner if inner is not None else contextlib.nullcontext():
                yield
        finally:
            self.set_phase(Phase.AFTER_TIMING if self.defer_after_timing else Phase.RUNNING)

    def retell(self, benchmark: Benchmark, sample_timeout_ms: int) -> Benchmark:
        """An interruption the supervisor caused, or SIGTERM, told as what it was, not as a Ctrl-C."""
        error = benchmark.error
        if not isinstance(error, Interrupted):
            return benchmark
        if self.status.request is Request.UNRESPONSIVE:
            new: Interrupted | SampleTimeout = SampleTimeout(
                f"the run stopped responding for more than {sample_timeout_ms} ms (sample_timeout_ms: no heartbeat, "
                "as when the SUT holds the GIL), so the supervisor interrupted it"
            )
        elif self.status.signal == signal.SIGTERM:
            new = Interrupted(str(error).replace("interrupted by the user", "terminated by SIGTERM"))
        else:
            return benchmark
        result = _replace_reason(benchmark.result, str(error), str(new))
        return Benchmark(result=result, trace=benchmark.trace, error=new, accuracy=benchmark.accuracy)

    def exit_code(self, code: int) -> int:
        """SIGTERM means 143 and a Ctrl-C 130, even when it came while the results were being written."""
        if self.status.signal == signal.SIGTERM:
            return ExitCode.TERMINATED
        if self.status.request is Request.USER_INTERRUPT or (self.deferred and self.status.signal == signal.SIGINT):
            return ExitCode.INTERRUPTED
        return code


def _replace_reason(result: RunResult, old: str, new: str) -> RunResult:
    return result.model_copy(
        update={
            "error": new,
            "stop_reason": result.stop_reason.replace(old, new),
            "invalid_reasons": [reason.replace(old, new) for reason in result.invalid_reasons],
        }
    )


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when the supervisor dies, so a run never outlives it unseen."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
