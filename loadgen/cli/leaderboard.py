"""`python -m loadgen.leaderboard SUBMISSIONS_DIR`: the capstone leaderboard of every submission.json found.

Each submission is read and checked by loadgen.capstone's validator (data only, bounded:
nothing a submission names is imported or run); the valid and COMPLIANT ones (--practice:
the valid ones) are ranked per event by the course's eligibility rules; rejected ones are
listed with the validator's reasons or the capstone rules their runs broke. Ties in the
latency sprint come from what the validator re-derived from the evidence runs: over
repeated runs (`loadgen.submit --runs N`) a Welch t-test, from one run its median's
interval (reports.leaderboard.decide; each page names the rule of every tie). Writes
leaderboard.html, leaderboard.md and leaderboard.json into --output (default: the
submissions folder itself).

Exit codes: 0 written; 2 bad usage (no such folder, or no submission.json in it).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.analysis import stats
from loadgen.capstone import Finding, MeasuredRun, judge_submission, load_submission
from loadgen.cli.common import ExitCode, print_error
from loadgen.cli.report import write_atomically
from reports.leaderboard import TIE_CONFIDENCE, Entry, rejected, render_leaderboard, why_rejected

SUBMISSION_FILE = "submission.json"
MAX_SUBMISSIONS = 10_000
"""Submissions read at most; a folder with more is refused rather than read for hours."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.leaderboard",
        description="Validate every submission.json under SUBMISSIONS_DIR (never running its code), rank the valid "
        "ones per capstone event, and write leaderboard.html, .md and .json.",
        epilog="ties: each entry is tied with the one above it, or ranked apart, by a rule the pages name: over "
        "repeated runs (python -m loadgen.submit --runs 5) a Welch t-test on the runs, else one run's 95% interval of "
        "its median latency, else the values. exit codes: 0 written, 2 bad usage (no such folder, no submission.json "
        "in it).",
    )
    parser.add_argument("submissions", type=Path, help="a folder holding submission.json files, at any depth")
    parser.add_argument("--output", type=Path, help="where the leaderboard goes (default: SUBMISSIONS_DIR)")
    parser.add_argument("--strict", action="store_true", help="reject submissions without evidence")
    parser.add_argument("--practice", action="store_true",
                        help="also rank valid submissions whose runs broke the capstone rules (NOT COMPLIANT, marked): "
                        "a practice board for shortened runs")
    return parser


def eligibility(findings: Sequence[Finding]) -> dict[str, tuple[bool, str]]:
    """The validator's `event` findings ('latency_sprint: eligible (accuracy 0.97 >= 0.85)') as data."""
    found = {}
    for finding in findings:
        if finding.code != "event" or ": " not in finding.message:
            continue
        event, verdict = finding.message.split(": ", 1)
        found[event.strip()] = (verdict.startswith("eligible"), verdict)
    return found


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def figures(data: Mapping[str, Any]) -> dict[str, float]:
    """What the events rank by, from a valid submission (the optimized model, else the baseline)."""
    side = data.get("optimized") or data.get("baseline") or {}
    metrics = side.get("metrics") or {}
    found: dict[str, float] = {}
    latency = _number(metrics.get("latency_ms_median"))
    latency = latency if latency is not None else _number(metrics.get("latency_ms_mean"))
    for name, value in (("latency_ms", latency), ("model_size_mb", _number(metrics.get("model_size_mb"))),
                        ("accuracy", _number(metrics.get("accuracy")))):
        if value is not None:
            found[name] = value
    improvements = data.get("improvements") or {}
    speedup, compression = _number(improvements.get("speedup")), _number(improvements.get("compression_ratio"))
    delta = _number(improvements.get("accuracy_delta"))
    if speedup is not None and compression is not None:
        found["speedup_x_compression"] = speedup * compression
        if delta is not None:
            found["efficiency_score"] = stats.efficiency_score(speedup, compression, delta)
    return found


def ranked_side(data: Mapping[str, Any]) -> str:
    """The model the events rank: the optimized one, else the baseline."""
    return "optimized" if data.get("optimized") else "baseline"


Measured = tuple[dict[str, tuple[float, float]], dict[str, str], dict[str, list[float]]]
"""An entry's intervals, their methods and its per-run values, by leaderboard figure."""


def latency_evidence(data: Mapping[str, Any], measured: Sequence[MeasuredRun]) -> Measured:
    """The latency figure's per-run values and 95% interval, from the runs the validator re-derived
    (the side the figure is read from): over repeated runs the Student-t interval of their geometric
    mean, from one run the batch-means interval of its median latency."""
    side = ranked_side(data)
    metrics = (data.get(side) or {}).get("metrics") or {}
    key = "latency_ms_median" if metrics.get("latency_ms_median") is not None else "latency_ms_mean"
    runs = [run for run in measured if run.side == side]
    values = [run.figures[key] for run in runs if key in run.figures]
    if not runs or len(values) != len(runs) or not all(math.isfinite(v) and v > 0 for v in values):
        return {}, {}, {}
    if len(values) >= 2:
        low, high = stats.mean_interval_arrays(np.log(values), TIE_CONFIDENCE)
        method = f"{stats.METHOD_STUDENT} on the log of {len(values)} runs' {key} (geometric mean)"
        interval_ms = (math.exp(float(low)), math.exp(float(high)))
        return {"latency_ms": interval_ms}, {"latency_ms": method}, {"latency_ms": values}
    interval = runs[0].median_interval
    if key != "latency_ms_median" or interval is None:
        return {}, {}, {}
    return {"latency_ms": (interval.low, interval.high)}, {"latency_ms": f"{interval.method}, one run"}, {}


def entry_for(path: Path, root: Path, strict: bool) -> Entry:
    """One submission, validated; an unreadable one becomes a rejected entry naming why."""
    where = path.relative_to(root).as_posix()
    if path.is_symlink():
        return Entry(where, "", "?", False, ["a symbolic link: not followed"], [], False, None)
    try:
        data, findings = load_submission(path)
    except (OSError, ValueError) as exc:
        return Entry(where, "", "?", False, [str(exc)], [], False, None)
    broken: list[str] = []
    compliant: bool | None = None
    measured: list[MeasuredRun] = []
    if data is not None:
        verdict = judge_submission(data, path.parent, strict=strict)
        findings, broken, compliant = findings + verdict.findings, verdict.broken_rules, verdict.compliant
        measured = verdict.runs
    valid = data is not None and not any(f.level == "error" for f in findings)
    document = data if isinstance(data, dict) else {}
    side = document.get("optimized") or document.get("baseline") or {}
    student = document.get("student_name")
    verified = valid and document.get("evidence") is not None
    intervals, methods, runs = latency_evidence(document, measured) if verified else ({}, {}, {})
    return Entry(
        path=where,
        student=student if isinstance(student, str) else "",
        model=str(side.get("model_name", "?")) if isinstance(side, dict) else "?",
        valid=valid,
        errors=[f.message for f in findings if f.level == "error"],
        warnings=[f.message for f in findings if f.level == "warning"],
        verified=verified,
        compliant=compliant,
        broken_rules=broken,
        eligible=eligibility(findings),
        figures=figures(document) if valid else {},
        intervals=intervals,
        interval_methods=methods,
        runs=runs,
        evidence_runs=sum(1 for run in measured if run.side == ranked_side(document)) if verified else 0,
    )


def find_submissions(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob(SUBMISSION_FILE)):
        found.append(path)
        if len(found) > MAX_SUBMISSIONS:
            raise ValueError(f"{root}: more than {MAX_SUBMISSIONS} submissions; point at a smaller folder")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    root: Path = args.submissions
    if not root.is_dir():
        print_error(f"{root}: no such folder")
        return ExitCode.USAGE
    try:
        paths = find_submissions(root)
    except ValueError as exc:
        print_error(exc)
        return ExitCode.USAGE
    if not paths:
        print_error(f"{root}: no {SUBMISSION_FILE} in it (at any depth)")
        return ExitCode.USAGE
    entries = [entry_for(path, root, args.strict) for path in paths]
    page, markdown, document = render_leaderboard(entries, str(root), args.practice)
    output: Path = args.output or root
    output.mkdir(parents=True, exist_ok=True)
    write_atomically(output / "leaderboard.json", document.encode())
    write_atomically(output / "leaderboard.md", markdown.encode())
    write_atomically(output / "leaderboard.html", page)
    refused = rejected(entries, args.practice)
    print(f"{len(entries)} submissions: {len(entries) - len(refused)} ranked, {len(refused)} rejected")
    for entry in refused:
        print(f"  rejected {entry.path}: {why_rejected(entry)[:300]}")
    print(f"leaderboard: {output / 'leaderboard.html'}")
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
