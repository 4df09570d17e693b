"""bench/report.py cannot rot: a tiny run prints its table. No assertion depends on how fast anything ran."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_report_benchmark_runs_at_a_tiny_size() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.report", "--samples", "20000", "--reps", "1"], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 3), done.stderr[-3000:]  # 3: a target missed on a busy machine
    assert "python -m loadgen.report on 0.02 M Offline samples: wall time" in done.stdout
    assert "peak RSS of the process" in done.stdout and "memory allocated on top of the trace" in done.stdout
    assert "the same folder with a format 1 trace.npz" in done.stdout
