"""The capstone's submission.json: schema, the course's figures and rules, evidence checks, compliance, building.

`judge_submission` is the validator's one entry: schema first, then the course's rules,
then the evidence (files, hashes, figures recomputed from the traces), then the events; and,
beside that verdict, compliance with the rule set the evidence claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadgen.capstone.checks import check_improvements, check_percentiles, check_sanity, event_findings
from loadgen.capstone.compliance import RuleSet, check_compliance, compliance_line
from loadgen.capstone.evidence import (
    MeasuredRun,
    check_evidence_files,
    check_evidence_runs,
    load_result,
    load_trace,
    recompute,
)
from loadgen.capstone.reading import MAX_EVIDENCE_BYTES, MAX_READ_BYTES, EvidenceReader
from loadgen.capstone.schema import Finding, check_schema, is_valid, load_submission
from loadgen.metrics.result import RunResult

__all__ = [
    "Finding",
    "FolderVerdict",
    "MeasuredRun",
    "RuleSet",
    "SubmissionVerdict",
    "is_valid",
    "judge_results_folder",
    "judge_submission",
    "load_submission",
    "read_result",
    "validate_submission",
]

NO_EVIDENCE = "no evidence: the runs' settings cannot be checked against the rules"


@dataclass(frozen=True)
class SubmissionVerdict:
    """The findings (errors make the file invalid), the rules broken (empty: COMPLIANT), and what
    each evidence run whose metrics recomputed measured (what a leaderboard ranks by)."""

    findings: list[Finding]
    broken_rules: list[str]
    runs: list[MeasuredRun] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return is_valid(self.findings)

    @property
    def compliant(self) -> bool:
        return self.valid and not self.broken_rules

    def compliance(self) -> str:
        return compliance_line(self.broken_rules if self.valid else ["the submission is INVALID", *self.broken_rules])


def judge_submission(
    data: Any,
    base_dir: Path,
    strict: bool = False,
    max_evidence_bytes: int = MAX_EVIDENCE_BYTES,
    read_budget: int = MAX_READ_BYTES,
) -> SubmissionVerdict:
    """Every finding about a parsed submission.json whose evidence paths are relative to base_dir,
    and every rule its runs break."""
    submission, findings = check_schema(data)
    if submission is None:
        return SubmissionVerdict(findings, ["the submission does not parse"])
    findings += check_percentiles(submission)
    findings += check_improvements(submission)
    findings += check_sanity(submission)
    broken: list[str] = [NO_EVIDENCE]
    measured: list[MeasuredRun] = []
    if submission.evidence is None:
        findings.append(
            Finding(
                "error" if strict else "warning",
                "unverified",
                "no evidence (made by the course's tools?): the figures cannot be checked against measurements",
            )
        )
    else:
        reader = EvidenceReader(base_dir, read_budget, max_evidence_bytes)
        file_findings = check_evidence_files(submission.evidence, reader)
        findings += file_findings
        if not file_findings:
            run_findings, rules_broken, measured = check_evidence_runs(submission, submission.evidence, reader)
            findings += run_findings
            broken = rules_broken if rules_broken is not None else ["the evidence runs could not be read"]
        else:
            broken = ["the evidence files do not check out"]
    findings += event_findings(submission)
    return SubmissionVerdict(findings, broken, measured)


def validate_submission(
    data: Any, base_dir: Path, strict: bool = False, max_evidence_bytes: int = MAX_EVIDENCE_BYTES
) -> list[Finding]:
    """The findings of `judge_submission` alone (the file's validity, not its compliance)."""
    return judge_submission(data, base_dir, strict, max_evidence_bytes).findings


@dataclass(frozen=True)
class FolderVerdict:
    """A plain results folder judged against a rule set: findings, rules broken, and its result."""

    findings: list[Finding]
    broken_rules: list[str]
    result: RunResult | None

    @property
    def compliant(self) -> bool:
        return is_valid(self.findings) and not self.broken_rules and self.result is not None


def read_result(folder: Path) -> RunResult:
    """A results folder's result.json, read as strictly as the validator reads evidence."""
    return load_result(EvidenceReader(folder).read("result.json"), f"{folder}/result.json")


def judge_results_folder(folder: Path, rules: RuleSet, read_budget: int = MAX_READ_BYTES) -> FolderVerdict:
    """A results folder (result.json, trace.npz): its figures recompute from its trace, and its run
    follows `rules`. Data only, within the same bounds as a submission's evidence."""
    reader = EvidenceReader(folder, read_budget)
    try:
        result = load_result(reader.read("result.json"), f"{folder}/result.json")
        trace = load_trace(reader.read("trace.npz"), result, reader.max_file_bytes)
    except (ValueError, OSError) as exc:
        finding = Finding("error", "evidence", f"{folder}: {exc}")
        return FolderVerdict([finding], ["the results folder does not read"], None)
    findings = [] if result.files.get("trace.npz") in (None, reader.sha256("trace.npz")) else [
        Finding("error", "evidence_hash", f"{folder}/result.json names a different trace.npz")
    ]
    _, problems = recompute("run", result, trace)
    return FolderVerdict(findings + problems, check_compliance({"run": result}, rules), result)
