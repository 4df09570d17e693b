"""A run's live recording, `OUTPUT/live/`: what a supervisor or `loadgen recover` needs when the run's process dies.

    live/state.json   what the run is (settings requested and effective, SUT, fingerprint),
                      written atomically before the pilot and again when timing starts
    live/status.bin   a few int64 slots shared by the run and its supervisor (mapped memory):
                      the run's heartbeat and phase, the last signal it received, and what
                      the supervisor asked of it
    live/*.npy        the timed run's trace columns (loadgen.engine.trace), written in place

A run that finishes writes its results and then removes `live/`; a folder that still has
it holds a run that died (or is still running: see `heartbeat_age_s`).
"""

from __future__ import annotations

import enum
import json
import mmap
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.results.atomic import write_text_atomic

LIVE_FOLDER = "live"
STATE_FILE = "state.json"
STATUS_FILE = "status.bin"
REFUSAL_FILE = "refused.txt"
STATE_FORMAT = 1


class Phase(enum.IntEnum):
    """Where the run is; a supervisor allows an interrupted run `grace` to leave its phase."""

    STARTING = 0
    """Importing and building the SUT."""
    RUNNING = 1
    """Loading samples, warm-up, pilot, accuracy pass: SUT code runs."""
    TIMED = 2
    """The timed run."""
    AFTER_TIMING = 3
    """Figures: no SUT call is waited on; an interrupt now is kept for the end, not raised."""
    WRITING = 4
    """Writing the results folder."""


class Request(enum.IntEnum):
    """Why the supervisor signalled the run (so the run can give the right reason)."""

    NONE = 0
    USER_INTERRUPT = 1
    TERMINATE = 2
    UNRESPONSIVE = 3


_SLOTS = ("heartbeat_ns", "phase", "signal", "signal_ns", "signal_phase", "request", "pid")


class Status:
    """The shared slots of live/status.bin; each is one aligned int64, read and written whole."""

    def __init__(self, path: Path, create: bool = False) -> None:
        size = 8 * len(_SLOTS)
        with path.open("w+b" if create else "r+b") as handle:
            if create:
                handle.truncate(size)
            self._map = mmap.mmap(handle.fileno(), size)
        self._slots = np.ndarray((len(_SLOTS),), dtype=np.int64, buffer=self._map)

    def _get(self, name: str) -> int:
        return int(self._slots[_SLOTS.index(name)])

    def _set(self, name: str, value: int) -> None:
        self._slots[_SLOTS.index(name)] = value

    @property
    def heartbeat_ns(self) -> int:
        """time.monotonic_ns() of the run's last heartbeat (0 before the first); the clock is system-wide."""
        return self._get("heartbeat_ns")

    def beat(self) -> None:
        self._set("heartbeat_ns", time.monotonic_ns())

    @property
    def phase(self) -> Phase:
        return Phase(self._get("phase"))

    @phase.setter
    def phase(self, phase: Phase) -> None:
        self._set("phase", int(phase))

    @property
    def request(self) -> Request:
        return Request(self._get("request"))

    @request.setter
    def request(self, request: Request) -> None:
        self._set("request", int(request))

    @property
    def pid(self) -> int:
        return self._get("pid")

    @pid.setter
    def pid(self, pid: int) -> None:
        self._set("pid", pid)

    def note_signal(self, signum: int) -> None:
        """The run received a signal now, in its current phase."""
        self._set("signal_phase", int(self.phase))
        self._set("signal_ns", time.monotonic_ns())
        self._set("signal", signum)

    @property
    def signal(self) -> int:
        """The last signal the run received (0: none)."""
        return self._get("signal")

    @property
    def signal_ns(self) -> int:
        return self._get("signal_ns")

    @property
    def signal_phase(self) -> Phase:
        return Phase(self._get("signal_phase"))


def live_folder(output: Path) -> Path:
    return output / LIVE_FOLDER


def create_status(output: Path) -> Status:
    """A fresh live/ folder with zeroed status slots (the supervisor makes it before starting the run)."""
    folder = live_folder(output)
    folder.mkdir(parents=True, exist_ok=True)
    return Status(folder / STATUS_FILE, create=True)


def open_status(output: Path) -> Status | None:
    """The status slots of a live recording, or None where there are none."""
    path = live_folder(output) / STATUS_FILE
    try:
        return Status(path) if path.stat().st_size >= 8 * len(_SLOTS) else None
    except (OSError, ValueError):
        return None


LIVE_HEARTBEAT_S = 2.0
"""A live recording whose heartbeat is younger than this, from a process still alive, belongs to a running run."""


def heartbeat_age_s(output: Path) -> float | None:
    """Seconds since the run's last heartbeat, None where it never beat (a live run beats every 50 ms)."""
    status = open_status(output)
    if status is None or status.heartbeat_ns == 0:
        return None
    return (time.monotonic_ns() - status.heartbeat_ns) / 1e9


def recording_age_s(output: Path) -> float | None:
    """Seconds since the heartbeat of a run that is recording into `output` now, else None: the
    heartbeat is fresh and the process it names is alive (a run killed a moment ago is not live)."""
    age = heartbeat_age_s(output)
    status = open_status(output)
    if age is None or age >= LIVE_HEARTBEAT_S or status is None:
        return None
    return age if _alive(status.pid) else None


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs: it exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def write_state(output: Path, state: dict[str, Any]) -> None:
    """live/state.json, replaced whole."""
    document = {"format": STATE_FORMAT, **state}
    write_text_atomic(live_folder(output) / STATE_FILE, json.dumps(document, indent=2) + "\n")


def update_state(output: Path, **changes: Any) -> None:
    """Add or replace keys of live/state.json."""
    write_state(output, {**read_state(output), **changes})


def read_state(output: Path) -> dict[str, Any]:
    """live/state.json; ValueError when it is missing, malformed or of another format."""
    path = live_folder(output) / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the run's state: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise ValueError(f"{path}: not a live state of format {STATE_FORMAT}")
    return state


def leave_refusal(output: Path, text: str) -> None:
    """The run refused its input (exit 2): why, for the supervisor to print in its own process
    (where a caller may have replaced sys.stderr, which the forked run cannot reach)."""
    live_folder(output).mkdir(parents=True, exist_ok=True)
    write_text_atomic(live_folder(output) / REFUSAL_FILE, text)


def take_refusal(output: Path) -> str | None:
    """What `leave_refusal` left, if anything."""
    try:
        return (live_folder(output) / REFUSAL_FILE).read_text(encoding="utf-8")
    except OSError:
        return None


def has_live_recording(output: Path) -> bool:
    return (live_folder(output) / STATE_FILE).is_file()


def remove_live(output: Path) -> None:
    """The results are written: the live recording is no longer needed."""
    shutil.rmtree(live_folder(output), ignore_errors=True)
