"""Repeated runs and comparisons on synthetic results folders: figures, aggregates, verdicts, CLI.

Each synthetic run is a SingleStream trace of sequential queries whose latencies are a
service time x a per-run factor (run-to-run noise, CV 1%) x per-query noise (CV 2%), put
through the real compute_metrics; so the true ratio between two sides is known exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from loadgen.analysis import stats
from loadgen.analysis.aggregate import aggregate, figure_series, run_figures, run_warnings
from loadgen.cli import compare
from loadgen.cli.repeat import abba_order, abba_steps, child_argv, child_command
from loadgen.engine.trace import Trace
from loadgen.errors import SettingsError
from loadgen.metrics.figures import compute_metrics
from loadgen.metrics.result import RunResult
from loadgen.metrics.verdict import judge
from loadgen.results.reading import load_runs
from loadgen.settings.model import TestSettings

FINGERPRINT = {
    "cpu": {"model": "Test CPU 9000", "vendor": "TestVendor", "architecture": "x86_64", "physical_cores": 4,
            "logical_cores": 8, "flags": ["avx2", "sse4_2"], "governor": "performance", "turbo": "off",
            "frequency_mhz": {"current": 3000.0, "min": 800.0, "max": 4000.0}},
    "memory": {"total_bytes": 16 << 30, "available_bytes": 8 << 30},
    "os": {"system": "Linux", "release": "6.1", "version": "#1", "machine": "x86_64"},
    "python": {"version": "3.11.9", "implementation": "CPython", "executable": "/usr/bin/python3"},
    "numpy": {"version": "2.0.0", "blas": {"name": "openblas", "version": "0.3.27"}, "lapack": None},
    "packages": {"numpy": "2.0.0", "scipy": "1.13.0"},
    "load_average": [0.1, 0.1, 0.1],
    "hardware_hash": "0123456789abcdef",
}
SETTINGS = TestSettings(scenario="SingleStream", min_duration_ms=0, min_query_count=1,
                        single_stream_expected_latency_ns=1_000_000)


def synthetic_run(service_ns: float, rng: np.random.Generator, queries: int = 400, run_cv: float = 0.01,
                  **fields: object) -> tuple[RunResult, Trace]:
    """One SingleStream run of `queries` sequential queries around service_ns, and its trace."""
    scale = 1 + run_cv * rng.standard_normal()
    latency = np.maximum(service_ns * scale * (1 + 0.02 * rng.standard_normal(queries)), 1).astype(np.int64)
    completed = np.cumsum(latency)
    scheduled = completed - latency
    trace = Trace.from_sample_rows(
        query=np.arange(queries), sample_index=np.zeros(queries, dtype=np.int32), scheduled_ns=scheduled,
        issued_ns=scheduled.copy(), completed_ns=completed, response_size=np.zeros(queries, dtype=np.int32))
    metrics = compute_metrics(trace, SETTINGS)
    validity = judge(metrics, SETTINGS, None)
    values = dict(
        tool="test", started_at="2026-11-28T00:00:00+00:00", scenario="SingleStream", mode="PerformanceOnly",
        sut_name="FakeSUT", qsl_name="FakeQSL", valid=validity.valid, invalid_reasons=validity.reasons,
        checks=validity.checks, stop_reason="schedule done", error=None, metrics=metrics,
        settings_requested=SETTINGS.model_dump(mode="json"), settings_effective=SETTINGS.model_dump(mode="json"),
        chosen_by_pilot={}, warmup_queries=0, total_sample_count=64, performance_sample_count=64,
        fingerprint=FINGERPRINT, load_average_end=None, warnings=[],
    )
    return RunResult(**(values | fields)), trace


def write_side(folder: Path, service_ns: float, runs: int, seed: int, **fields: object) -> Path:
    """A --runs folder: folder/run-1 ... run-N, each with result.json and trace.npz."""
    rng = np.random.default_rng(seed)
    for k in range(1, runs + 1):
        result, trace = synthetic_run(service_ns, rng, **fields)
        run_dir = folder / f"run-{k}"
        run_dir.mkdir(parents=True)
        trace.save(run_dir / "trace.npz")
        (run_dir / "result.json").write_text(result.model_dump_json(indent=2))
    return folder


def run_compare(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = compare.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def by_metric(report: dict) -> dict[str, dict]:
    return {row["metric"]: row for row in report["comparisons"]}


# --------------------------------------------------------------------------- figures and aggregates


def test_run_figures_name_every_figure_with_its_direction_and_unit() -> None:
    result, _ = synthetic_run(1e6, np.random.default_rng(1))
    figures = run_figures(result)
    assert list(figures) == ["headline p90 latency", "samples/s", "mean latency", "p50 latency", "p90 latency",
                             "p99 latency"]
    assert figures["headline p90 latency"].value == result.metrics.headline_value
    assert figures["p90 latency"].value == result.metrics.latency.percentiles_ns["90.0"]
    assert figures["samples/s"].higher_is_better and figures["samples/s"].unit == "samples/s"
    assert not figures["mean latency"].higher_is_better and figures["mean latency"].unit == "ns"
    rich = RunResult.model_validate(result.model_dump() | {
        "accuracy": {"samples": 10, "completed": 10, "top1": 0.9, "note": ""}, "model": {"model_size_mb": 0.25}})
    extra = run_figures(rich)
    assert (extra["top-1 accuracy"].value, extra["top-1 accuracy"].higher_is_better) == (0.9, True)
    assert (extra["model size"].value, extra["model size"].better) == (0.25, "smaller")


def test_offline_headline_is_not_counted_twice() -> None:
    result, _ = synthetic_run(1e6, np.random.default_rng(1))
    rate = result.metrics.samples_per_second
    metrics = result.metrics.model_copy(update={"headline_name": "Samples per second", "headline_value": rate})
    figures = run_figures(result.model_copy(update={"scenario": "Offline", "metrics": metrics}))
    assert "headline samples/s" in figures and "samples/s" not in figures


def test_aggregate_uses_the_stats_library_per_figure_and_gives_per_run_percentile_intervals() -> None:
    rng = np.random.default_rng(2)
    runs = [synthetic_run(1e6, rng, queries=6000)] + [synthetic_run(1e6, rng) for _ in range(3)]
    runs.append(synthetic_run(1e6, rng, queries=100))
    results, traces = [r for r, _ in runs], [t for _, t in runs]
    document = aggregate(results, traces)
    values = [r.metrics.latency.mean_ns for r in results]
    assert document["figures"]["mean latency"] == {
        "unit": "ns", "higher_is_better": False, "values": values,
        **stats.summarize_runs(values).as_json(), "warnings": []}
    assert document["figures"]["mean latency"]["interval_method"] == "Student t"
    first, short = document["percentile_intervals"][0], document["percentile_intervals"][4]
    assert first["queries"] == 6000
    for label in ("p50", "p90"):
        assert first[label]["low_ns"] <= first[label]["value_ns"] <= first[label]["high_ns"]
        assert first[label]["method"].startswith("batch means") and first[label]["level"] == 0.95
    assert first["p99"]["value_ns"] == results[0].metrics.latency.percentiles_ns["99.0"]
    assert first["p99"]["needs_queries"] == 50_000 and "low_ns" not in first["p99"]
    assert short["queries"] == 100 and short["p50"]["needs_queries"] == 1000 and "low_ns" not in short["p90"]


def test_load_runs_keeps_invalid_runs_flagged_and_leaves_out_errors(tmp_path: Path) -> None:
    write_side(tmp_path / "s", 1e6, 3, seed=3)
    bad = tmp_path / "s" / "run-2" / "result.json"
    bad.write_text(RunResult.model_validate_json(bad.read_text()).model_copy(update={"error": "SUT raised"})
                   .model_dump_json())
    invalid = tmp_path / "s" / "run-3" / "result.json"
    invalid.write_text(RunResult.model_validate_json(invalid.read_text())
                       .model_copy(update={"valid": False, "invalid_reasons": ["min duration not met"]})
                       .model_dump_json())
    (tmp_path / "s" / "run-10").mkdir()
    loaded = load_runs(tmp_path / "s")
    assert [p.name for p in loaded.run_folders] == ["run-1", "run-3"]
    assert loaded.statuses == {"run-1": "VALID", "run-2": "error", "run-3": "INVALID", "run-10": "missing"}
    assert any("run-2: ended in an error" in w for w in loaded.warnings)
    assert any("run-3: INVALID (min duration not met); kept" in w for w in loaded.warnings)
    with pytest.raises(SettingsError, match="no such results folder"):
        load_runs(tmp_path / "absent")


def test_child_argv_drops_runs_output_and_in_process() -> None:
    argv = ["--scenario", "offline", "--runs", "5", "--output=x", "--in-process", "--output", "y", "--runs=3",
            "--set", "min_duration_ms=10"]
    assert child_argv(argv) == ["--scenario", "offline", "--set", "min_duration_ms=10"]
    assert child_command([], Path("o/run-1")) == ["--output", "o/run-1", "--no-progress", "--runs", "1"]


def test_abba_order_pairs_every_run() -> None:
    assert "".join(abba_order(4)) == "ABBAABBA"
    assert "".join(abba_order(3)) == "ABBAAB"
    steps = abba_steps(["a"], ["b"], 2, Path("o"))
    assert [(s.argv, str(s.run_dir), s.label) for s in steps] == [
        (["a"], "o/a/run-1", "A run-1"), (["b"], "o/b/run-1", "B run-1"),
        (["b"], "o/b/run-2", "B run-2"), (["a"], "o/a/run-2", "A run-2")]


# --------------------------------------------------------------------------- comparing folders


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sides")
    return {
        "a": write_side(root / "a", 1_000_000, 6, seed=10),
        "b": write_side(root / "b", 1_200_000, 6, seed=11),
        "a2": write_side(root / "a2", 1_000_000, 6, seed=12),
    }


def test_a_clear_difference_is_found_with_an_interval_containing_the_true_ratio(
    sides: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_compare(capsys, str(sides["a"]), str(sides["b"]), "--json")
    assert code == 0
    rows = by_metric(json.loads(out))
    for name in ("p90 latency", "mean latency", "p50 latency", "headline p90 latency"):
        row = rows[name]
        assert row["verdict"] == "slower", row
        assert row["ci_low"] <= 1 / 1.2 <= row["ci_high"], row  # the ratio is A/B for a time: 1/1.2
        assert row["p_value"] < 0.05 and row["runs_needed"] is None
    assert rows["samples/s"]["verdict"] == "slower"


def test_the_human_lines_say_how_much_slower_with_the_tests_and_the_verdict(
    sides: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_compare(capsys, str(sides["a"]), str(sides["b"]))
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("  [secondary] p90 latency:"))
    assert "x slower [" in line and "(99% simultaneous over 5 figures, Welch t on log run figures)" in line
    assert "Bonferroni x5" in line and "Mann-Whitney" in line and line.endswith("-> slower")
    low, high = (float(v) for v in line.split("[", 2)[2].split("]")[0].split(", "))
    assert low <= 1.2 <= high
    head = next(line for line in out.splitlines() if line.startswith("  [primary] headline p90 latency:"))
    assert "(95%, Welch t on log run figures)" in head and head.endswith("-> slower")


def test_a_against_a_is_never_a_significant_difference(sides: dict[str, Path],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_compare(capsys, str(sides["a"]), str(sides["a2"]), "--json")
    assert code == 0
    verdicts = {row["metric"]: row["verdict"] for row in json.loads(out)["comparisons"]}
    assert set(verdicts.values()) <= {"equivalent", "not enough evidence"}, verdicts
    assert verdicts["headline p90 latency"] == "equivalent"


def test_json_has_the_issue_keys(sides: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_compare(capsys, str(sides["a"]), str(sides["b"]), "--json")
    report = json.loads(out)
    for row in report["comparisons"]:
        assert {"metric", "ratio", "ci_low", "ci_high", "p_value", "verdict", "runs_needed"} <= set(row)
    assert report["scenario"] == "SingleStream" and report["metrics_tested"] == 6
    for row in report["comparisons"]:
        assert row["method"] == "Welch t on log run figures" and row["level"] in (0.95, 0.99)
        assert row["role"] == ("primary" if row["metric"].startswith("headline") else "secondary")


def test_paired_folders_pair_runs_by_name_and_skip_a_missing_partner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_side(tmp_path / "a", 1_000_000, 5, seed=30)
    b = write_side(tmp_path / "b", 1_100_000, 5, seed=31)
    broken = b / "run-2" / "result.json"
    broken.write_text(RunResult.model_validate_json(broken.read_text()).model_copy(update={"error": "SUT raised"})
                      .model_dump_json())
    code, out, _ = run_compare(capsys, str(a), str(b), "--paired", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["paired"] is True
    head = by_metric(report)["headline p90 latency"]
    assert head["paired"] and head["n_a"] == head["n_b"] == 4  # run-2 has no partner
    assert head["method"] == "paired t on log ratios of adjacent A/B runs"
    assert head["verdict"] == "slower" and head["ci_low"] <= 1 / 1.1 <= head["ci_high"]
    code, out, _ = run_compare(capsys, str(a), str(b), "--paired")
    assert "paired: A's run-k against its neighbour B's run-k" in out and "pairs 4/4" in out


def test_different_scenarios_are_refused(sides: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    result = RunResult.model_validate_json((sides["a"] / "run-1" / "result.json").read_text())
    (tmp_path / "off").mkdir()
    (tmp_path / "off" / "result.json").write_text(result.model_copy(update={"scenario": "Offline"}).model_dump_json())
    code, _, err = run_compare(capsys, str(sides["a"]), str(tmp_path / "off"))
    assert code == 2 and "different scenarios: A is SingleStream, B is Offline" in err


@pytest.mark.parametrize("argv, message", [
    (["missing-a", "missing-b"], "no such results folder"),
    ([], "give two results folders"),
    (["--margin", "2", "x", "y"], "--margin 2.0: allowed"),
    (["--plan", "--cv", "0.05"], "--plan needs --effect"),
    (["--sut-a", "sut.null"], "--sut-a and --sut-b go together"),
])
def test_bad_usage_exits_2_without_a_traceback(argv: list[str], message: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_compare(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_a_folder_that_is_not_results_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "result.json").write_text("{}")
    code, _, err = run_compare(capsys, str(tmp_path / "junk"), str(tmp_path / "junk"))
    assert code == 2 and "not a result.json" in err


def test_one_run_a_side_gives_the_ratio_but_no_verdict(sides: dict[str, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_compare(capsys, str(sides["a"] / "run-1"), str(sides["b"] / "run-1"), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["metrics_tested"] == 0
    assert all(row["verdict"] == "not enough evidence" and row["runs_needed"] == 3 for row in report["comparisons"])
    assert report["normalized"]["speedup"]["value"] == pytest.approx(0.83, abs=0.03)


# --------------------------------------------------------------------------- normalized metrics


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    accuracy = {"samples": 200, "completed": 200, "note": ""}
    return {
        "base": write_side(root / "base", 1_000_000, 4, seed=20, model={"model_size_mb": 0.04},
                           accuracy=accuracy | {"top1": 0.97}),
        "fast": write_side(root / "fast", 500_000, 4, seed=21, model={"model_size_mb": 0.01},
                           accuracy=accuracy | {"top1": 0.92}),
    }


def test_normalized_metrics_are_printed_with_their_formulas(models: dict[str, Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_compare(capsys, str(models["base"]), str(models["fast"]))
    assert code == 0
    speedup = json.loads(run_compare(capsys, str(models["base"]), str(models["fast"]), "--json")[1])["normalized"]
    s = speedup["speedup"]["value"]
    assert s == pytest.approx(2.0, rel=0.05)
    assert f"speedup = baseline_time / optimized_time = {s:.3f} [" in out
    assert "compression ratio = baseline_size / optimized_size = 4.000 (0.04 MiB -> 0.01 MiB)" in out
    assert "accuracy delta = optimized_accuracy - baseline_accuracy = -0.0500 (0.9700 -> 0.9200)" in out
    efficiency = stats.efficiency_score(s, 4.0, -0.05)
    assert f"efficiency = (speedup x compression) / (1 + |accuracy delta|) = {efficiency:.3f}" in out
    assert f"accuracy-gated speedup: FLAGGED: speedup {s:.2f}x with accuracy delta -0.0500: accuracy fell" in out
    assert "model size: 4.000x smaller [3.9" in out  # equal runs: the 0.5% CV floor keeps the interval finite
    assert "top-1 accuracy: 1.054x less accurate" in out


def test_accuracy_gate_follows_the_tolerance(models: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_compare(capsys, str(models["base"]), str(models["fast"]), "--json", "--accuracy-tolerance", "0.1")
    gated = json.loads(out)["normalized"]["gated_speedup"]
    assert gated["flagged"] is False and gated["accuracy_delta"] == pytest.approx(-0.05)


def test_normalize_scales_each_side_by_its_machine_score(sides: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    raw = by_metric(json.loads(run_compare(capsys, str(sides["a"]), str(sides["b"]), "--json")[1]))
    a, b = tmp_path / "a", tmp_path / "b"
    for side, score in ((a, 2.0), (b, 1.0)):
        write_side(side, 1_000_000 if side == a else 1_200_000, 6, seed=10 if side == a else 11)
        document = {"score": score, "hardware_hash": FINGERPRINT["hardware_hash"]}
        (side / "machine_score.json").write_text(json.dumps(document))
    code, out, _ = run_compare(capsys, str(a), str(b), "--json", "--normalize")
    assert code == 0
    report = json.loads(out)
    normalized = by_metric(report)
    # A's times double on the reference machine (score 2): B now looks 2/1.2 times faster.
    assert normalized["mean latency"]["ratio"] == pytest.approx(raw["mean latency"]["ratio"] * 2.0)
    assert normalized["samples/s"]["ratio"] == pytest.approx(raw["samples/s"]["ratio"] * 2.0)
    assert report["normalization"]["a_score"] == 2.0 and "cannot correct" in run_compare(
        capsys, str(a), str(b), "--normalize")[1]


def test_normalize_refuses_a_side_from_another_machine_without_a_score(
    sides: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_compare(capsys, str(sides["a"]), str(sides["b"]), "--normalize")
    assert code == 2 and "ran on other hardware" in err and "python -m loadgen.machine_score --output" in err


# --------------------------------------------------------------------------- environment and noise


def test_environment_differences_and_noise_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = FINGERPRINT | {"cpu": FINGERPRINT["cpu"] | {"governor": "powersave"}, "hardware_hash": "fedcba9876543210"}
    write_side(tmp_path / "a", 1e6, 3, seed=30, warnings=["turbo boost is on: the clock speed depends on it"])
    write_side(tmp_path / "b", 1e6, 3, seed=31, fingerprint=other, run_cv=0.3)
    code, out, _ = run_compare(capsys, str(tmp_path / "a"), str(tmp_path / "b"))
    assert code == 0
    assert "environment: hardware hash differs: A '0123456789abcdef', B 'fedcba9876543210'" in out
    assert "environment: CPU governor differs: A 'performance', B 'powersave'" in out
    assert "noise: A: 3 of 3 runs: turbo boost is on" in out
    assert "noise: B: mean latency: std is" in out


# --------------------------------------------------------------------------- planning


def test_plan_gives_the_runs_the_verdict_needs_and_the_queries(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_compare(capsys, "--plan", "--cv", "0.05", "--effect", "0.05")
    assert code == 0
    assert "to detect a 5.0% difference: 18 (two-sided Welch t on log run figures" in out
    assert "CV 5.0% prospective (--cv)" in out and "equivalence within 2% when there is no true difference: " in out
    assert "p50 1,000, p90 5,000, p99 50,000, p99.9 500,000" in out
    _, out, _ = run_compare(capsys, "--plan", "--cv", "0.10", "--effect", "0.05", "--power", "0.9",
                            "--percentile", "0.95", "--json")
    planned = json.loads(out)
    assert planned["runs_per_side"] == 89 and planned["queries_per_run"] == {"0.95": 10_000}


def test_the_courses_question_gets_a_one_line_answer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_compare(capsys, "--plan", "--effect", "0.05", "--p-value", "0.06", "--runs", "5")
    assert code == 0 and len(out.strip().splitlines()) == 1
    assert out.startswith("p = 0.06 is not below alpha 0.05: not significant")
    assert "needs 16 runs a side" in out and "at 80% confidence" in out
    code, out, _ = run_compare(capsys, "--plan", "--effect", "0.05", "--p-value", "0.01", "--runs", "5", "--json")
    assert code == 0 and json.loads(out)["significant"] is True
    code, _, err = run_compare(capsys, "--plan", "--effect", "0.05", "--p-value", "0.06", "--runs", "5", "--cv", "0.1")
    assert code == 2 and "give --cv or --p-value, not both" in err


def test_figure_series_keeps_run_order(sides: dict[str, Path]) -> None:
    loaded = load_runs(sides["a"])
    series = figure_series(loaded.results)
    assert series["mean latency"].values == [r.metrics.latency.mean_ns for r in loaded.results]


def test_run_warnings_group_by_kind_and_name_a_pilot_choice_that_moved() -> None:
    rng = np.random.default_rng(5)
    runs = []
    for qps, load in ((1000.0, "3.10"), (1500.0, "3.40")):
        result, _ = synthetic_run(1e6, rng, warnings=[f"high load average: {load} (1 minute) on 2 logical cores"])
        effective = result.settings_effective | {"server_target_qps": qps}
        runs.append(result.model_copy(update={"chosen_by_pilot": {"server_target_qps": "pilot"},
                                              "settings_effective": effective}))
    assert run_warnings(runs) == [
        "2 of 2 runs: high load average: 3.10 (1 minute) on 2 logical cores (the figures vary by run)",
        "server_target_qps was chosen by each run's pilot and differs between runs (1000.0, 1500.0): "
        "fix it with --set server_target_qps=... so every run does the same work",
    ]


def test_one_loop_runs_every_step_and_stops_on_a_refusal_or_an_interrupt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from loadgen.cli.repeat import Step, run_steps

    seen: list[list[str]] = []

    def fake(codes: list[int]) -> Callable[[list[str]], int]:
        def main(command: list[str]) -> int:
            seen.append(command)
            return codes[len(seen) - 1]
        return main

    steps = abba_steps(["--sut", "a"], ["--sut", "b"], 2, tmp_path)
    done = run_steps(steps, fake([0, 3, 0, 0]))
    assert [p.relative_to(tmp_path).as_posix() for p in done.codes] == ["a/run-1", "b/run-1", "b/run-2", "a/run-2"]
    assert list(done.codes.values()) == [0, 3, 0, 0] and not done.interrupted and done.refused is None
    assert seen[1][:2] == ["--sut", "b"] and seen[1][seen[1].index("--output") + 1] == str(tmp_path / "b" / "run-1")
    err = capsys.readouterr().err
    assert "run 2/4 (B run-1): INVALID" in err and "run 4/4 (A run-2): VALID" in err
    seen.clear()
    refused = run_steps(steps, fake([0, 2, 0, 0]))  # B's first run refuses its arguments: stop there
    assert refused.refused == steps[1] and len(refused.codes) == 2
    seen.clear()
    stopped = run_steps([Step(["x"], tmp_path / f"run-{k}") for k in (1, 2, 3)], fake([0, 130, 0]))
    assert stopped.interrupted and len(stopped.codes) == 2
