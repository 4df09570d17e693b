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

`run_steps` is the one loop of repeated runs: `--runs N` gives it N runs of one command, and
`python -m loadgen.compare --sut-a/--sut-b` gives it the interleaved A B B A ... runs of two
(`abba_steps`), so both stop, report progress and survive Ctrl-C the same way.

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


@dataclass(frozen=True)
class Step:
    """One run of a sequence: loadgen.run's arguments, the folder it writes, and its progress label."""

    argv: list[str]
    run_dir: Path
    label: str | None = None


@dataclass
class SequenceOutcome:
    """What a sequence of runs did: each finished run's exit code by folder, and how it stopped."""

    codes: dict[Path, int]
    interrupted: bool = False
    refused: Step | None = None  # the first run of these arguments exited 2: the rest would too


def abba_order(runs: int) -> list[str]:
    """A B B A A B B A ...: `runs` of each side, every adjacent pair holding one of each."""
    order: list[str] = []
    for i in range(runs):
        order += ["A", "B"] if i % 2 == 0 else ["B", "A"]
    return order


def abba_steps(argv_a: list[str], argv_b: list[str], runs: int, output: Path) -> list[Step]:
    """The interleaved runs of a comparison: A's k-th run into output/a/run-k next to B's into output/b/run-k."""
    done = {"A": 0, "B": 0}
    steps = []
    for side in abba_order(runs):
        done[side] += 1
        run_dir = output / side.lower() / f"run-{done[side]}"
        steps.append(Step(argv_a if side == "A" else argv_b, run_dir, f"{side} {run_dir.name}"))
    return steps


def run_steps(steps: Sequence[Step], in_process: InProcess | None = None) -> SequenceOutcome:
    """The one loop of repeated runs (--runs N and compare's ABBA): each step in turn, a progress line
    each; Ctrl-C lets the current run finish, then stops; a first run that refuses its arguments stops it."""
    outcome = SequenceOutcome({})
    seen: set[tuple[str, ...]] = set()
    try:
        for k, step in enumerate(steps, start=1):
            child = run_child(step.argv, step.run_dir, in_process)
            outcome.codes[step.run_dir] = child.exit_code
            first = tuple(step.argv) not in seen
            seen.add(tuple(step.argv))
            if child.exit_code == ExitCode.USAGE and first:
                outcome.refused = step
                return outcome
            print(format_run_line(k, len(steps), child.exit_code, _read_or_none(step.run_dir), step.label),
                  file=sys.stderr)
            if child.stop_requested or child.exit_code == ExitCode.INTERRUPTED:
                outcome.interrupted = True
                return outcome
    except KeyboardInterrupt:  # between two runs: nothing is running, stop here
        outcome.interrupted = True
    return outcome


def run_repeated(argv: list[str], runs: int, output: Path, in_process: InProcess | None = None) -> int:
    """Run the scenario `runs` times into output/run-k, write output/aggregate.json, print the table."""
    if runs < 1:
        raise SettingsError([f"--runs {runs}: allowed: a whole number >= 1"])
    argv = child_argv(argv)
    done = run_steps([Step(argv, output / f"run-{k}") for k in range(1, runs + 1)], in_process)
    if done.refused is not None:
        return ExitCode.USAGE  # the arguments are wrong: the other runs would fail the same way
    codes = {run_dir.name: code for run_dir, code in done.codes.items()}
    document = repeated_aggregate(output, argv, runs, codes, in_process is not None, done.interrupted)
    print(render_aggregate(document))
    print(f"results: {output} (aggregate.json, run-1 ... run-{len(codes)})")
    return repeat_exit_code(document, done.interrupted)


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
