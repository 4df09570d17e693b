"""The capstone's submission.json: schema, the course's figures and rules, evidence checks, building.

`validate_submission` is the validator's one entry: schema first, then the course's rules,
then the evidence (files, hashes, figures recomputed from the traces), then the events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadgen.capstone.checks import check_improvements, check_percentiles, check_sanity, event_findings
from loadgen.capstone.evidence import MAX_EVIDENCE_BYTES, check_evidence_files, check_evidence_runs
from loadgen.capstone.schema import Finding, check_schema, is_valid, load_submission

__all__ = ["Finding", "is_valid", "load_submission", "validate_submission"]


def validate_submission(
    data: Any, base_dir: Path, strict: bool = False, max_evidence_bytes: int = MAX_EVIDENCE_BYTES
) -> list[Finding]:
    """Every finding about a parsed submission.json whose evidence paths are relative to base_dir."""
    submission, findings = check_schema(data)
    if submission is None:
        return findings
    findings += check_percentiles(submission)
    findings += check_improvements(submission)
    findings += check_sanity(submission)
    if submission.evidence is None:
        findings.append(
            Finding(
                "error" if strict else "warning",
                "unverified",
                "no evidence (made by the course's tools?): the figures cannot be checked against measurements",
            )
        )
    else:
        file_findings = check_evidence_files(submission.evidence, base_dir, max_evidence_bytes)
        findings += file_findings or check_evidence_runs(submission, submission.evidence, base_dir, max_evidence_bytes)
    findings += event_findings(submission)
    return findings
