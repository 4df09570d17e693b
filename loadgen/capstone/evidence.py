"""Evidence checks: files inside the folder with matching hashes, figures recomputed from the traces."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import ValidationError

from loadgen.capstone.course import close, run_figures
from loadgen.capstone.schema import RTOL, Evidence, EvidenceRun, Finding, Submission, SubmissionMetrics
from loadgen.engine.trace import Trace
from loadgen.machine.fingerprint import hardware_hash
from loadgen.metrics.figures import Metrics, compute_metrics
from loadgen.metrics.result import RunResult
from loadgen.results.files import sha256_file
from loadgen.settings.model import TestSettings

MAX_RESULT_BYTES = 16 * 2**20


MAX_EVIDENCE_BYTES = 1 << 30
"""Largest evidence file (and largest expanded trace) read; a 64 M-sample trace fits."""


def _evidence_path(base: Path, relative: str) -> Path:
    """The file a relative evidence path names; ValueError when it could leave base."""
    if "\\" in relative or PurePosixPath(relative).is_absolute() or PureWindowsPath(relative).drive:
        raise ValueError("must be a relative path with / separators")
    if ".." in PurePosixPath(relative).parts:
        raise ValueError("must not contain '..'")
    try:
        path = (base / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        raise ValueError("no such file") from None
    if not path.is_relative_to(base):
        raise ValueError("resolves outside the submission's folder (through a symlink)")
    if not path.is_file():
        raise ValueError("is not a regular file")
    return path


def check_evidence_files(evidence: Evidence, base_dir: Path, max_bytes: int) -> list[Finding]:
    """Every referenced file is listed, stays inside base_dir, is size-bounded and matches its sha256."""
    base = base_dir.resolve()
    findings = []
    for side in ("baseline", "optimized"):
        run: EvidenceRun = getattr(evidence, side)
        for listed in (run.result, run.trace):
            if listed not in evidence.sha256:
                findings.append(Finding("error", "evidence", f"evidence.{side}: {listed} is not in evidence.sha256"))
    for relative, expected in evidence.sha256.items():
        try:
            path = _evidence_path(base, relative)
        except ValueError as exc:
            findings.append(Finding("error", "evidence_path", f"evidence file {relative!r}: {exc}"))
            continue
        size = path.stat().st_size
        if size > max_bytes:
            findings.append(Finding("error", "evidence", f"evidence file {relative}: {size} bytes, limit {max_bytes}"))
        elif sha256_file(path) != expected:
            message = f"evidence file {relative}: sha256 differs (edited after submission?)"
            findings.append(Finding("error", "evidence_hash", message))
    return findings


def _load_result(path: Path) -> RunResult:
    if path.stat().st_size > MAX_RESULT_BYTES:
        raise ValueError(f"larger than {MAX_RESULT_BYTES} bytes")
    try:
        return RunResult.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"not a result.json: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _load_trace(path: Path, max_bytes: int) -> Trace:
    """Trace.load after checking the npz expands to at most max_bytes (no decompression bombs)."""
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise ValueError("not an npz archive") from None
    if expanded > max_bytes:
        raise ValueError(f"expands to {expanded} bytes, limit {max_bytes}")
    return Trace.load(path)


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


def _recompute(side: str, result: RunResult, trace: Trace) -> tuple[Metrics | None, list[Finding]]:
    """The run's metrics from its trace; errors when result.json's own metrics disagree."""
    try:
        settings = TestSettings.model_validate(result.settings_effective)
    except ValidationError as exc:
        message = f"{side} result.json: settings_effective do not load: {exc.errors()[0]['msg']}"
        return None, [Finding("error", "evidence", message)]
    try:
        recomputed = compute_metrics(trace, settings)
    except (ValueError, IndexError, TypeError) as exc:  # a crafted trace: columns that do not fit together
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


def _check_claims(side: str, claimed: SubmissionMetrics, recomputed: Metrics, result: RunResult) -> list[Finding]:
    """The submission's figures against the trace's (latency, throughput) and the run's records."""
    try:
        figures = {key: (value, "the trace gives") for key, value in run_figures(recomputed).items()}
    except ValueError as exc:
        return [Finding("error", "evidence_trace", f"{side} trace: {exc}")]
    figures |= {key: (value, "the run recorded") for key, value in recorded_facts(result).items()}
    findings = []
    for key, (value, source) in figures.items():
        stated = getattr(claimed, key)
        if stated is not None and not close(stated, value):
            message = f"{side}.metrics.{key} is {stated} but {source} {value:.9g} (rtol {RTOL:g})"
            findings.append(Finding("error", "claim_mismatch", message))
    return findings


def _check_run_record(side: str, result: RunResult, evidence: Evidence) -> list[Finding]:
    """How the run ended, which machine it ran on, and that result.json names the same trace."""
    findings = []
    if result.error is not None:
        findings.append(Finding("error", "evidence_run", f"the {side} run did not complete: {result.error}"))
    elif not result.valid:
        findings.append(
            Finding("warning", "evidence_run", f"the {side} run was INVALID: {'; '.join(result.invalid_reasons)}")
        )
    try:
        machine = hardware_hash(result.fingerprint)
    except (KeyError, TypeError) as exc:
        return [*findings, Finding("error", "evidence_fingerprint", f"{side} result.json: fingerprint lacks {exc}")]
    if machine != result.fingerprint.get("hardware_hash"):
        message = f"{side} result.json: hardware_hash does not match its fingerprint"
        findings.append(Finding("error", "evidence_fingerprint", message))
    if machine != evidence.hardware_hash:
        findings.append(
            Finding(
                "error",
                "evidence_fingerprint",
                f"the {side} run ran on machine {machine}, not {evidence.hardware_hash}: "
                "both models must be measured on the same machine",
            )
        )
    trace_sha = evidence.sha256.get(getattr(evidence, side).trace)
    if "trace.npz" in result.files and result.files["trace.npz"] != trace_sha:
        findings.append(Finding("error", "evidence_hash", f"{side} result.json names a different trace.npz"))
    return findings


def check_evidence_runs(submission: Submission, evidence: Evidence, base_dir: Path, max_bytes: int) -> list[Finding]:
    """Each run's result.json and trace: the figures recompute and match the submission's."""
    base = base_dir.resolve()
    findings: list[Finding] = []
    scenarios = {}
    for side in ("baseline", "optimized"):
        run: EvidenceRun = getattr(evidence, side)
        try:
            result = _load_result(_evidence_path(base, run.result))
            trace = _load_trace(_evidence_path(base, run.trace), max_bytes)
        except (ValueError, OSError, KeyError) as exc:
            findings.append(Finding("error", "evidence", f"evidence.{side}: {exc}"))
            continue
        scenarios[side] = result.scenario
        findings += _check_run_record(side, result, evidence)
        recomputed, problems = _recompute(side, result, trace)
        findings += problems
        if recomputed is not None:
            findings += _check_claims(side, getattr(submission, side).metrics, recomputed, result)
    if len(set(scenarios.values())) > 1:
        message = f"the runs used different scenarios: {scenarios}; compare like with like"
        findings.append(Finding("error", "evidence_scenario", message))
    return findings
