"""`python -m loadgen.compare`: is B faster than A, by how much, and how sure can we be?

Three ways in:

    python -m loadgen.compare A B                 two results folders (one run, or --runs N)
    python -m loadgen.compare --sut-a X --sut-b Y --runs N --scenario S ...   runs them itself
    python -m loadgen.compare --plan --cv 0.05 --effect 0.05                  how many runs to plan
    python -m loadgen.compare --plan --effect 0.05 --p-value 0.06 --runs 5    the course's question

Per figure (loadgen.analysis.aggregate.run_figures) it reports the ratio "how many times
better B is than A" (of geometric means) with the t interval on log run figures that its
verdict uses, named by method and level; the headline figure is primary (tested alone at
alpha), the others secondary (Bonferroni, simultaneous intervals); an equivalence test
(TOST) for the margin; a verdict (equivalent / faster / slower / not enough evidence: needs
about K runs a side, with the plan's assumptions); outlier runs with a robust ratio; then
the course's normalized metrics, what differs between the two machines and how noisy the
runs were. The statistics live in loadgen.analysis (docs/statistics.md).

With --sut-a/--sut-b the runs are interleaved A B B A A B B A ... (ABBA), each in a fresh
process, and analysed as pairs (A's run-k with B's run-k, its neighbour): slow drift (heat,
a background job, a governor ramping) cancels within a pair. The folders OUTPUT/a and
OUTPUT/b are ordinary --runs folders; compare them again later with --paired.

--normalize: figures become what they would be on the reference machine (time x score,
rate / score; see loadgen.machine_score). A side's score is read from its machine_score.json
(`python -m loadgen.machine_score --output FOLDER` writes it); a side without one is
measured here only if its runs carry this machine's hardware hash, and refused otherwise.

Exit codes: 0 compared; 2 bad usage (a missing folder, different scenarios, bad options);
130 interrupted while running the SUTs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from loadgen.analysis.aggregate import (
    aggregate_folder,
)
from loadgen.analysis.comparison import (
    DEFAULT_ALPHA,
    DEFAULT_MARGIN,
    DEFAULT_TOLERANCE,
    PLAN_PERCENTILES,
    Options,
    Side,
    compare_sides,
    make_side,
)
from loadgen.analysis.planning import DEFAULT_POWER, course_answer, plan
from loadgen.analysis.stats import DEFAULT_CV_FLOOR
from loadgen.cli.common import ExitCode, print_error, settings_from_args
from loadgen.cli.repeat import abba_order, abba_steps, run_steps
from loadgen.cli.run import build_parser as run_parser
from loadgen.errors import Interrupted, LoadgenError, SettingsError
from loadgen.machine.fingerprint import collect_fingerprint
from loadgen.machine.score import SCORE_FILE, machine_score, score_document
from loadgen.results.folder import default_output
from loadgen.results.reading import json_text, load_runs, write_json
from reports.comparison import render_comparison, render_plan

DEFAULT_RUNS = 5


EPILOG = """\
examples:
  python -m loadgen.compare results/base results/opt
  python -m loadgen.compare results/base results/opt --json --margin 0.05
  python -m loadgen.compare --sut-a sut.fixed_time --sut-arg-a service_us=1000 \\
      --sut-b sut.fixed_time --sut-arg-b service_us=1200 --runs 5 --scenario single_stream
  python -m loadgen.compare --sut-a sut.digit_mlp --sut-b sut.digit_mlp --sut-arg-b model_name=digit_mlp_int8 \\
      --runs 5 --scenario offline --mode submission
  python -m loadgen.compare --plan --cv 0.05 --effect 0.05
  python -m loadgen.compare --plan --effect 0.05 --p-value 0.06 --runs 5

A and B are results folders of `python -m loadgen.run` (one run) or of `--runs N` (run-*/).
The ratio is always how many times better B is than A (> 1: B better), a ratio of geometric
means. Verdicts, in this order: equivalent within the margin (TOST), faster / slower (the
t-test on log run figures; its interval, printed beside it, excludes 1), or not enough
evidence (with the runs a side the same rule needs at power 0.8 and the assumptions). The
headline figure is tested alone at alpha; the others at alpha / m with simultaneous intervals.

exit codes: 0 compared, 2 bad usage or incomparable results, 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.compare",
        description="Compare two benchmark results (A = baseline, B = candidate): ratios with intervals, "
        "tests, verdicts, normalized metrics and environment warnings; or plan how many runs a claim needs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("a", nargs="?", type=Path, help="results folder of A, the baseline")
    parser.add_argument("b", nargs="?", type=Path, help="results folder of B, the candidate")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help="equivalence margin, as a fraction (default 0.02: within 2%%)")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="significance level (default 0.05)")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument("--normalize", action="store_true",
                        help="report figures as on the reference machine (see python -m loadgen.machine_score)")
    parser.add_argument("--accuracy-tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="flag a speedup whose accuracy fell by more than this (default 0.01)")
    parser.add_argument("--cv-floor", type=float, default=DEFAULT_CV_FLOOR,
                        help="smallest run-to-run CV believed, for each side's runs (default 0.005: 0.5%%; "
                             "set it to the floor your machine shows)")
    parser.add_argument("--paired", action="store_true",
                        help="A's run-k and B's run-k ran as neighbours (interleaved, as --sut-a/--sut-b runs "
                             "them): analyse them as pairs")
    running = parser.add_argument_group("running both SUTs here (interleaved A B B A ...)")
    running.add_argument("--sut-a", help="SUT spec of A (as loadgen.run's --sut)")
    running.add_argument("--sut-b", help="SUT spec of B")
    running.add_argument("--sut-arg-a", action="append", default=[], metavar="KEY=VALUE", help="A's SUT argument")
    running.add_argument("--sut-arg-b", action="append", default=[], metavar="KEY=VALUE", help="B's SUT argument")
    running.add_argument("--runs", type=int, default=DEFAULT_RUNS, help=f"runs a side (default {DEFAULT_RUNS})")
    running.add_argument("--scenario", default="offline", help="as loadgen.run's --scenario (default offline)")
    running.add_argument("--mode", help="as loadgen.run's --mode (submission also scores accuracy)")
    running.add_argument("--config", type=Path, help="as loadgen.run's --config")
    running.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                         help="one setting for both sides (repeatable)")
    running.add_argument("--output", type=Path, help="where the runs go (default: results/<time>-compare)")
    planning = parser.add_argument_group("planning")
    planning.add_argument("--plan", action="store_true", help="print the runs (and queries) a comparison needs")
    planning.add_argument("--cv", type=float, help="expected coefficient of variation of a run's figure")
    planning.add_argument("--effect", type=float, help="smallest relative difference to detect (0.05: 5%%)")
    planning.add_argument("--p-value", type=float,
                          help="with --plan --effect E --runs N: the p-value you measured for E with N runs a side; "
                               "answers whether that is significant and how many runs a side are needed")
    planning.add_argument("--power", type=float, default=DEFAULT_POWER, help="chance of detecting it (default 0.8)")
    planning.add_argument("--percentile", type=float, action="append",
                          help="a latency percentile to plan queries for (default: 0.5, 0.9, 0.99, 0.999)")
    return parser


class _ThisMachine:
    """This machine's hardware hash and, measured at most once, its machine score."""

    def __init__(self) -> None:
        self.fingerprint = collect_fingerprint()
        self._score: dict[str, Any] | None = None

    def score(self) -> dict[str, Any]:
        if self._score is None:
            print("measuring this machine's score (the reference workload, a few seconds)...", file=sys.stderr)
            self._score = score_document(machine_score(), self.fingerprint)
        return self._score


def side_score(side: Side, here: _ThisMachine | None) -> tuple[dict[str, Any], _ThisMachine | None]:
    """The side's machine score: its machine_score.json, else this machine's if the runs ran here."""
    path = side.loaded.folder / SCORE_FILE
    runs_hash = side.loaded.results[0].fingerprint.get("hardware_hash")
    if path.is_file():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if not (math.isfinite(float(document["score"])) and float(document["score"]) > 0):
                raise ValueError(f"score {document['score']!r} is not a positive number")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SettingsError([f"{path}: not a machine score ({exc})"]) from exc
        document["source"] = str(path)
        if document.get("hardware_hash") not in (None, runs_hash):
            document["warning"] = f"{side.label}: {path} was measured on other hardware than the side's runs"
        return document, here
    here = here or _ThisMachine()
    if runs_hash != here.fingerprint.get("hardware_hash"):
        raise SettingsError([
            f"--normalize: {side.label} ({side.loaded.folder}) ran on other hardware (hash {runs_hash}, this "
            f"machine {here.fingerprint.get('hardware_hash')}) and has no {SCORE_FILE}; run "
            f"`python -m loadgen.machine_score --output {side.loaded.folder}` on the machine it ran on"
        ])
    return {**here.score(), "source": "measured now on this machine (the side's runs have its hardware hash)"}, here


def attach_scores(a: Side, b: Side) -> list[str]:
    """Give both sides a machine score (see side_score); warnings about where the scores came from."""
    here = None
    a.score, here = side_score(a, here)
    b.score, here = side_score(b, here)
    found = [score["warning"] for score in (a.score, b.score) if "warning" in score]
    versions = {(score.get("workload"), score.get("reference_seconds")) for score in (a.score, b.score)}
    if len(versions) > 1:
        found.append(f"the machine scores come from different reference workloads or references "
                     f"{sorted(map(str, versions))}: their ratio is not the machines' ratio")
    return found


def side_argv(args: argparse.Namespace, side: str) -> list[str]:
    """loadgen.run's arguments for one side (without --output, which each run gets)."""
    spec = args.sut_a if side == "A" else args.sut_b
    sut_args = args.sut_arg_a if side == "A" else args.sut_arg_b
    argv = ["--scenario", args.scenario, "--sut", spec]
    if args.mode:
        argv += ["--mode", args.mode]
    if args.config:
        argv += ["--config", str(args.config)]
    for text in args.assignments:
        argv += ["--set", text]
    for text in sut_args:
        argv += ["--sut-arg", text]
    return argv


def _check_run_arguments(argv: list[str]) -> None:
    """Refuse bad settings before any run starts (loadgen.run's own parser and layering)."""
    try:
        settings_from_args(run_parser().parse_args(argv))
    except SystemExit as exc:
        raise SettingsError([f"bad arguments for loadgen.run: {' '.join(argv)}"]) from exc


def run_abba(args: argparse.Namespace, output: Path) -> tuple[dict[str, int], bool]:
    """Run both sides interleaved into output/a and output/b; the runs done a side, and whether interrupted."""
    argv_a, argv_b = side_argv(args, "A"), side_argv(args, "B")
    for argv in (argv_a, argv_b):
        _check_run_arguments(argv)
    done = run_steps(abba_steps(argv_a, argv_b, args.runs, output))
    if done.refused is not None:
        raise SettingsError([f"{done.refused.label}: the first run of that side refused its arguments (see above)"])
    counts = {side: sum(1 for run_dir in done.codes if run_dir.parent.name == side.lower()) for side in "AB"}
    return counts, done.interrupted


def run_both(args: argparse.Namespace, options: Options) -> tuple[dict[str, Any], bool]:
    """The --sut-a/--sut-b path: ABBA runs, an aggregate per side, the comparison written beside them."""
    output = args.output or default_output("compare")
    done, interrupted = run_abba(args, output)
    sides = []
    for label in "AB":
        folder = output / label.lower()
        folder.mkdir(parents=True, exist_ok=True)
        loaded = load_runs(folder, [f"run-{k}" for k in range(1, done[label] + 1)])
        write_json(folder / "aggregate.json", aggregate_folder(loaded))
        if interrupted and not loaded.results:
            raise Interrupted(f"interrupted before side {label} had a usable run; the runs so far are in {output}")
        sides.append(make_side(label, loaded))
    if args.normalize:
        document = score_document(machine_score(), collect_fingerprint())
        for side in sides:
            write_json(side.loaded.folder / SCORE_FILE, document)
            side.score = {**document, "source": "measured on this machine after the runs"}
    report = compare_sides(sides[0], sides[1], replace(options, paired=True))
    report["order"] = "".join(abba_order(args.runs))
    report["interrupted"] = interrupted
    write_json(output / "comparison.json", report)
    report["output"] = str(output)
    return report, interrupted


def compare_folders(a: Path, b: Path, options: Options, normalize: bool) -> dict[str, Any]:
    """The A B path: two results folders, compared."""
    side_a, side_b = make_side("A", load_runs(a)), make_side("B", load_runs(b))
    notes = attach_scores(side_a, side_b) if normalize else []
    report = compare_sides(side_a, side_b, options)
    report["environment"] += notes
    return report


def _plan_problems(args: argparse.Namespace) -> list[str]:
    """--plan's options: --effect with --cv (prospective) or with --p-value and --runs (the course's question)."""
    problems = []
    needed = [("--effect", args.effect)] + ([("--cv", args.cv)] if args.p_value is None else [])
    for name, value in needed:
        if value is None or not (math.isfinite(value) and value > 0):
            problems.append(f"--plan needs {name} > 0 (a fraction: 0.05 for 5%)")
    if args.p_value is not None:
        if not 0 < args.p_value < 1:
            problems.append(f"--p-value {args.p_value}: allowed: strictly between 0 and 1")
        if args.runs < 2:
            problems.append(f"--runs {args.runs}: allowed: >= 2 (the runs a side behind the p-value)")
        if args.cv is not None:
            problems.append("give --cv or --p-value, not both: --p-value infers the noise from what you measured")
    return problems


def _check_options(args: argparse.Namespace) -> list[str]:
    """Every option problem at once, each naming the option and what is allowed."""
    problems = []
    for name, value in (("--margin", args.margin), ("--alpha", args.alpha), ("--power", args.power)):
        if not 0 < value < 1:
            problems.append(f"{name} {value}: allowed: strictly between 0 and 1")
    if not (math.isfinite(args.accuracy_tolerance) and args.accuracy_tolerance >= 0):
        problems.append(f"--accuracy-tolerance {args.accuracy_tolerance}: allowed: >= 0")
    problems += [f"--percentile {p}: allowed: strictly between 0 and 1 (0.99 for p99)"
                 for p in args.percentile or [] if not 0 < p < 1]
    if not (math.isfinite(args.cv_floor) and 0 <= args.cv_floor < 1):
        problems.append(f"--cv-floor {args.cv_floor}: allowed: >= 0 and < 1 (0.005 for 0.5%)")
    if args.plan:
        problems += _plan_problems(args)
    elif args.p_value is not None:
        problems.append("--p-value goes with --plan --effect E --runs N")
    elif args.sut_a or args.sut_b:
        if not (args.sut_a and args.sut_b):
            problems.append("--sut-a and --sut-b go together")
        if args.a is not None:
            problems.append("give either two results folders or --sut-a/--sut-b, not both")
        if args.runs < 2:
            problems.append(f"--runs {args.runs}: allowed: >= 2 a side (3 or more to plan from)")
    elif args.a is None or args.b is None:
        problems.append("give two results folders A B, or --sut-a/--sut-b, or --plan")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error (or --help)
        return int(exc.code or 0)
    problems = _check_options(args)
    if problems:
        for line in problems:
            print_error(line)
        return ExitCode.USAGE
    if args.plan and args.p_value is not None:
        answer = course_answer(args.effect, args.p_value, args.runs, args.alpha, args.power)
        print(json_text(answer) if args.json else answer["answer"])
        return ExitCode.OK
    if args.plan:
        planned = plan(args.cv, args.effect, args.power, args.alpha, args.margin, args.percentile or PLAN_PERCENTILES)
        print(json_text(planned) if args.json else render_plan(planned))
        return ExitCode.OK
    options = Options(args.margin, args.alpha, args.accuracy_tolerance, args.cv_floor, args.paired, args.power)
    interrupted = False
    try:
        if args.sut_a:
            report, interrupted = run_both(args, options)
        else:
            report = compare_folders(args.a, args.b, options, args.normalize)
    except Interrupted as exc:
        print_error(exc)
        return ExitCode.INTERRUPTED
    except LoadgenError as exc:
        print_error(exc)
        return ExitCode.USAGE
    print(json_text(report) if args.json else render_comparison(report))
    return ExitCode.INTERRUPTED if interrupted else ExitCode.OK
