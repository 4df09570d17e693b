"""The capstone submission.json: what passes, and every edited copy rejected with its reason."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loadgen.benchmark.runner import Benchmark, run_benchmark
from loadgen.capstone import validate_submission
from loadgen.capstone.building import build_evidence, build_submission
from loadgen.capstone.schema import Finding, is_valid, load_submission
from loadgen.engine.trace import Trace
from loadgen.machine.fingerprint import collect_fingerprint
from loadgen.metrics.result import RunResult
from loadgen.results.files import sha256_file
from loadgen.settings.model import TestSettings
from sut.models import load_model
from sut.tinytorch import TinyTorchSUT, wrap_model_over_tinydigits

REPO = Path(__file__).resolve().parents[2]
DELETE = object()
RUN_SETTINGS = TestSettings.model_validate(
    {
        "scenario": "SingleStream",
        "min_duration_ms": 0,
        "min_query_count": 64,
        "single_stream_expected_latency_ns": 50_000,
    }
)


def metrics(**changes: Any) -> dict[str, Any]:
    base = {
        "parameter_count": 2410,
        "model_size_mb": 0.0092,
        "accuracy": 0.95,
        "latency_ms_mean": 10.5,
        "latency_ms_median": 10.0,
        "latency_ms_p95": 12.0,
        "latency_ms_p99": 14.0,
        "latency_ms_std": 1.2,
        "throughput_samples_per_sec": 95.0,
    }
    return base | changes


OPTIMIZED = {
    "model_size_mb": 0.0023,
    "accuracy": 0.94,
    "latency_ms_mean": 5.2,
    "latency_ms_median": 5.0,
    "latency_ms_p95": 6.0,
    "latency_ms_p99": 7.0,
}


def course_submission() -> dict[str, Any]:
    """As the course's own tools write one: no evidence, improvements worked out by hand."""
    return {
        "tinytorch_version": "0.1.0",
        "submission_type": "capstone_benchmark",
        "timestamp": "2026-11-28 12:00:00",
        "system_info": {"platform": "Linux-x86_64", "python_version": "3.11.7", "numpy_version": "1.26.4"},
        "student_name": "Ada",
        "baseline": {"model_name": "DigitMLP", "metrics": metrics()},
        "optimized": {
            "model_name": "DigitMLP-int8",
            "metrics": metrics(**OPTIMIZED),
            "techniques_applied": ["int8 quantization"],
        },
        "improvements": {"speedup": 10.5 / 5.2, "compression_ratio": 4.0, "accuracy_delta": -0.01},
    }


def edited(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy with the dotted path set to value (or removed, for DELETE)."""
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return data


def codes(findings: list[Finding], level: str = "error") -> list[str]:
    return [finding.code for finding in findings if finding.level == level]


def text(findings: list[Finding]) -> str:
    return "\n".join(map(str, findings))


def write_run(benchmark: Benchmark, folder: Path) -> None:
    """What loadgen.run's write_outputs writes, as far as evidence goes."""
    folder.mkdir(parents=True)
    benchmark.trace.save(folder / "trace.npz")
    result = benchmark.result.model_copy(update={"files": {"trace.npz": sha256_file(folder / "trace.npz")}})
    (folder / "result.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")


def accuracy(sut: TinyTorchSUT) -> float:
    everything = np.arange(sut.qsl.total_sample_count)
    return float(np.mean(sut.run_batch(sut.qsl.prepare(everything)).argmax(axis=1) == sut.qsl.labels))


@pytest.fixture(scope="module")
def evidence_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A submission with real evidence: DigitMLP against its int8 copy, measured here."""
    folder = tmp_path_factory.mktemp("capstone")
    fingerprint = collect_fingerprint()
    runs: dict[str, tuple[RunResult, dict[str, Any]]] = {}
    for side, name in (("baseline", "digit_mlp"), ("optimized", "digit_mlp_int8")):
        sut = wrap_model_over_tinydigits(load_model(name))
        benchmark = run_benchmark(sut, sut.qsl, RUN_SETTINGS, fingerprint=fingerprint)
        write_run(benchmark, folder / side)
        runs[side] = (benchmark.result, sut.model_facts() | {"accuracy": accuracy(sut)})
    submission = build_submission(
        runs["baseline"][0],
        runs["optimized"][0],
        runs["baseline"][1],
        runs["optimized"][1],
        ["int8 quantization"],
        "Ada",
        build_evidence(folder, {"baseline": folder / "baseline", "optimized": folder / "optimized"}),
        created=dt.datetime(2026, 11, 28, 12, 0, 0),
    )
    (folder / "submission.json").write_text(json.dumps(submission, indent=2), encoding="utf-8")
    return folder


@pytest.fixture
def evidenced(evidence_source: Path, tmp_path: Path) -> Path:
    """A private copy of the evidenced submission's folder, free to tamper with."""
    return Path(shutil.copytree(evidence_source, tmp_path / "submission"))


def submission_of(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "submission.json").read_text(encoding="utf-8"))
    return data


def rehash(folder: Path, data: dict[str, Any], relative: str) -> dict[str, Any]:
    data["evidence"]["sha256"][relative] = sha256_file(folder / relative)
    return data


def test_a_course_made_submission_passes_unverified() -> None:
    findings = validate_submission(course_submission(), Path("."))
    assert is_valid(findings), text(findings)
    assert codes(findings, "warning") == ["unverified"]
    assert "no evidence (made by the course's tools?)" in text(findings)


def test_strict_makes_a_missing_evidence_an_error() -> None:
    findings = validate_submission(course_submission(), Path("."), strict=True)
    assert codes(findings) == ["unverified"]


def test_a_generated_submission_passes_with_its_evidence(evidence_source: Path) -> None:
    data = submission_of(evidence_source)
    findings = validate_submission(data, evidence_source)
    assert [f for f in findings if f.level != "info"] == [], text(findings)
    assert set(data) == {
        "tinytorch_version", "submission_type", "timestamp", "system_info", "student_name",
        "baseline", "optimized", "improvements", "harness", "evidence",
    }
    course = data["improvements"]
    base, opt = data["baseline"]["metrics"], data["optimized"]["metrics"]
    assert course["speedup"] == base["latency_ms_mean"] / opt["latency_ms_mean"]  # the course's formula, exactly
    assert data["harness"]["speedup_median"] == base["latency_ms_median"] / opt["latency_ms_median"]
    for side in ("baseline", "optimized"):
        values = data[side]["metrics"]
        assert type(values["parameter_count"]) is int
        assert all(type(value) in (int, float) for value in values.values())
        assert values["latency_ms_median"] <= values["latency_ms_p95"] <= values["latency_ms_p99"]
    assert data["baseline"]["metrics"]["parameter_count"] == 2410
    assert data["baseline"]["metrics"]["model_size_mb"] == 2410 * 4 / 2**20


@pytest.mark.parametrize(
    ("path", "value", "code", "reason"),
    [
        ("optimized.metrics.latency_ms_mean", 5.5, "improvement_mismatch", "improvements.speedup is 2.019"),
        ("improvements.compression_ratio", 4.1, "improvement_mismatch", "two model_size_mb values give 4"),
        (
            "baseline.metrics.latency_ms_mean",
            "12.0",
            "schema",
            "baseline.metrics.latency_ms_mean: expected a plain number (int or float), got a string '12.0'",
        ),
        (
            "optimized.metrics.latency_ms_p95",
            {"value": 6.0, "dtype": "float32"},
            "schema",
            "got an object with keys ['dtype', 'value']",
        ),
        ("baseline.metrics.accuracy", np.float32(0.95), "schema", "got a numpy float32"),
        ("baseline.metrics.parameter_count", True, "schema", "got a boolean (true)"),
        ("baseline.metrics.parameter_count", 2410.0, "schema", "expected a plain whole number (int), got a float"),
        ("optimized.metrics.latency_ms_mean", float("nan"), "schema", "must be finite, got nan"),
        ("optimized.metrics.latency_ms_mean", -5.2, "schema", "must be positive"),
        ("baseline.metrics.accuracy", 1.5, "schema", "must be between 0 and 1"),
        ("baseline.metrics.accuracy", DELETE, "schema", "baseline.metrics.accuracy: missing required field"),
        ("improvements", DELETE, "schema", "improvements: missing required field"),
        ("optimized.metrics.latency_ms_p90", 6.0, "schema", "latency_ms_p90: unknown field"),
        ("submission_type", "homework", "schema", "submission_type: Input should be 'capstone_benchmark'"),
        ("timestamp", "2026-11-28T12:00:00Z", "schema", "expected a time as '%Y-%m-%d %H:%M:%S'"),
        ("optimized.techniques_applied", "int8", "schema", "techniques_applied: Input should be a valid list"),
        ("optimized.metrics.latency_ms_median", 6.5, "percentile_order", "latency_ms_median 6.5 > latency_ms_p95 6.0"),
    ],
)
def test_an_edited_submission_is_rejected_with_its_reason(path: str, value: Any, code: str, reason: str) -> None:
    findings = validate_submission(edited(course_submission(), path, value), Path("."))
    assert code in codes(findings), text(findings)
    assert reason in text(findings)


def test_nan_and_duplicate_keys_in_the_file_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "submission.json"
    path.write_text(json.dumps(course_submission()).replace('"latency_ms_std": 1.2', '"latency_ms_std": NaN'))
    expected = Finding("error", "non_finite", f"{path} contains NaN, which JSON does not allow")
    assert load_submission(path) == (None, [expected])
    path.write_text('{"a": 1, "a": 2}')
    data, findings = load_submission(path)
    assert data is None and codes(findings) == ["duplicate_key"]


def test_loading_refuses_a_file_that_is_too_large_or_not_json(tmp_path: Path) -> None:
    path = tmp_path / "submission.json"
    path.write_text(json.dumps(course_submission()))
    assert codes(load_submission(path, max_bytes=100)[1]) == ["too_large"]
    path.write_text("{not json")
    with pytest.raises(ValueError, match="is not JSON"):
        load_submission(path)


@pytest.mark.parametrize(
    ("changes", "level", "code"),
    [
        ({"latency_ms_median": 0.4, "latency_ms_p95": 0.5, "latency_ms_p99": 0.6}, "warning", "suspicious"),
        ({"latency_ms_median": 0.1, "latency_ms_p95": 0.5, "latency_ms_p99": 0.6}, "error", "implausible"),
        ({"model_size_mb": 0.0092 / 20}, "warning", "suspicious"),
        ({"model_size_mb": 0.0092 / 40}, "error", "implausible"),
        ({"accuracy": 0.97}, "warning", "accuracy_gain"),
    ],
)
def test_sanity_limits(changes: dict[str, Any], level: str, code: str) -> None:
    data = course_submission()
    data["optimized"]["metrics"] |= changes
    baseline, optimized = data["baseline"]["metrics"], data["optimized"]["metrics"]
    data["improvements"] = {
        "speedup": baseline["latency_ms_median"] / optimized["latency_ms_median"],
        "compression_ratio": baseline["model_size_mb"] / optimized["model_size_mb"],
        "accuracy_delta": optimized["accuracy"] - baseline["accuracy"],
    }
    findings = validate_submission(data, Path("."))
    assert code in codes(findings, level), text(findings)
    if code == "accuracy_gain":
        assert "accuracy_gain" not in codes(validate_submission(data | {"division": "open"}, Path(".")), "warning")


def test_event_eligibility_is_reported_as_info() -> None:
    data = course_submission()
    data["baseline"]["metrics"]["accuracy"] = 0.83
    data["optimized"]["metrics"]["accuracy"] = 0.82
    data["improvements"]["accuracy_delta"] = -0.01
    infos = [str(f) for f in validate_submission(data, Path(".")) if f.level == "info"]
    assert infos == [
        "info: event: latency_sprint: not eligible (accuracy 0.82 < 0.85)",
        "info: event: memory_challenge: not eligible (accuracy 0.82 < 0.85)",
        "info: event: accuracy_contest: eligible (latency_ms_median 5 < 100, model_size_mb 0.0023 < 10)",
        "info: event: all_around: eligible (always qualifies)",
        "info: event: extreme_push: eligible (accuracy 0.82 >= 0.8)",
    ]


def test_the_writer_converts_numpy_scalars_and_refuses_what_is_not_a_number(evidence_source: Path) -> None:
    result = RunResult.model_validate_json((evidence_source / "baseline" / "result.json").read_text())
    facts = {
        "name": "m",
        "parameter_count": np.int64(2410),
        "model_size_mb": np.float32(0.5),
        "accuracy": np.float64(0.9),
    }
    data = build_submission(result, result, facts, facts, [], None, None)
    assert type(data["baseline"]["metrics"]["parameter_count"]) is int
    assert type(data["baseline"]["metrics"]["model_size_mb"]) is float
    assert "student_name" not in data and "evidence" not in data
    with pytest.raises(TypeError, match="accuracy: expected a number, got a string"):
        build_submission(result, result, facts, facts | {"accuracy": "0.9"}, [], None, None)
    with pytest.raises(ValueError, match="optimized facts lack accuracy"):
        build_submission(result, result, facts, {k: v for k, v in facts.items() if k != "accuracy"}, [], None, None)


def test_a_tampered_evidence_file_is_rejected(evidenced: Path) -> None:
    with (evidenced / "optimized" / "result.json").open("a") as handle:
        handle.write(" ")
    findings = validate_submission(submission_of(evidenced), evidenced)
    assert codes(findings) == ["evidence_hash"]
    assert "optimized/result.json: sha256 differs" in text(findings)


@pytest.mark.parametrize(
    ("relative", "reason"),
    [("../x", "must not contain '..'"), ("/etc/passwd", "must be a relative path"), ("baseline\\x", "relative path")],
)
def test_an_evidence_path_leaving_the_folder_is_rejected(evidenced: Path, relative: str, reason: str) -> None:
    data = submission_of(evidenced)
    data["evidence"]["sha256"][relative] = "0" * 64
    findings = validate_submission(data, evidenced)
    assert codes(findings) == ["evidence_path"] and reason in text(findings)


def test_an_evidence_symlink_leaving_the_folder_is_rejected(evidenced: Path) -> None:
    outside = evidenced.parent / "outside.json"
    outside.write_text("{}")
    os.symlink(outside, evidenced / "link.json")
    data = rehash(evidenced, submission_of(evidenced), "link.json")
    findings = validate_submission(data, evidenced)
    assert codes(findings) == ["evidence_path"] and "resolves outside the submission's folder" in text(findings)


def test_a_missing_evidence_file_is_rejected(evidenced: Path) -> None:
    (evidenced / "optimized" / "trace.npz").unlink()
    findings = validate_submission(submission_of(evidenced), evidenced)
    assert "evidence file 'optimized/trace.npz': no such file" in text(findings)


def test_result_figures_that_do_not_follow_from_the_trace_are_rejected(evidenced: Path) -> None:
    path = evidenced / "baseline" / "result.json"
    result = json.loads(path.read_text())
    result["metrics"]["latency"]["mean_ns"] *= 0.5
    path.write_text(json.dumps(result))
    findings = validate_submission(rehash(evidenced, submission_of(evidenced), "baseline/result.json"), evidenced)
    assert codes(findings) == ["evidence_metrics"]
    assert "baseline result.json: metrics do not follow from its trace: latency.mean_ns" in text(findings)


def test_a_rehashed_edited_trace_is_rejected(evidenced: Path) -> None:
    path = evidenced / "optimized" / "trace.npz"
    trace = Trace.load(path)
    trace.completed_ns[:] += 5_000_000
    trace.save(path)
    findings = validate_submission(rehash(evidenced, submission_of(evidenced), "optimized/trace.npz"), evidenced)
    assert "evidence_metrics" in codes(findings) and "claim_mismatch" in codes(findings)
    assert "optimized result.json names a different trace.npz" in text(findings)


def test_a_claim_the_trace_does_not_support_is_rejected(evidenced: Path) -> None:
    data = submission_of(evidenced)
    data["optimized"]["metrics"]["latency_ms_p99"] *= 1.5
    findings = validate_submission(data, evidenced)
    assert codes(findings) == ["claim_mismatch"]
    assert "optimized.metrics.latency_ms_p99 is" in text(findings)


def test_a_model_fact_the_run_did_not_record_is_rejected(evidenced: Path) -> None:
    data = submission_of(evidenced)
    data["baseline"]["metrics"]["parameter_count"] = 2000
    findings = validate_submission(data, evidenced)
    assert codes(findings) == ["claim_mismatch"]
    assert "baseline.metrics.parameter_count is 2000 but the run recorded 2410" in text(findings)


def test_runs_from_another_machine_are_rejected(evidenced: Path) -> None:
    data = submission_of(evidenced)
    data["evidence"]["hardware_hash"] = "0123456789abcdef"
    findings = validate_submission(data, evidenced)
    assert codes(findings) == ["evidence_fingerprint", "evidence_fingerprint"]


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadgen.validate", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_accepts_a_sound_submission(evidenced: Path) -> None:
    done = run_cli(evidenced / "submission.json")
    assert done.returncode == 0, done.stdout + done.stderr
    *findings, verdict, compliance = done.stdout.splitlines()
    assert verdict == "submission VALID"
    assert compliance.startswith("NOT COMPLIANT: baseline: min_duration_ms = 0, the capstone rules require >= 5000")
    assert all(line.startswith("info: event: ") for line in findings)


def test_cli_rejects_a_tampered_submission_one_finding_a_line(evidenced: Path) -> None:
    (evidenced / "baseline" / "trace.npz").write_bytes(b"PK")
    done = run_cli(evidenced / "submission.json")
    assert done.returncode == 3  # INVALID (the one exit-code table)
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "error: evidence_hash: evidence file baseline/trace.npz: sha256 differs (edited after submission?)"
    )
    assert lines[-2:] == ["submission INVALID", "NOT COMPLIANT: the evidence files do not check out"]


def test_cli_strict_rejects_an_unverified_submission(tmp_path: Path) -> None:
    path = tmp_path / "submission.json"
    path.write_text(json.dumps(course_submission()))
    assert run_cli(path).returncode == 0
    done = run_cli(path, "--strict")
    assert done.returncode == 3 and "error: unverified: no evidence" in done.stdout


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    missing = run_cli(tmp_path / "absent.json")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    (tmp_path / "bad.json").write_text("not json")
    assert run_cli(tmp_path / "bad.json").returncode == 2
