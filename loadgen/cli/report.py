"""`python -m loadgen.report parse FOLDER`: read an MLPerf log folder into our result model.

The folder may come from MLPerf LoadGen (mlperf_log_detail.txt and mlperf_log_summary.txt)
or from `python -m loadgen.run`; both become one RunResult (see loadgen.mlperf_logs).

Exit codes: 0 parsed; 2 bad usage, or a folder that is not an MLPerf log folder.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from loadgen.cli.common import ExitCode, print_error
from loadgen.mlperf.log_reader import LogFormatError, load_log_folder
from reports.summary import render_console


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.report",
        description="Read MLPerf logs (LoadGen's or ours) into this harness's result model.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    parse = commands.add_parser("parse", help="read a log folder and print the result")
    parse.add_argument("folder", type=Path, help="a folder holding mlperf_log_detail.txt (and mlperf_log_summary.txt)")
    parse.add_argument("--json", action="store_true", help="print the result as JSON (result.json's schema)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = load_log_folder(args.folder)
    except (LogFormatError, OSError) as exc:
        print_error(exc)
        return ExitCode.USAGE
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(render_console(result), end="")
        print(f"  read from: {args.folder} (written by {result.tool})")
    return ExitCode.OK
