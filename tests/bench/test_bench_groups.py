"""The benchmark's drop-in, import, trace-save and scaling groups and its reasons for a miss, at tiny
sizes, in process where they can be. No assertion here depends on how fast anything ran."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is run from a checkout, not installed
    sys.path.insert(0, str(REPO))

from bench import child, reasons  # noqa: E402
from bench.figures import LOADGEN, OURS, OURS_MLPERF, aggregate, build_figures  # noqa: E402
from bench.run import QUICK, run_probes, transparent_hugepage  # noqa: E402

HAVE_LOADGEN = importlib.util.find_spec("mlperf_loadgen") is not None


def test_trace_save_times_the_save_inside_write_outputs_and_reads_back_exactly(tmp_path: Path) -> None:
    engine = child.NativeEngine()
    spec = {"samples": 3000, "qps": 10_000, "calibrate_ms": 50}
    found = child.task_trace_save(engine, spec, tmp_path)
    assert found["samples"] == 3000 and found["reads_back_exactly"] is True
    assert found["trace_save_calls"] == 1  # write_outputs called Trace.save once, and was timed doing it
    assert 0 < found["trace_save_s"] <= found["write_outputs_s"]
    assert found["trace_npz_bytes_per_sample"] > 0
    assert (tmp_path / "saved" / "trace.npz").is_file() and (tmp_path / "saved" / "result.json").is_file()


def test_server_like_trace_keeps_the_schedule_and_real_delays() -> None:
    from loadgen.engine.schedule import build_schedule, select_loaded_samples
    from loadgen.engine.trace import Trace

    engine = child.NativeEngine()
    settings = engine.settings(child._server_settings(10_000, 0, min_query_count=500, max_query_count=500))
    schedule = build_schedule(settings, select_loaded_samples(child.QSL_SIZE, child.QSL_SIZE, 0))
    calibration = Trace.allocate(schedule.query_offsets[:4] * 1, schedule.sample_index[:3])
    calibration.scheduled_ns[:] = [0, 100, 200]
    calibration.issued_ns[:] = [7, 105, 203]  # delays 7, 5, 3
    calibration.completed_ns[:] = [17, 125, 233]  # service 10, 20, 30
    trace = child.server_like_trace(calibration, schedule)
    assert len(trace) == schedule.n_samples and (trace.scheduled_ns == schedule.scheduled_ns).all()
    assert set((trace.issued_ns - trace.scheduled_ns).tolist()) <= {3, 5, 7}
    assert set((trace.completed_ns - trace.issued_ns).tolist()) <= {10, 20, 30}


def test_scaling_splits_the_post_run_time(tmp_path: Path) -> None:
    found = child.task_scaling(child.NativeEngine(), {"samples": 2000}, tmp_path)
    assert found["samples"] == 2000 and found["samples_per_second"] > 0
    parts = found["figures_ns_per_sample"] + found["files_ns_per_sample"]
    assert found["post_run_ns_per_sample"] == pytest.approx(parts)
    assert found["post_run_s"] == pytest.approx(found["post_run_ns_per_sample"] * 2000 / 1e9)
    assert (tmp_path / "scaling" / "result.json").is_file()


def test_imports_time_fresh_interpreters_and_name_the_slow_packages(tmp_path: Path) -> None:
    spec = {"engine": OURS_MLPERF, "modules": {OURS_MLPERF: ["json"]}, "repeats": 2,
            "profile_modules": {OURS_MLPERF: "json"}}
    found = child.task_imports(None, spec, tmp_path)
    assert 0 < found["import_s"]["json"] < found["process_s"]["json"]
    # json is named among the slow packages; which one leads (json, or re which it imports) is timing
    assert "json" in [row["package"] for row in found["import_profile"]]


def test_cpu_probe_profiles_the_loop_and_memory_probe_the_live_samples(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the drop-in reads an audit.config from the working folder
    spec = {"task": "stream", "scenario": "SingleStream", "queries": 300}
    probe = child.Probe("cpu", child.window_calls(spec))
    found = child.task_stream(child.LgEngine(OURS_MLPERF, probe), spec, tmp_path / "cpu")
    assert found["queries"] >= 300
    cpu = probe.found["cpu"]
    assert cpu["top"] and all(0 <= row["share"] <= 1 for row in cpu["top"]) and 0 <= cpu["wait_share"] <= 1
    probe = child.Probe("memory")
    child.task_offline(child.LgEngine(OURS_MLPERF, probe), {"samples": 5000}, tmp_path / "memory")
    rows = probe.found["memory"]
    assert rows and rows[0]["bytes"] > 5000 * 8  # the measured run's samples, not the 16 of its warm-up


def _run(measurement: str, engine: str, result: dict, rep: int = 0) -> dict:
    return {"measurement": measurement, "engine": engine, "rep": rep, "result": result}


def test_linearity_compares_the_same_repetition_and_a_miss_says_why() -> None:
    small, large = (f"scaling-{n}" for n in sorted(QUICK.scaling_samples)[-2:])
    figures = [f for f in build_figures(QUICK) if f.key == "scaling_linear"]
    runs = [_run(small, OURS, {"post_run_ns_per_sample": 100.0, "figures_ns_per_sample": 40.0,
                               "files_ns_per_sample": 60.0}, rep) for rep in (0, 1)]
    runs += [_run(large, OURS, {"post_run_ns_per_sample": per, "figures_ns_per_sample": 50.0,
                                "files_ns_per_sample": per - 50.0}, rep) for rep, per in ((0, 300.0), (1, 120.0))]
    (out,) = aggregate(figures, runs)
    assert out.ours == [3.0, 1.2] and out.status == "MISSED"  # median 2.1 > 1.5
    text = reasons.explain(out, runs, {}, {"transparent_hugepage": "madvise"})
    assert "ours 2.1, allowed <= 1.5" in text
    assert "figures and verdict 50 ns" in text and "files 160 ns" in text and "madvise" in text


def test_reasons_for_ratio_late_ks_profile_and_import_misses() -> None:
    sizes = QUICK
    keys = {"server_10000_dropin_latency_p99", "server_10000_dropin_ks", "stream-single_dropin_p90",
            "import_dropin_ms"}
    figures = [f for f in build_figures(sizes) if f.key in keys]
    server = {"latency_ns": {"p99": 900_000.0}, "ks_sut_gaps": 0.3, "late_100us_share": 0.02,
              "late_1ms_share": 0.001, "sut_gap_p01_ns": 14_000.0, "short_gap_share": 0.13,
              "machine_floor_p99_ns": 480_000.0}
    runs = [
        _run("server-10000", OURS_MLPERF, server),
        _run("server-10000", LOADGEN, {**server, "latency_ns": {"p99": 1_000_000.0}, "ks_sut_gaps": 0.4,
                                        "late_100us_share": 0.07, "machine_floor_p99_ns": 610_000}),
        _run("stream-single", OURS_MLPERF, {"latency_ns": {"p90": 13_100.0}}),
        _run("stream-single", LOADGEN, {"latency_ns": {"p90": 4_200.0}}),
        _run("imports", OURS_MLPERF, {"import_s": {"loadgen.mlperf": 0.345},
                                      "import_profile": [{"package": "scipy", "own_s": 0.225}]}),
        _run("imports", LOADGEN, {"import_s": {"mlperf_loadgen": 0.002}}),
    ]
    probe = {"probe": {"cpu": {"wait_share": 0.1, "top": [{"function": "QuerySamplesComplete (x.py:1)",
                                                            "share": 0.3}]}}}
    probes = {("stream-single", OURS_MLPERF, "cpu"): probe}
    results = {out.figure.key: out for out in aggregate(figures, runs)}
    assert all(out.status == "MISSED" for out in results.values()), {k: o.status for k, o in results.items()}
    text = {key: reasons.explain(out, runs, probes, {}) for key, out in results.items()}
    assert "needs ours <= 300 us (LoadGen 1000 us x 0.3); ours 900 us" in text["server_10000_dropin_latency_p99"]
    assert "ours 2%, LoadGen 7%" in text["server_10000_dropin_latency_p99"]
    assert "an issuer that costs nothing at 480 us in ours' runs, 610 us in LoadGen's" in text[
        "server_10000_dropin_latency_p99"]
    assert "ours 14 us (13% of the scheduled gaps are shorter)" in text["server_10000_dropin_ks"]
    assert "needs ours <= 2.1 us (LoadGen 4.2 us x 0.5); ours 13.1 us" in text["stream-single_dropin_p90"]
    assert "QuerySamplesComplete (x.py:1) 30%" in text["stream-single_dropin_p90"]
    assert "ours 345 ms, allowed <= 150 ms" in text["import_dropin_ms"] and "scipy 225 ms" in text["import_dropin_ms"]
    assert reasons.probe_jobs(list(results.values())) == [("server-10000", OURS_MLPERF, "cpu"),
                                                          ("stream-single", OURS_MLPERF, "cpu")]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.integers(20_001, 3_000_000), min_size=1, max_size=40), st.sampled_from([0.9, 0.99]))
def test_the_machine_floor_is_the_quantile_of_arrivals_that_fall_into_stalls(stalls: list[int], q: float) -> None:
    """Poisson arrivals are uniform in time: lay these stalls (not overlapping) on a timeline, issue an
    arrival every 200 ns across it, and compare the quantile of their lateness with the closed form."""
    duration = 200_000_000
    rng = np.random.default_rng(len(stalls))
    starts = np.sort(rng.choice(duration // 50_000, size=len(stalls), replace=False)) * 50_000
    ends = np.minimum(starts + np.array(stalls), np.append(starts[1:], duration))
    arrivals = np.arange(0, duration, 200, dtype=np.float64)
    inside = np.searchsorted(starts, arrivals, side="right") - 1
    late = np.zeros_like(arrivals)
    after = inside >= 0
    late[after] = np.maximum(ends[inside[after]] - arrivals[after], 0)
    found = child.ideal_lateness_quantile((ends - starts).tolist(), duration, q)
    assert found == pytest.approx(float(np.quantile(late, q)), abs=1_000)


def test_machine_stalls_are_gaps_of_a_spinning_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    readings = iter([0, 1_000, 2_000, 502_000, 503_000, 530_000, 20_000_000])
    monkeypatch.setattr(child.time, "perf_counter_ns", lambda: next(readings))
    assert child.machine_stalls(10_000_000) == [500_000, 27_000, 19_470_000]
    assert child.ideal_lateness_quantile([500_000], 10_000_000, 0.99) == pytest.approx(400_000)
    assert child.ideal_lateness_quantile([50_000], 10_000_000, 0.99) == 0.0
    assert child.ideal_lateness_quantile([], 10_000_000, 0.99) == 0.0


def test_a_target_without_a_value_is_missed_and_says_why() -> None:
    figures = [f for f in build_figures(QUICK) if f.key == "offline_10000_dropin_rate"]
    runs = [
        _run("offline-10000", OURS_MLPERF, {"samples_per_second": None, "valid": False,
                                            "problems": ["no sample completed for 10 s (sample_timeout_ms)"]}),
        {"measurement": "offline-10000", "engine": LOADGEN, "rep": 0, "error": "exit code 1: Traceback ..."},
    ]
    (out,) = aggregate(figures, runs)
    assert out.status == "MISSED (no value)"
    text = reasons.explain(out, runs, {}, {})
    assert "ours-mlperf: no sample completed for 10 s (sample_timeout_ms)" in text
    assert "loadgen: exit code 1: Traceback ..." in text


def test_a_probe_reruns_the_measurement_in_a_fresh_child(tmp_path: Path) -> None:
    item = {"id": "stream-single", "task": "stream", "scenario": "SingleStream", "queries": 200, "engines": [OURS]}
    found = run_probes([("stream-single", OURS, "cpu")], [item], tmp_path, timeout_s=120)
    cpu = found[("stream-single", OURS, "cpu")]["probe"]["cpu"]
    assert cpu["top"] and any("bench/child.py" in row["function"] or "engine/" in row["function"] for row in cpu["top"])


def test_a_fixed_time_miss_separates_the_suts_lateness_from_the_engines() -> None:
    figures = [f for f in build_figures(QUICK) if f.key == "fixed_server_p50"]
    runs = [_run("fixed-server", OURS, {"latency_ns": {"p50": 216_000.0}, "overshoot_p50_ns": 40_000.0}),
            _run("fixed-server", LOADGEN, {"latency_ns": {"p50": 183_000.0}, "overshoot_p50_ns": 60_000.0})]
    (out,) = aggregate(figures, runs)
    assert out.status == "MISSED (ours)"
    text = reasons.explain(out, runs, {}, {})
    assert "ours 216 us, LoadGen 183 us; allowed [100, 200 us]" in text
    assert "p50: 40 us under ours, 60 us under LoadGen" in text


def test_transparent_hugepage_reads_the_chosen_mode() -> None:
    mode = transparent_hugepage()
    if Path("/sys/kernel/mm/transparent_hugepage/enabled").exists():
        assert mode in ("always", "madvise", "never")
    else:
        assert mode is None


def test_import_group_end_to_end(tmp_path: Path) -> None:
    if not HAVE_LOADGEN:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install the mlperf extra (mlcommons-loadgen) for the benchmark smoke test")
        pytest.skip("mlperf_loadgen is not installed: pip install '.[mlperf]'")
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--only", "import", "--no-probe", "--out", str(tmp_path)],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "transparent huge pages:" in done.stdout
    for label in ("import loadgen.mlperf, ms", "import loadgen, ms", "import numpy, ms"):
        assert label in done.stdout
    document = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    assert "transparent_hugepage" in document["meta"]["machine"]
    rows = {figure["key"]: figure for figure in document["figures"]}
    assert rows["import_dropin_ms"]["ours"]["median"] > 0 and rows["import_dropin_ms"]["loadgen"]["median"] > 0
    for row in rows.values():
        assert (row["limit"] is not None) == row["status"].startswith("MISSED"), row["key"]
