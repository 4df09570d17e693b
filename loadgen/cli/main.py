"""`loadgen COMMAND ...` (and `python -m loadgen COMMAND ...`): every command under one name.

Each subcommand is the same as `python -m loadgen.COMMAND`: the same options, help and exit codes.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from loadgen.cli.common import ExitCode, print_error, run_command
from loadgen.cli.entry import own_packages_first
from loadgen.own_packages import claim

COMMANDS: dict[str, str] = {
    "run": "benchmark a SUT under one scenario and write the results folder",
    "compare": "compare two results folders, or run two SUTs interleaved, figure by figure",
    "compliance": "MLPerf's compliance tests (TEST01, TEST04, TEST05) against a SUT",
    "submit": "benchmark a baseline and an optimized model into a capstone submission.json",
    "validate": "check a capstone submission.json and its evidence (never runs its code)",
    "report": "write report.html and report.md for results folders (or `report parse` a MLPerf log folder)",
    "leaderboard": "validate and rank every capstone submission.json in a folder (html, md, json)",
    "recover": "rebuild the result of a run whose process died, from its live recording",
    "machine_score": "time the reference workload: this machine's score for --normalize",
}


def usage() -> str:
    """The command list, as `loadgen --help` prints it."""
    width = max(map(len, COMMANDS))
    lines = ["usage: loadgen COMMAND [options]   (loadgen COMMAND --help for a command's options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    lines += ["", "exit codes: 0 success/VALID, 1 the run aborted (SUT or harness error), 2 bad usage or input,",
              "            3 completed but INVALID / TEST FAIL / submission invalid, 130 SIGINT, 143 SIGTERM"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to the command's own main with the rest of the arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return ExitCode.OK if args else ExitCode.USAGE
    name = args[0].replace("-", "_")
    if name not in COMMANDS:
        print_error(f"unknown command {args[0]!r}; commands: {', '.join(COMMANDS)}")
        return ExitCode.USAGE
    command = importlib.import_module(f"loadgen.cli.{name}")
    return int(command.main(args[1:]))


def console() -> None:
    """The `loadgen` console script."""
    own_packages_first()
    claim("sut", "reports")
    run_command(main)
