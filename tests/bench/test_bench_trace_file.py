"""bench/trace_file.py cannot rot: a tiny run prints both formats' rows. No assertion depends on speed."""

from __future__ import annotations

import pytest

from bench.trace_file import main, server_trace


def test_the_trace_file_benchmark_runs_at_a_tiny_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--samples", "2000", "--reps", "1"]) in (0, 3)  # 3: a target missed on a busy machine
    out = capsys.readouterr().out
    for row in ("| save, format 1 |", "| save, format 2 |", "| load the report's 4 columns, format 2 |",
                "| bytes a sample, format 2 |"):
        assert row in out
    assert "faster in CPU time" in out


def test_the_synthetic_server_trace_is_shaped_like_a_run() -> None:
    trace = server_trace(1000)
    assert trace.n_queries == len(trace) == 1000
    assert (trace.issued_ns >= trace.scheduled_ns).all() and (trace.completed_ns > trace.issued_ns).all()
