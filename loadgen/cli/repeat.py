"""Repeated runs: `python -m loadgen.run ... --runs N` runs the scenario N times and aggregates them.

Each run is `python -m loadgen.run <the same arguments> --output OUTPUT/run-k` in a fresh
process (the interpreter, imports, allocator and caches start cold every time, so the
spread between runs is the spread a reader of the claim would see); `--in-process` runs
them in this process instead, which is faster and shares all of that. A child's stderr
goes straight to ours; its console summary is in run-k/mlperf_log_summary.txt.

Every run counts, INVALID ones too (flagged in the aggregate); a run that ended in an
error is left out with a warning. Ctrl-C lets the current run finish (a second Ctrl-C
interrupts it), then the aggregate of what finished is still written. Children run in
their own process group so that a terminal's Ctrl-C reaches only this process.

Exit codes: 0 every run VALID; 3 some run INVALID or left out; 1 no usable run; 2 bad
usage (the first run refused its arguments); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import io
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen.analysis.aggregate import aggregate_folder
from loadgen.cli.common import ExitCode
from loadgen.errors import SettingsError
from loadgen.results.reading import load_runs, read_result, write_json
from reports.comparison import format_run_line, render_aggregate

_STRIPPED_WITH_VALUE = ("--runs", "--output")
_STRIPPED_FLAGS = ("--in-process",)


def child_argv(argv: Sequence[str]) -> list[str]:
    """The arguments without --runs, --output and --in-process (as '--runs N' or '--runs=N')."""
    kept: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        if token in _STRIPPED_WITH_VALUE:
            skip = True
            continue
        if token in _STRIPPED_FLAGS or token.split("=", 1)[0] in _STRIPPED_WITH_VALUE:
            continue
        kept.append(token)
    return kept


def child_command(argv: Sequence[str], output: Path) -> list[str]:
    """One run's command line. `--runs 1` comes last so an abbreviation (`--run 3`) can never recurse."""
    return [*argv, "--output", str(output), "--no-progress", "--runs", "1"]


@dataclass
class ChildOutcome:
    """How one run ended: its exit code, and whether the user asked to stop after it."""

    exit_code: int
    stop_requested: bool


InProcess = Callable[[list[str]], int]
"""A command's main, to run a child in this process (`--in-process`) instead of a fresh one."""


def run_child(argv: Sequence[str], output: Path, in_process: InProcess | None = None) -> ChildOutcome:
    """One `loadgen.run` with these arguments writing to output: in a fresh process, or through
    `in_process` (the run command's own main, passed in so this module needs no import of it)."""
    command = child_command(argv, output)
    if in_process is not None:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                code = in_process(command)
        except KeyboardInterrupt:  # outside the timed part, which turns Ctrl-C into exit 130 itself
            code = ExitCode.INTERRUPTED
        return ChildOutcome(code, code == ExitCode.INTERRUPTED)
    process = subprocess.Popen(
        [sys.executable, "-m", "loadgen.run", *command], stdout=subprocess.DEVNULL, process_group=0
    )
    stop_requested = False
    while True:
        try:
            return ChildOutcome(process.wait(), stop_requested)
        except KeyboardInterrupt:
            if stop_requested:
                process.send_signal(signal.SIGINT)  # the child writes what it recorded and exits 130
            else:
                print("interrupted: finishing the current run, then writing the aggregate "
                      "(Ctrl-C again to stop the run now)", file=sys.stderr)
            stop_requested = True


def run_repeated(argv: list[str], runs: int, output: Path, in_process: InProcess | None = None) -> int:
    """Run the scenario `runs` times into output/run-k, write output/aggregate.json, print the table."""
    if runs < 1:
        raise SettingsError([f"--runs {runs}: allowed: a whole number >= 1"])
    argv = child_argv(argv)
    codes: dict[str, int] = {}
    interrupted = False
    try:
        for k in range(1, runs + 1):
            run_dir = output / f"run-{k}"
            outcome = run_child(argv, run_dir, in_process)
            codes[run_dir.name] = outcome.exit_code
            if outcome.exit_code == ExitCode.USAGE and k == 1:
                return ExitCode.USAGE  # the arguments are wrong: the other runs would fail the same way
            print(format_run_line(k, runs, outcome.exit_code, _read_or_none(run_dir)), file=sys.stderr)
            if outcome.stop_requested or outcome.exit_code == ExitCode.INTERRUPTED:
                interrupted = True
                break
    except KeyboardInterrupt:  # between two runs: nothing is running, stop here
        interrupted = True
    document = repeated_aggregate(output, argv, runs, codes, in_process is not None, interrupted)
    print(render_aggregate(document))
    print(f"results: {output} (aggregate.json, run-1 ... run-{len(codes)})")
    return repeat_exit_code(document, interrupted)


def repeated_aggregate(
    output: Path, argv: list[str], runs: int, codes: dict[str, int], in_process: bool, interrupted: bool
) -> dict[str, Any]:
    """aggregate.json for the runs that finished, with each run's exit code; written to output."""
    output.mkdir(parents=True, exist_ok=True)
    document = aggregate_folder(load_runs(output, list(codes)))
    for entry in document["runs"]:
        entry["exit_code"] = codes.get(entry["name"])
    document.update(
        command=["python", "-m", "loadgen.run", *argv],
        in_process=in_process,
        runs_requested=runs,
        runs_finished=len(codes),
        interrupted=interrupted,
    )
    if interrupted:
        document["warnings"].insert(0, f"interrupted after {len(codes)} of {runs} runs")
    write_json(output / "aggregate.json", document)
    return document


def repeat_exit_code(document: dict[str, Any], interrupted: bool) -> int:
    """130 interrupted; 1 no usable run; 3 any run INVALID or left out; else 0."""
    if interrupted:
        return ExitCode.INTERRUPTED
    if document["n_included"] == 0:
        return ExitCode.ERROR
    if any(entry["status"] != "VALID" for entry in document["runs"]):
        return ExitCode.INVALID
    return ExitCode.OK


def _read_or_none(run_dir: Path) -> Any:
    """The run's result, or None when it wrote none or an unreadable one."""
    try:
        return read_result(run_dir / "result.json")
    except SettingsError:
        return None
