"""Evidence checks: files inside the folder with matching hashes, figures recomputed from the traces,
and compliance with the rule set the runs claim.

Everything is read through `loadgen.capstone.reading` (each file once, within one budget, npz
headers checked before any allocation) and every problem is a finding, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from loadgen.analysis import stats
from loadgen.capstone.compliance import RuleSet, capstone_rules, check_compliance
from loadgen.capstone.course import ACROSS_RUNS, across_runs, close, run_figures
from loadgen.capstone.reading import MAX_EVIDENCE_BYTES, EvidenceReader, read_npz, trace_from_arrays
from loadgen.capstone.schema import (
    RTOL,
    Evidence,
    EvidenceRun,
    Finding,
    Submission,
    SubmissionMetrics,
    parse_strict_json,
)
from loadgen.engine.trace import Trace
from loadgen.machine.fingerprint import hardware_hash
from loadgen.metrics.figures import Metrics, compute_metrics, query_latencies_ns
from loadgen.metrics.result import RunResult
from loadgen.settings.model import Scenario, TestSettings

MAX_RESULT_BYTES = 16 * 2**20

__all__ = [
    "MAX_EVIDENCE_BYTES", "MeasuredRun", "check_evidence_files", "check_evidence_runs", "load_result", "load_trace",
    "recompute",
]


@dataclass(frozen=True)
class MeasuredRun:
    """One evidence run as the validator re-derived it from its trace: the course's figures and, for
    a run long enough to have one, the batch-means 95% interval of its median latency, in ms."""

    side: str
    label: str
    figures: dict[str, float]
    median_interval: stats.Interval | None


def check_evidence_files(evidence: Evidence, reader: EvidenceReader) -> list[Finding]:
    """Every referenced file is listed, stays inside the folder, is size-bounded and matches its
    sha256; a file listed under two names (`a`, `./a`, a symlink) is read once and reported; and
    each run has files of its own (a run listed twice or copied is not a repeat)."""
    findings = []
    for _, label, run in evidence.runs():
        for listed in (run.result, run.trace):
            if listed not in evidence.sha256:
                findings.append(Finding("error", "evidence", f"evidence.{label}: {listed} is not in evidence.sha256"))
    seen: dict[Path, str] = {}
    for relative, expected in evidence.sha256.items():
        try:
            path = reader.resolve(relative)
            if path in seen:
                message = f"evidence file {relative!r} is {seen[path]!r} again: list each file once"
                findings.append(Finding("error", "evidence_path", message))
                continue
            seen[path] = relative
            actual = reader.sha256(relative)
        except (ValueError, OSError) as exc:
            findings.append(Finding("error", "evidence_path", f"evidence file {relative!r}: {exc}"))
            continue
        if actual != expected:
            message = f"evidence file {relative}: sha256 differs (edited after submission?)"
            findings.append(Finding("error", "evidence_hash", message))
    return findings or _shared_files(evidence, reader)


def _shared_files(evidence: Evidence, reader: EvidenceReader) -> list[Finding]:
    """Runs that share a file, or whose traces are byte-for-byte copies: each run must be measured."""
    findings = []
    owners: dict[Path | str, str] = {}
    for _, label, run in evidence.runs():
        for kind, listed in (("result", run.result), ("trace", run.trace)):
            try:
                keys: tuple[Path | str, ...] = (reader.resolve(listed), f"{kind} {reader.sha256(listed)}")
            except (ValueError, OSError) as exc:  # gone since it was hashed
                findings.append(Finding("error", "evidence_path", f"evidence file {listed!r}: {exc}"))
                continue
            for key in keys:
                other = owners.setdefault(key, label)
                if other != label:
                    how = "is" if isinstance(key, Path) else "is a byte-for-byte copy of"
                    message = f"evidence.{label}: its {kind} {listed} {how} {other}'s: each run needs files of its own"
                    findings.append(Finding("error", "evidence_duplicate", message))
                    break
    return findings


def load_result(raw: bytes, what: str = "result.json") -> RunResult:
    """A result.json read as strictly as submission.json (no NaN, no duplicate keys, no number
    beyond a float) and then validated; ValueError saying what is wrong otherwise."""
    if len(raw) > MAX_RESULT_BYTES:
        raise ValueError(f"{what}: larger than {MAX_RESULT_BYTES} bytes")
    data, problems = parse_strict_json(raw, what)
    if problems:
        raise ValueError(problems[0].message)
    try:
        result = RunResult.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{what}: not a result.json: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if result.total_sample_count < 0 or result.performance_sample_count < 0:
        raise ValueError(f"{what}: negative sample counts")
    return result


def load_trace(raw: bytes, result: RunResult, max_bytes: int = MAX_EVIDENCE_BYTES) -> Trace:
    """The trace in `raw`, checked column by column and against its result's sample count."""
    trace = trace_from_arrays(read_npz(raw, max_bytes), max_bytes)
    if len(trace) and int(trace.sample_index.max()) >= max(result.total_sample_count, 1):
        raise ValueError(
            f"sample_index reaches {int(trace.sample_index.max())}, beyond the run's "
            f"{result.total_sample_count} samples"
        )
    return trace


def _metric_differences(stored: Mapping[str, Any], recomputed: Mapping[str, Any], prefix: str = "") -> list[str]:
    differences = []
    for key in sorted(set(stored) | set(recomputed)):
        a, b = stored.get(key), recomputed.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            differences += _metric_differences(a, b, f"{prefix}{key}.")
        elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
            if not close(a, b):
                differences.append(f"{prefix}{key}")
        elif a != b:
            differences.append(f"{prefix}{key}")
    return differences


def recompute(side: str, result: RunResult, trace: Trace) -> tuple[Metrics | None, list[Finding]]:
    """The run's metrics from its trace; errors when result.json's own metrics disagree."""
    try:
        settings = TestSettings.model_validate(result.settings_effective)
    except ValidationError as exc:
        message = f"{side} result.json: settings_effective do not load: {exc.errors()[0]['msg']}"
        return None, [Finding("error", "evidence", message)]
    try:
        recomputed = compute_metrics(trace, settings)
    except (ValueError, IndexError, TypeError, OverflowError, ZeroDivisionError) as exc:  # a crafted trace
        return None, [Finding("error", "evidence_trace", f"{side} trace: cannot compute metrics: {exc}")]
    stored = result.metrics.model_dump() if result.metrics is not None else {}
    differences = _metric_differences(stored, recomputed.model_dump())
    if differences:
        return recomputed, [
            Finding(
                "error",
                "evidence_metrics",
                f"{side} result.json: metrics do not follow from its trace: {', '.join(differences[:6])}",
            )
        ]
    return recomputed, []


def recorded_facts(result: RunResult) -> dict[str, float]:
    """The model facts and top-1 accuracy a run recorded in result.json, where it did."""
    facts = {
        key: float(value)
        for key, value in (result.model or {}).items()
        if key in ("parameter_count", "model_size_mb") and type(value) in (int, float)
    }
    if result.accuracy is not None and result.accuracy.top1 is not None:
        facts["accuracy"] = result.accuracy.top1
    return facts


def _check_claims(
    side: str, claimed: SubmissionMetrics, runs: list[tuple[str, Metrics, RunResult]]
) -> list[Finding]:
    """The submission's figures against the traces' (latency, throughput; across repeated runs, the
    ACROSS_RUNS figure) and against every run's records (model facts, accuracy)."""
    per_run = []
    for label, recomputed, _ in runs:
        try:
            per_run.append(run_figures(recomputed))
        except ValueError as exc:
            return [Finding("error", "evidence_trace", f"{label} trace: {exc}")]
    source = "the trace gives" if len(runs) == 1 else f"the {len(runs)} runs' traces give ({ACROSS_RUNS})"
    figures = {
        key: (across_runs([figures[key] for figures in per_run]), source)
        for key in per_run[0] if all(key in figures for figures in per_run)
    }
    findings = _mismatches(side, claimed, figures)
    for label, _, result in runs:
        recorded = "the run recorded" if len(runs) == 1 else f"{label} recorded"
        findings += _mismatches(side, claimed, {key: (v, recorded) for key, v in recorded_facts(result).items()})
    return findings


def _mismatches(side: str, claimed: SubmissionMetrics, figures: Mapping[str, tuple[float, str]]) -> list[Finding]:
    findings = []
    for key, (value, source) in figures.items():
        stated = getattr(claimed, key)
        if stated is not None and not close(stated, value):
            message = f"{side}.metrics.{key} is {stated} but {source} {value:.9g} (rtol {RTOL:g})"
            findings.append(Finding("error", "claim_mismatch", message))
    return findings


def _check_runs_interval(
    submission: Submission, runs: Mapping[str, list[tuple[str, Metrics, RunResult]]]
) -> list[Finding]:
    """Over repeated runs, harness.speedup_median_interval is the Welch t interval of the ratio of the
    runs' medians (what loadgen.submit --runs writes): recomputed, it must match."""
    harness = submission.harness
    if harness is None or harness.speedup_median_interval is None or min(
            len(runs.get("baseline", [])), len(runs.get("optimized", []))) < 2:
        return []
    try:
        medians = [[run_figures(metrics)["latency_ms_median"] for _, metrics, _ in runs[side]]
                   for side in ("baseline", "optimized")]
        found = stats.ratio_interval(medians[0], medians[1], higher_is_better=False).interval
    except ValueError:
        return []  # no latencies: _check_claims says so
    claimed = list(harness.speedup_median_interval)
    if found is None or (close(claimed[0], found.low) and close(claimed[1], found.high)):
        return []
    message = (f"harness.speedup_median_interval {claimed} does not follow from the runs: the 95% "
               f"{found.method} interval of their medians is [{found.low:.9g}, {found.high:.9g}]")
    return [Finding("error", "harness", message)]


def _measured(side: str, label: str, recomputed: Metrics, result: RunResult, trace: Trace) -> MeasuredRun:
    """What the leaderboard ranks by and decides ties with, from a run whose metrics recomputed."""
    try:
        figures = run_figures(recomputed)
        latencies = query_latencies_ns(trace, Scenario(result.scenario))
        interval = stats.percentile_interval(latencies, 0.5) if latencies.size else None
    except (ValueError, IndexError):  # no latencies, or a scenario the trace does not fit: nothing to rank by
        return MeasuredRun(side, label, {}, None)
    if interval is not None:
        interval = stats.Interval(interval.low / 1e6, interval.high / 1e6, interval.level, interval.method)
    return MeasuredRun(side, label, figures, interval)


def _check_run_record(label: str, result: RunResult, evidence: Evidence, run: EvidenceRun) -> list[Finding]:
    """How the run ended, which machine it ran on, and that result.json names the same trace."""
    findings = []
    if result.error is not None:
        findings.append(Finding("error", "evidence_run", f"the {label} run did not complete: {result.error}"))
    try:
        machine = hardware_hash(result.fingerprint)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        return [*findings, Finding("error", "evidence_fingerprint", f"{label} result.json: fingerprint: {exc!r}")]
    if machine != result.fingerprint.get("hardware_hash"):
        message = f"{label} result.json: hardware_hash does not match its fingerprint"
        findings.append(Finding("error", "evidence_fingerprint", message))
    if machine != evidence.hardware_hash:
        findings.append(
            Finding(
                "error",
                "evidence_fingerprint",
                f"the {label} run ran on machine {machine}, not {evidence.hardware_hash}: "
                "both models must be measured on the same machine",
            )
        )
    trace_sha = evidence.sha256.get(run.trace)
    if "trace.npz" in result.files and result.files["trace.npz"] != trace_sha:
        findings.append(Finding("error", "evidence_hash", f"{label} result.json names a different trace.npz"))
    return findings


def _read_run(side: str, run: EvidenceRun, reader: EvidenceReader) -> tuple[RunResult, Trace]:
    try:
        result = load_result(reader.read(run.result), f"{side} result.json")
        trace = load_trace(reader.read(run.trace), result, reader.max_file_bytes)
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror or exc}") from None
    return result, trace


def check_evidence_runs(
    submission: Submission, evidence: Evidence, reader: EvidenceReader, rules: RuleSet | None = None
) -> tuple[list[Finding], list[str] | None, list[MeasuredRun]]:
    """Each run's result.json and trace: the figures recompute and match the submission's (a side's
    repeated runs together). Also the rules broken (None when a run could not be read, so compliance
    cannot be judged), and what each run whose metrics recomputed measured."""
    findings: list[Finding] = []
    results: dict[str, RunResult] = {}
    recomputed_runs: dict[str, list[tuple[str, Metrics, RunResult]]] = {}
    measured: list[MeasuredRun] = []
    listed = evidence.runs()
    for side, label, run in listed:
        try:
            result, trace = _read_run(label, run, reader)
        except ValueError as exc:
            findings.append(Finding("error", "evidence", f"evidence.{label}: {exc}"))
            continue
        results[label] = result
        findings += _check_run_record(label, result, evidence, run)
        recomputed, problems = recompute(label, result, trace)
        findings += problems
        if recomputed is not None:
            recomputed_runs.setdefault(side, []).append((label, recomputed, result))
            measured.append(_measured(side, label, recomputed, result, trace))
    for side, runs in recomputed_runs.items():
        if len(runs) == sum(1 for listed_side, _, _ in listed if listed_side == side):
            findings += _check_claims(side, getattr(submission, side).metrics, runs)
    findings += _check_runs_interval(submission, recomputed_runs)
    scenarios = {label: result.scenario for label, result in results.items()}
    if len(set(scenarios.values())) > 1:
        message = f"the runs used different scenarios: {scenarios}; compare like with like"
        findings.append(Finding("error", "evidence_scenario", message))
    if len(results) != len(listed):
        return findings, None, measured
    return findings, check_compliance(results, rules or capstone_rules()), measured
