"""Repeated-run evidence (tinyperf-evidence/2): every run re-derived as a single run is, the claims checked
against the runs together, and crafted lists (a run twice, a copied run, too many, the wrong format) answered
with a finding, never a traceback."""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from loadgen.analysis import stats
from loadgen.benchmark.runner import run_benchmark
from loadgen.capstone import judge_submission
from loadgen.capstone.building import build_evidence, build_submission
from loadgen.capstone.course import across_runs, run_figures
from loadgen.capstone.schema import MAX_EVIDENCE_RUNS, Finding
from loadgen.machine.fingerprint import collect_fingerprint
from loadgen.metrics.result import RunResult
from loadgen.results.files import sha256_file
from loadgen.settings.model import TestSettings
from sut.models import load_model
from sut.tinytorch import wrap_model_over_tinydigits

SETTINGS = TestSettings.model_validate(
    {"scenario": "SingleStream", "mode": "SubmissionRun", "min_duration_ms": 0, "min_query_count": 64,
     "warmup_ms": 0, "pilot_ms": 20, "single_stream_expected_latency_ns": 50_000}
)
RUNS = 3


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sound submission with three runs a side of DigitMLP and its int8 copy, interleaved, measured here."""
    folder = tmp_path_factory.mktemp("repeated")
    fingerprint = collect_fingerprint()
    suts = {side: wrap_model_over_tinydigits(load_model(name))
            for side, name in (("baseline", "digit_mlp"), ("optimized", "digit_mlp_int8"))}
    results: dict[str, list[RunResult]] = {side: [] for side in suts}
    for k in range(1, RUNS + 1):
        for side, sut in suts.items():
            benchmark = run_benchmark(sut, sut.qsl, SETTINGS, fingerprint=fingerprint)
            run = folder / side / f"run-{k}"
            run.mkdir(parents=True)
            benchmark.trace.save(run / "trace.npz")
            result = benchmark.result.model_copy(update={"files": {"trace.npz": sha256_file(run / "trace.npz")}})
            (run / "result.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
            results[side].append(result)
    facts = {side: sut.model_facts() | {"accuracy": results[side][0].accuracy.top1}  # type: ignore[union-attr]
             for side, sut in suts.items()}
    submission = build_submission(
        results["baseline"], results["optimized"], facts["baseline"], facts["optimized"], ["int8"], "Ada",
        build_evidence(folder, {side: [folder / side / f"run-{k}" for k in range(1, RUNS + 1)] for side in suts}),
        created=dt.datetime(2026, 12, 2, 12, 0, 0),
    )
    (folder / "submission.json").write_text(json.dumps(submission), encoding="utf-8")
    return folder


@pytest.fixture
def folder(source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source, tmp_path / "s"))


def submission(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "submission.json").read_text(encoding="utf-8"))
    return data


def errors(findings: list[Finding]) -> list[str]:
    return [str(f) for f in findings if f.level == "error"]


def test_a_repeated_run_submission_is_valid_and_states_the_runs_together(source: Path) -> None:
    data = submission(source)
    verdict = judge_submission(data, source)
    assert [f for f in verdict.findings if f.level != "info"] == [], errors(verdict.findings)
    assert data["evidence"]["format"] == "tinyperf-evidence/2" and len(data["evidence"]["optimized"]) == RUNS
    assert [run.label for run in verdict.runs] == [f"{side} run {k}" for side in ("baseline", "optimized")
                                                   for k in range(1, RUNS + 1)]
    for side in ("baseline", "optimized"):
        per_run = [run.figures for run in verdict.runs if run.side == side]
        for key in ("latency_ms_mean", "latency_ms_median", "latency_ms_p99"):
            assert data[side]["metrics"][key] == pytest.approx(across_runs([f[key] for f in per_run]), rel=1e-12)
        runs = [RunResult.model_validate_json((source / r["result"]).read_text())
                for r in data["evidence"][side]]
        assert [run_figures(r.metrics)["latency_ms_median"] for r in runs] == [f["latency_ms_median"]  # type: ignore[arg-type]
                                                                                 for f in per_run]
    assert "NOT COMPLIANT" in verdict.compliance() and "optimized run 3: min_duration_ms = 0" in verdict.compliance()


def test_a_claim_from_one_run_alone_is_rejected(folder: Path) -> None:
    data = submission(folder)
    first = RunResult.model_validate_json((folder / data["evidence"]["optimized"][0]["result"]).read_text())
    # that run's tail, p95 and p99 (p95 alone could break their order: another finding)
    one_run = run_figures(first.metrics)  # type: ignore[arg-type]
    data["optimized"]["metrics"].update({key: one_run[key] for key in ("latency_ms_p95", "latency_ms_p99")})
    found = errors(judge_submission(data, folder).findings)
    assert found and all("the 3 runs' traces give (geometric mean of the runs' figures)" in line for line in found)
    assert any("optimized.metrics.latency_ms_p95 is" in line for line in found)


def test_a_list_in_format_1_is_refused(folder: Path) -> None:
    data = submission(folder)
    data["evidence"]["format"] = "tinyperf-evidence/1"
    found = errors(judge_submission(data, folder).findings)
    assert found == ["error: schema: evidence.baseline: tinyperf-evidence/1 holds one run a side; a list of "
                     "repeated runs is tinyperf-evidence/2"]


def test_a_run_listed_twice_is_not_a_repeat(folder: Path) -> None:
    data = submission(folder)
    data["evidence"]["baseline"][1] = dict(data["evidence"]["baseline"][0])
    found = errors(judge_submission(data, folder).findings)
    assert found and all("evidence_duplicate" in line for line in found)
    assert "evidence.baseline run 2: its result baseline/run-1/result.json is baseline run 1's" in found[0]


def test_a_copied_run_is_not_a_repeat(folder: Path) -> None:
    shutil.copytree(folder / "optimized" / "run-1", folder / "optimized" / "again")
    data = submission(folder)
    data["evidence"]["optimized"][2] = {"result": "optimized/again/result.json", "trace": "optimized/again/trace.npz"}
    for name in ("result.json", "trace.npz"):
        data["evidence"]["sha256"][f"optimized/again/{name}"] = sha256_file(folder / "optimized" / "again" / name)
    found = errors(judge_submission(data, folder).findings)
    assert any("optimized/again/trace.npz is a byte-for-byte copy of optimized run 1's" in line for line in found)


def test_more_runs_than_the_validator_reads_are_refused_unread(folder: Path) -> None:
    data = submission(folder)
    data["evidence"]["baseline"] = data["evidence"]["baseline"] * (MAX_EVIDENCE_RUNS // RUNS + 1)
    verdict = judge_submission(data, folder)
    assert any("evidence.baseline" in line and "at most 100" in line for line in errors(verdict.findings))
    assert verdict.runs == []


def test_one_edited_run_is_named(folder: Path) -> None:
    path = folder / "baseline" / "run-2" / "result.json"
    result = json.loads(path.read_text())
    result["metrics"]["latency"]["mean_ns"] *= 0.5
    path.write_text(json.dumps(result))
    data = submission(folder)
    data["evidence"]["sha256"]["baseline/run-2/result.json"] = sha256_file(path)
    found = errors(judge_submission(data, folder).findings)
    assert found == ["error: evidence_metrics: baseline run 2 result.json: metrics do not follow from its trace: "
                     "latency.mean_ns"]


def test_a_run_with_other_settings_breaks_the_rules_by_name(folder: Path) -> None:
    path = folder / "optimized" / "run-3" / "result.json"
    result = json.loads(path.read_text())
    result["settings_effective"]["sample_index_rng_seed"] += 1
    path.write_text(json.dumps(result))
    data = submission(folder)
    data["evidence"]["sha256"]["optimized/run-3/result.json"] = sha256_file(path)
    verdict = judge_submission(data, folder)
    assert verdict.valid, errors(verdict.findings)
    assert any(rule.startswith("baseline run 1 and optimized run 3 used different settings: sample_index_rng_seed")
               for rule in verdict.broken_rules)


@seed(13)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_crafted_run_lists_get_findings_never_a_traceback(source: Path, data: st.DataObject) -> None:
    document = copy.deepcopy(submission(source))
    side = data.draw(st.sampled_from(["baseline", "optimized"]))
    runs = document["evidence"][side]
    junk = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
                     st.fixed_dictionaries({"result": st.text(max_size=30), "trace": st.text(max_size=30)}),
                     st.sampled_from([*runs, {"result": runs[0]["trace"], "trace": runs[0]["result"]}]))
    document["evidence"][side] = data.draw(st.lists(junk, max_size=5))
    listed = document["evidence"][side]
    verdict = judge_submission(document, source)
    assert all(isinstance(f, Finding) for f in verdict.findings)
    if len({json.dumps(run, sort_keys=True) for run in listed}) < len(listed):
        assert not verdict.valid  # a run counted twice never passes


def test_the_median_speedups_interval_over_runs_is_recomputed(folder: Path) -> None:
    data = submission(folder)
    medians = [[RunResult.model_validate_json((folder / run["result"]).read_text()).metrics.latency  # type: ignore[union-attr]
                .percentiles_ns["50.0"] for run in data["evidence"][side]] for side in ("baseline", "optimized")]
    found = stats.ratio_interval(medians[0], medians[1], higher_is_better=False).interval
    assert found is not None
    data["harness"] |= {"speedup_median_interval": [found.low, found.high], "interval_method": found.method}
    assert judge_submission(data, folder).valid
    data["harness"]["speedup_median_interval"] = [found.low * 0.9, found.high]
    found_errors = errors(judge_submission(data, folder).findings)
    assert len(found_errors) == 1 and "harness.speedup_median_interval" in found_errors[0]
    assert "does not follow from the runs" in found_errors[0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(1e-3, 1e3), min_size=3, max_size=3), min_size=1, max_size=10))
def test_figures_across_runs_keep_the_percentile_order_and_a_single_run_exactly(runs: list[list[float]]) -> None:
    """median <= p95 <= p99 in every run stays so across runs (the validator's order check still holds), and one
    run's figure is itself, so a single-run submission states exactly what it did before."""
    ordered = [sorted(run) for run in runs]
    stated = [across_runs([run[k] for run in ordered]) for k in range(3)]
    assert stated[0] <= stated[1] * (1 + 1e-12) and stated[1] <= stated[2] * (1 + 1e-12)
    assert min(run[0] for run in ordered) * (1 - 1e-12) <= stated[0] <= max(run[0] for run in ordered) * (1 + 1e-12)
    assert across_runs([ordered[0][1]]) == ordered[0][1]
