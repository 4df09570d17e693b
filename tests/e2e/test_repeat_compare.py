"""`--runs N` and `python -m loadgen.compare --sut-a/--sut-b` as a user runs them, in subprocesses.

Kept short (300 ms runs): they check the plumbing and one known answer, the fixed-time SUTs'
ratio. FixedTimeSUT sleeps, so a sample really takes service + the OS's wake-up overshoot o
(about 50-100 us): the true ratio of 1200 us to 1000 us is (1200 + o) / (1000 + o), between
about 1.17 and 1.2, and the interval must lie inside [1.1, 1.25]. That holds on a quiet
machine; when the check misses and the comparison's own noise warnings say the machine was
busy (load above the core count) or its per-run p90 varied too much for 4 runs a side to
pin the ratio inside those bounds (CV above 2.5%), the test skips with that reason instead
of failing; on a quiet machine it must pass.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DECIDABLE_CV = 0.025
"""With 4 runs a side, the ratio's interval is about +/- 1.7 x CV wide; to fit inside [1.1, 1.25] around a
ratio of 1.18 to 1.21 (the p90's overshoot is not quite the same on both sides) it needs a CV of about 2.5%."""
SHORT = ["--scenario", "single_stream", "--set", "min_duration_ms=300", "--set", "pilot_ms=20",
         "--set", "warmup_ms=0"]


def python_m(module: str, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_runs_3_writes_each_run_and_the_aggregate(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    done = python_m("loadgen.run", "--sut", "sut.fixed_time", "--sut-arg", "service_us=1000", "--runs", "3",
                    *SHORT, "--output", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    aggregate = json.loads((out / "aggregate.json").read_text())
    assert [run["name"] for run in aggregate["runs"]] == ["run-1", "run-2", "run-3"]
    assert all(run["status"] == "VALID" and run["exit_code"] == 0 for run in aggregate["runs"])
    assert aggregate["n_included"] == 3 and aggregate["scenario"] == "SingleStream"
    p90 = aggregate["figures"]["p90 latency"]
    assert p90["n"] == 3 and len(p90["values"]) == 3 and p90["t_interval"] is not None
    assert p90["interval_method"] == "Student t" and p90["interval_level"] == 0.95
    busy = [w for w in aggregate["warnings"] if "high load average" in w]
    if not 1.0e6 < p90["median"] < 1.5e6 and busy:  # a 1 ms sleep on a machine too busy to wake it in time
        pytest.skip(f"machine too busy for the 1 ms known answer (p90 median {p90['median']:.0f} ns): {busy[0]}")
    assert 1.0e6 < p90["median"] < 1.5e6
    assert aggregate["command"][-2:] == ["--set", "warmup_ms=0"] and "--runs" not in aggregate["command"]
    intervals = aggregate["percentile_intervals"]["run-1"]
    assert intervals["p99"]["needs_queries"] == 50_000 and "low_ns" not in intervals["p99"]  # ~180 queries
    assert intervals["p50"]["needs_queries"] == 1000 and intervals["p50"]["method"].startswith("batch means")
    assert all((out / f"run-{k}" / "result.json").is_file() for k in (1, 2, 3))
    assert "headline p90 latency  3" in done.stdout and "needs >= 50,000 queries" in done.stdout
    assert "95% interval of the mean (Student t)" in done.stdout
    assert done.stderr.count("run ") >= 3  # one progress line a run


def test_ctrl_c_lets_the_current_run_finish_and_still_writes_the_aggregate(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen(
        [sys.executable, "-m", "loadgen.run", "--sut", "sut.fixed_time", "--runs", "10", *SHORT, "--output", str(out)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / "run-1" / "result.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)  # run-2 is under way (or about to start): it is finished, then no more
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    aggregate = json.loads((out / "aggregate.json").read_text())
    assert aggregate["interrupted"] is True and 1 <= aggregate["runs_finished"] <= 3
    assert aggregate["n_included"] == aggregate["runs_finished"]
    assert aggregate["warnings"][0].startswith(f"interrupted after {aggregate['runs_finished']} of 10 runs")
    assert "Traceback" not in stderr


def test_compare_runs_both_suts_interleaved_pairs_them_and_finds_b_slower(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    done = python_m("loadgen.compare", "--sut-a", "sut.fixed_time", "--sut-arg-a", "service_us=1000",
                    "--sut-b", "sut.fixed_time", "--sut-arg-b", "service_us=1200", "--runs", "4", *SHORT,
                    "--output", str(out), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["order"] == "ABBAABBA" and report["paired"] is True
    assert report["primary"] == "headline p90 latency"
    p90 = next(row for row in report["comparisons"] if row["metric"] == "headline p90 latency")
    assert p90["method"] == "paired t on log ratios of adjacent A/B runs" and p90["level"] == 0.95
    assert p90["n_a"] == p90["n_b"] == 4 and p90["role"] == "primary"
    slower = None if p90["ci_low"] is None else (1 / p90["ci_high"], 1 / p90["ci_low"])  # ratio is A/B for a time
    known_answer = p90["verdict"] == "slower" and slower is not None and 1.1 <= slower[0] <= slower[1] <= 1.25
    busy = [w for w in report["noise"] if "high load average" in w]
    if p90["cv"] > DECIDABLE_CV:
        busy.append(f"the runs' p90 varied by {p90['cv']:.1%} (CV), over the {DECIDABLE_CV:.1%} this check can decide")
    if not known_answer and busy:
        # The comparison itself shows the machine was too busy for this timing answer: decline to judge.
        pytest.skip(f"machine too busy for the known-answer check ({p90['verdict']}, {slower}): {busy[0]}")
    assert p90["verdict"] == "slower", p90
    assert slower is not None and 1.1 <= slower[0] <= slower[1] <= 1.25, slower
    assert json.loads((out / "comparison.json").read_text())["comparisons"] == report["comparisons"]
    for side in ("a", "b"):
        assert json.loads((out / side / "aggregate.json").read_text())["n_included"] == 4


def test_compare_refuses_bad_settings_before_running_anything(tmp_path: Path) -> None:
    done = python_m("loadgen.compare", "--sut-a", "sut.null", "--sut-b", "sut.null", "--set", "no_such_key=1",
                    "--output", str(tmp_path / "x"), cwd=tmp_path)
    assert done.returncode == 2 and "no_such_key" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x").exists()
