"""Building a submission.json from finished runs (baseline, optionally optimized) and their evidence folders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.capstone.course import across_runs, compute_improvements, median_speedup, run_figures
from loadgen.capstone.schema import (
    EVIDENCE_FORMAT,
    EVIDENCE_FORMAT_REPEATED,
    SUBMISSION_TYPE,
    TIMESTAMP_FORMAT,
    TINYTORCH_VERSION,
    check_schema,
    describe_value,
)
from loadgen.metrics.result import RunResult
from loadgen.results.files import sha256_file


def plain(value: Any, what: str) -> int | float:
    """A Python int or float from a number of any kind (numpy scalars included); refuses the rest."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what}: expected a number, got {describe_value(value)}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    raise TypeError(f"{what}: expected a number, got {describe_value(value)}")


Runs = RunResult | Sequence[RunResult]
"""One run of a model, or its repeated runs (their figures are stated across runs)."""


def _as_list(runs: Runs) -> list[RunResult]:
    return [runs] if isinstance(runs, RunResult) else list(runs)


def _side_metrics(runs: Runs, facts: Mapping[str, Any], side: str) -> dict[str, int | float]:
    results = _as_list(runs)
    if not results:
        raise ValueError(f"no {side} run to submit")
    per_run = []
    for result in results:
        if result.error is not None or result.metrics is None:
            raise ValueError(f"the {side} run did not complete ({result.error}); it cannot be submitted")
        per_run.append(run_figures(result.metrics))
    missing = [key for key in ("parameter_count", "model_size_mb", "accuracy") if facts.get(key) is None]
    if missing:
        raise ValueError(f"{side} facts lack {', '.join(missing)}")
    metrics: dict[str, int | float] = {
        key: plain(facts[key], f"{side}.{key}") for key in ("parameter_count", "model_size_mb", "accuracy")
    }
    for key in (key for key in per_run[0] if all(key in figures for figures in per_run)):
        metrics[key] = plain(across_runs([figures[key] for figures in per_run]), f"{side}.{key}")
    return metrics


def system_info(fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    """The course's system_info from a run's fingerprint, plus the CPU and the hardware hash."""
    try:
        os_part = fingerprint["os"]
        return {
            "platform": f"{os_part['system']}-{os_part['release']}-{os_part['machine']}",
            "python_version": fingerprint["python"]["version"],
            "numpy_version": fingerprint["numpy"]["version"],
            "cpu_model": fingerprint["cpu"]["model"],
            "hardware_hash": fingerprint["hardware_hash"],
        }
    except (KeyError, TypeError) as exc:
        raise ValueError(f"the run's fingerprint lacks {exc}: run with a collected fingerprint") from None


def build_submission(
    baseline: Runs,
    optimized: Runs | None,
    baseline_facts: Mapping[str, Any],
    optimized_facts: Mapping[str, Any] | None,
    techniques: list[str],
    student: str | None,
    evidence: Mapping[str, Any] | None,
    created: dt.datetime | None = None,
    harness: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """submission.json in the course's schema (plain ints and floats) from one model (baseline only,
    as module 20's run_example_benchmark writes) or two, each measured once or repeatedly (then each
    latency and throughput figure is stated across the runs: course.ACROSS_RUNS).

    Facts hold `name`, `parameter_count`, `model_size_mb` (MiB) and `accuracy` (0..1) of each
    model. `improvements` are the course's formulas; `harness` holds this harness's own figures.
    Raises ValueError when the result would not pass `check_schema`.
    """
    baseline_metrics = _side_metrics(baseline, baseline_facts, "baseline")
    submission: dict[str, Any] = {
        "tinytorch_version": TINYTORCH_VERSION,
        "submission_type": SUBMISSION_TYPE,
        "timestamp": (created or dt.datetime.now()).strftime(TIMESTAMP_FORMAT),
        "system_info": system_info(_as_list(baseline)[0].fingerprint),
        "baseline": {
            "model_name": str(baseline_facts.get("name") or _as_list(baseline)[0].sut_name),
            "metrics": baseline_metrics,
        },
    }
    if optimized is not None and optimized_facts is not None:
        optimized_metrics = _side_metrics(optimized, optimized_facts, "optimized")
        submission["optimized"] = {
            "model_name": str(optimized_facts.get("name") or _as_list(optimized)[0].sut_name),
            "metrics": optimized_metrics,
            "techniques_applied": list(techniques),
        }
        submission["improvements"] = compute_improvements(baseline_metrics, optimized_metrics)
        figures = {"speedup_median": median_speedup(baseline_metrics, optimized_metrics)}
        submission["harness"] = figures | dict(harness or {})
    if student is not None:
        submission["student_name"] = student
    if evidence is not None:
        submission["evidence"] = dict(evidence)
    _, problems = check_schema(submission)
    if problems:
        raise ValueError("the submission would not be valid: " + "; ".join(p.message for p in problems))
    return submission


def _evidence_run(base: Path, folder: Path, sha256: dict[str, str]) -> dict[str, str]:
    entry = {}
    for key, filename in (("result", "result.json"), ("trace", "trace.npz")):
        path = (folder / filename).resolve()
        if not path.is_relative_to(base):
            raise ValueError(f"{path} is not inside {base}, where submission.json goes")
        relative = path.relative_to(base).as_posix()
        sha256[relative] = sha256_file(path)
        entry[key] = relative
    return entry


def build_evidence(
    base_dir: Path, folders: Mapping[str, Path | Sequence[Path]], rules: str = "capstone"
) -> dict[str, Any]:
    """The `evidence` block for the runs' results folders (result.json, trace.npz), by side, inside
    base_dir, the folder submission.json will be written to; a side given a list of folders (its
    repeated runs) is listed run by run, in format 2."""
    base = base_dir.resolve()
    repeated = any(not isinstance(folder, Path) for folder in folders.values())
    evidence: dict[str, Any] = {"format": EVIDENCE_FORMAT_REPEATED if repeated else EVIDENCE_FORMAT,
                                "sha256": {}, "rules": rules}
    for side, listed in folders.items():
        if isinstance(listed, Path):
            evidence[side] = _evidence_run(base, listed, evidence["sha256"])
        else:
            evidence[side] = [_evidence_run(base, folder, evidence["sha256"]) for folder in listed]
    first = folders["baseline"]
    baseline_dir = first if isinstance(first, Path) else first[0]
    result = RunResult.model_validate_json((baseline_dir / "result.json").read_text(encoding="utf-8"))
    if "hardware_hash" not in result.fingerprint:
        raise ValueError(f"{baseline_dir / 'result.json'} has no fingerprint: run with a collected fingerprint")
    evidence["hardware_hash"] = result.fingerprint["hardware_hash"]
    return evidence
