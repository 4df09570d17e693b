"""The side-by-side benchmark (bench/) cannot rot: a smoke run at tiny sizes, and its parsing
and verdicts on made-up data. No assertion here depends on how fast anything ran."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is run from a checkout, not installed
    sys.path.insert(0, str(REPO))

from bench import child  # noqa: E402
from bench.figures import LOADGEN, OURS, OURS_MLPERF, aggregate, build_figures, markdown_table  # noqa: E402
from bench.run import GROUPS, QUICK, Sizes, plan  # noqa: E402

HAVE_LOADGEN = importlib.util.find_spec("mlperf_loadgen") is not None


def _require_loadgen() -> None:
    if not HAVE_LOADGEN:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install the mlperf extra (mlcommons-loadgen) for the benchmark smoke test")
        pytest.skip("mlperf_loadgen is not installed: pip install '.[mlperf]'")


def test_quick_run_writes_table_and_json(tmp_path: Path) -> None:
    _require_loadgen()
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--only", "offline,startup", "--no-probe",
         "--out", str(tmp_path)],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    markdown = list(tmp_path.glob("bench-*.md"))
    raw = list(tmp_path.glob("bench-*.json"))
    assert len(markdown) == 1 and len(raw) == 1
    table = markdown[0].read_text()
    assert "| figure | ours (median [min, max]) | LoadGen (median [min, max]) | ratio | target | met/MISSED |" in table
    for label in (
        "Offline 10k, null SUT: samples/s (batch API)",
        "Offline 10k, null SUT: peak RSS per sample, B (drop-in API)",
        "Schedule generation per query, us",
        "Startup cost per generated query, us",
    ):
        assert label in table and label in done.stdout
    document = json.loads(raw[0].read_text())
    assert {run["engine"] for run in document["runs"]} == {OURS, OURS_MLPERF, LOADGEN}
    assert all("result" in run for run in document["runs"]), [r.get("error") for r in document["runs"]]
    keys = {figure["key"] for figure in document["figures"]}
    assert {"offline_10000_batch_rate", "offline_10000_dropin_rss", "schedule_per_query"} <= keys
    for figure in document["figures"]:
        assert figure["ours"]["median"] is not None, figure["key"]


def test_unknown_group_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--only", "nonsense", "--out", str(tmp_path)],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "unknown group" in done.stderr


def test_every_figure_belongs_to_a_planned_measurement() -> None:
    for sizes in (Sizes(), QUICK):
        planned = {item["id"] for item in plan(sizes, GROUPS)}
        for figure in build_figures(sizes):
            assert figure.measurement in planned, figure.key


def test_plan_alternates_ours_the_drop_in_and_loadgen() -> None:
    order = [OURS, OURS_MLPERF, LOADGEN]
    for item in plan(QUICK, GROUPS):
        engines = item["engines"]
        assert engines == sorted(engines, key=order.index), item["id"]  # always ours, drop-in, LoadGen
    engines = {item["id"]: item["engines"] for item in plan(Sizes(), GROUPS)}
    for measurement in ("stream-single", "stream-multi", "server-10000", "server-100000", "fixed-server",
                        "offline-1000000"):
        assert engines[measurement] == order, measurement
    assert {"trace-save", "imports", "scaling-100000", "scaling-1000000", "scaling-10000000"} <= set(engines)


def test_loadgen_trace_is_read_line_by_line(tmp_path: Path) -> None:
    trace = tmp_path / "mlperf_log_trace.json"
    trace.write_text(
        '{"traceEvents":[\n'
        '{"name":"GenerateQueries","ph":"X","pid":1,"tid":1,"ts":10.0,"dur":2500.5,"args":{}},\n'
        '{"name":"Sample","cat":"default","ph":"b","pid":1,"id":1,"ts":2000.250,"args":{"sample_seq":1,'
        '"query_seq":1,"sample_idx":3,"issue_start_ns":700,"complete_ns":900}},\n'
        '{"name":"Sample","cat":"default","ph":"e", "pid":1,"id":1,"ts":2000.900},\n'
        '{"name":"Sample","cat":"default","ph":"b","pid":1,"id":0,"ts":1000.125,"args":{"sample_seq":0,'
        '"query_seq":0,"sample_idx":5,"issue_start_ns":185,"complete_ns":12767}},\n'
        '{"name":"LogDetail","ph":"X","pid":1,"tid":2,"ts":5.0,"dur":0.5,"args":{"key":""not json""}},\n'
        '{"name":"LastTrace"}\n],\n"displayTimeUnit":"ns"}\n'
    )
    scheduled, delay = child.loadgen_trace_queries(trace)
    assert scheduled.tolist() == [1_000_125, 2_000_250]
    assert delay.tolist() == [185, 700]
    assert child.loadgen_generate_queries_s(trace) == pytest.approx(2500.5e-6)
    valid, error = child.chrome_json_check(trace)
    assert not valid and error


def test_percentile_and_ks_definitions() -> None:
    values = np.arange(100, dtype=np.int64)
    assert child.loadgen_percentile(values, 0.99) == 99
    assert child.loadgen_percentile(values, 0.50) == 50
    gaps = np.random.default_rng(1).exponential(scale=1e5, size=20_000)  # ns, mean 100 us = 10 k/s
    assert child.ks_to_exponential(gaps, 10_000.0) < 0.02
    assert child.ks_to_exponential(np.full(1000, 1e5), 10_000.0) > 0.3


def _run(measurement: str, engine: str, result: dict) -> dict:
    return {"measurement": measurement, "engine": engine, "rep": 0, "result": result}


def test_aggregate_ratios_baselines_and_verdicts() -> None:
    figures = [f for f in build_figures(QUICK) if f.measurement in ("idle", "offline-10000", "trace", "server-10000")]
    runs = [
        _run("idle", OURS, {"rss_bytes": 1000}),
        _run("idle", OURS_MLPERF, {"rss_bytes": 1000}),
        _run("idle", LOADGEN, {"rss_bytes": 500}),
        _run("offline-10000", OURS, {"samples": 10_000, "samples_per_second": 3e6, "wall_s": 0.1,
                                     "rss_bytes": 1000 + 10_000 * 10}),
        _run("offline-10000", OURS_MLPERF, {"samples": 10_000, "samples_per_second": 1e6, "wall_s": 0.3,
                                            "rss_bytes": 1000 + 10_000 * 120}),
        _run("offline-10000", LOADGEN, {"samples": 10_000, "samples_per_second": 1e6, "wall_s": 0.2,
                                        "rss_bytes": 500 + 10_000 * 200}),
        _run("server-10000", OURS, {"issue_delay_ns": {"p99": 1000.0}, "chrome_json_valid": True,
                                    "trace_npz_bytes_per_sample": 20.0, "chrome_trace_bytes_per_sample": 150.0}),
        _run("server-10000", LOADGEN, {"issue_delay_ns": {"p99": 4000.0}, "chrome_json_valid": False,
                                       "chrome_trace_bytes_per_sample": 700.0}),
    ]
    results = {r.figure.key: r for r in aggregate(figures, runs)}
    rate = results["offline_10000_batch_rate"]
    assert rate.ratio == pytest.approx(3.0) and rate.status == "met"
    rss = results["offline_10000_batch_rss"]
    assert rss.ours == [10.0] and rss.theirs == [200.0] and rss.status == "met"
    dropin = results["offline_10000_dropin_rss"]  # the largest size carries issue 15's target, <= 0.5
    assert dropin.ratio == pytest.approx(0.6) and dropin.status == "MISSED"  # 120 / 200 B
    assert results["server_10000_delay_p99"].status == "met"
    assert results["trace_disk_bytes"].ours == [20.0] and results["trace_disk_bytes"].theirs == [700.0]
    assert results["trace_chrome_valid"].status == "met"
    table = markdown_table(list(results.values()))
    assert "| Offline 10k, null SUT: samples/s (batch API) | 3M | 1M | 3 | ratio >= 2 | met |" in table
