"""`python -m loadgen.validate submission.json [--strict]`: is a capstone submission sound?

Checks the course's schema and rules and, when the submission references this harness's
evidence, that the evidence files match their hashes and its figures recompute from the
traces (see loadgen.capstone). It reads data only and never runs code from the submission.
Prints one finding per line ("error: ...", "warning: ...", "info: ..."), then
"submission VALID" or "submission INVALID".

Exit codes: 0 valid; 1 invalid; 2 bad usage (no such file, not JSON).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from loadgen.capstone import validate_submission
from loadgen.capstone.schema import is_valid, load_submission
from loadgen.cli.common import ExitCode, print_error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.validate",
        description="Validate a TinyTorch capstone submission.json (schema, rules, events, evidence).",
        epilog="exit codes: 0 valid, 1 invalid, 2 bad usage (no such file, not JSON).",
    )
    parser.add_argument("submission", type=Path, help="the submission.json to check")
    parser.add_argument(
        "--strict", action="store_true", help="a submission without this harness's evidence is an error, not a warning"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path: Path = args.submission
    try:
        data, findings = load_submission(path)
    except OSError as exc:
        print_error(f"{path}: cannot read: {exc.strerror or exc}")
        return ExitCode.USAGE
    except ValueError as exc:
        print_error(exc)
        return ExitCode.USAGE
    if data is not None:
        findings += validate_submission(data, path.parent, strict=args.strict)
    for finding in findings:
        print(finding)
    valid = is_valid(findings)
    print("submission VALID" if valid else "submission INVALID")
    return ExitCode.OK if valid else ExitCode.INVALID
