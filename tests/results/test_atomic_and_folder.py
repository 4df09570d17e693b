"""The results folder's promises: whole files or none, checked before the run, and --overwrite."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from loadgen.engine import trace as trace_module
from loadgen.engine.trace import NOT_YET, Trace
from loadgen.errors import SettingsError
from loadgen.results.atomic import PARTIAL_MARK, atomic_binary, write_text_atomic
from loadgen.results.folder import (
    discard_unused,
    estimated_bytes,
    missing_top,
    prepare_output,
)
from loadgen.settings.model import Scenario, TestSettings


def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    write_text_atomic(target, "old\n")
    with pytest.raises(KeyboardInterrupt), atomic_binary(target) as handle:
        handle.write(b"new, half")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n"
    assert [path.name for path in tmp_path.iterdir()] == ["result.json"]


def test_a_write_that_fails_for_room_raises_and_leaves_no_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        write_text_atomic(tmp_path / "trace.npz", "x")
    assert not list(tmp_path.iterdir())


def test_a_trace_saved_through_an_atomic_handle_loads_back(tmp_path: Path) -> None:
    trace = Trace.allocate(np.arange(4), np.arange(3))
    trace.completed_ns[:] = [5, 6, 7]
    with atomic_binary(tmp_path / "trace.npz") as handle:
        trace.save(handle)
    assert Trace.load(tmp_path / "trace.npz").completed_ns.tolist() == [5, 6, 7]


def test_prepare_refuses_a_file_a_path_under_a_file_and_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SettingsError, match="is a file"):
        prepare_output(tmp_path / "afile", False, 0)
    with pytest.raises(SettingsError, match="cannot create"):
        prepare_output(tmp_path / "afile" / "out", False, 0)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "result.json").write_text("{}")
    with pytest.raises(SettingsError, match=r"not empty .*result.json.*--overwrite"):
        prepare_output(tmp_path / "used", False, 0)


def test_prepare_refuses_a_folder_without_room_naming_both_sizes(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"MiB free, but the run needs about .* MiB"):
        prepare_output(tmp_path / "out", False, 1 << 62)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_prepare_refuses_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(SettingsError, match="not writable"):
            prepare_output(folder, False, 0)
    finally:
        folder.chmod(0o755)


def test_a_folder_that_cannot_be_created_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"/proc/.*cannot create"):
        prepare_output(Path("/proc/no-such-run/out"), False, 0)


def test_overwrite_removes_an_earlier_runs_files_and_keeps_others(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "run-1").mkdir(parents=True)
    for name in ("result.json", "trace.npz", "mlperf_log_trace.json", f".trace.npz{PARTIAL_MARK}99", "notes.md"):
        (out / name).write_text("{}")
    notes = prepare_output(out, True, 0)
    assert sorted(path.name for path in out.iterdir()) == ["notes.md"]
    assert notes and "notes.md" in notes[0]


def test_folders_made_for_a_refused_run_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "results" / "x"
    top = missing_top(out)
    prepare_output(out, False, 0)
    discard_unused(out, top)
    assert not (tmp_path / "results").exists()


def test_the_estimate_counts_trace_columns_twice_when_the_schedule_is_known() -> None:
    settings = TestSettings(scenario=Scenario.Offline, offline_expected_qps=1_000_000.0, min_duration_ms=10_000)
    samples = 11_000_000
    assert estimated_bytes(settings) >= 2 * 16 * samples
    assert estimated_bytes(TestSettings(scenario=Scenario.Server)) < 64 * 2**20  # pilot-chosen: min_query_count


def test_a_trace_that_does_not_fit_is_refused_before_timing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(trace_module.os, "posix_fallocate", full)
    with pytest.raises(SettingsError, match=r"cannot hold the trace's .* MiB of columns: No space"):
        Trace.allocate(np.arange(1001), np.zeros(1000), folder=tmp_path / "live")


def test_columns_in_a_folder_survive_their_process_being_killed(tmp_path: Path) -> None:
    live = tmp_path / "live"
    pid = os.fork()
    if pid == 0:  # the child records three completions and dies without any clean-up
        trace = Trace.allocate(np.arange(11), np.arange(10), folder=live)
        trace.issued_ns[:3] = [1, 2, 3]
        trace.completed_ns[:3] = [10, 20, 30]
        os.kill(os.getpid(), 9)
    os.waitpid(pid, 0)
    recorded = Trace.from_folder(live).recorded_part()
    assert recorded.completed_ns.tolist() == [10, 20, 30]
    assert recorded.issued_ns.tolist() == [1, 2, 3]


def test_folder_columns_are_plain_arrays_for_the_hot_path(tmp_path: Path) -> None:
    trace = Trace.allocate(np.arange(5), np.arange(4), folder=tmp_path)
    assert type(trace.completed_ns) is np.ndarray and trace.completed_ns.flags.writeable
    assert (trace.completed_ns == NOT_YET).all() and trace.sample_index.tolist() == [0, 1, 2, 3]


def test_the_issued_part_is_frozen_against_late_completions() -> None:
    trace = Trace.allocate(np.arange(4), np.arange(3))
    trace.issued_ns[:2] = [0, 1]
    part = trace.issued_part()
    trace.completed_ns[:2] = [7, 8]  # a SUT thread completes after the run ended
    assert part.completed_ns.tolist() == [NOT_YET, NOT_YET]


def test_a_completion_before_its_issue_was_stamped_is_kept_and_dated_conservatively() -> None:
    trace = Trace.allocate(np.arange(4), np.arange(3))
    trace.issued_ns[:2] = trace.scheduled_ns[:2] = [0, 10]
    trace.completed_ns[:3] = [5, 15, 40]  # query 2 completed inside issue_query; its stamp never came
    part = trace.recorded_part()
    assert part.n_queries == 3 and part.issued_ns.tolist() == [0, 10, 15] and part.scheduled_ns[2] == 15
