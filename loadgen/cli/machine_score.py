"""`python -m loadgen.machine_score --output DIR`: time the reference workload, write machine_score.json."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from loadgen.machine.fingerprint import collect_fingerprint
from loadgen.machine.score import DEFAULT_REPEATS, REFERENCE_WORKLOAD, SCORE_FILE, machine_score, score_document


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.machine_score",
        description=f"Time the fixed reference workload ({REFERENCE_WORKLOAD}, numpy only, a few seconds) "
        "and print this machine's score (reference time / this machine's time).",
    )
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="timed passes, best kept (default 5)")
    parser.add_argument("--output", type=Path, help=f"also write OUTPUT/{SCORE_FILE} for compare --normalize")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: allowed: a whole number >= 1")
    score = machine_score(args.repeats)
    document = score_document(score, collect_fingerprint())
    print(json.dumps(document, indent=2))
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / SCORE_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0
