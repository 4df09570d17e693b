"""`python -m loadgen.compliance TEST01|TEST04|TEST05`: MLPerf LoadGen's compliance tests as commands.

Each test makes two runs of one SUT object, one after the other, and judges them by the
rules of LoadGen's verification scripts (mlcommons/inference `compliance/TEST01`, `TEST04`,
`compliance/nvidia/TEST05`):

* TEST01, accuracy in performance mode. An AccuracyOnly run keeps every response; then a
  PerformanceOnly run logs a seeded share of its responses (`accuracy_log_probability`,
  default 0.1; `accuracy_log_rng_seed`, default the seed of LoadGen's TEST01 audit.config).
  PASS when every logged response equals, byte for byte, the accuracy run's response for
  the same sample index, at least one was compared, and the performance run is VALID. A
  sampled sample completed without a response counts as the empty response, as LoadGen
  logs it.
* TEST04, no caching. A PerformanceOnly run, then one in which every query uses the same
  loaded sample (`performance_issue_same`, position 3 as in TEST04's audit.config). FAIL
  when the same-sample run is 10% or more faster (throughput, or 1/latency).
* TEST05, no favoured seeds. A run with the round's official seeds and one with the TEST05
  alternates, both read from `scenarios/mlperf.conf`. FAIL when the alternate run is 5% or
  more slower; a faster alternate run never fails.

Both performance checks need both runs VALID, and relax the threshold to 20% when the
reference is SingleStream at <= 200 us or MultiStream at <= 1.6 ms, as LoadGen does for
latencies short enough for OS noise to matter. The second run reuses the values the first
run's pilot chose, so both share every setting but the one under test, as two LoadGen runs
with one user.conf do.

Exit codes: 0 TEST PASS; 3 TEST FAIL; 2 bad usage or settings; 1 SUT or harness error;
130 interrupted. Both runs' results folders are written, whatever happened.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from loadgen.benchmark.runner import run_benchmark
from loadgen.cli.common import ExitCode, print_error, settings_from_args, sut_kwargs
from loadgen.cli.progress import progress_bar
from loadgen.cli.run import DEFAULT_SUT, exit_code, model_as_sut
from loadgen.cli.sut_spec import build_sut, qsl_for
from loadgen.errors import LoadgenError, SettingsError
from loadgen.mlperf.compliance import PLANS, TESTS, Outcome, run_compliance
from loadgen.results.folder import concluded, default_output, write_outputs
from reports.summary import render_console

EPILOG = """\
tests (LoadGen's compliance tests; each makes two runs of the SUT):
  TEST01  an accuracy run, then a performance run logging a share of its responses
          (accuracy_log_probability, default 0.1); every logged response must equal the
          accuracy run's for its sample index, and the performance run must be VALID
  TEST04  a performance run, then one where every query uses the same sample; FAIL when
          that run is 10% or more faster (the SUT may cache results)
  TEST05  a run with the official seeds, then one with the TEST05 seeds (both from
          scenarios/mlperf.conf); FAIL when the alternate run is 5% or more slower
  SingleStream at <= 200 us and MultiStream at <= 1.6 ms relax TEST04/TEST05 to 20%.

examples:
  python -m loadgen.compliance TEST01 --scenario single_stream --set min_duration_ms=2000
  python -m loadgen.compliance TEST04 --scenario offline --sut mysut.py:MySUT
  python -m loadgen.compliance TEST05 --scenario server --set server_target_qps=500

settings are layered as for python -m loadgen.run (scenario file < --config < --set); the
test sets mode itself (and, for TEST05, the seeds). Results: DIR/<run>/ for both runs and
DIR/verification.txt with the verdict.

exit codes: 0 TEST PASS, 3 TEST FAIL, 2 bad usage or settings, 1 SUT or harness error, 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.compliance",
        description="Run an MLPerf LoadGen compliance test (TEST01, TEST04, TEST05) on a SUT; "
        "prints the figures and TEST PASS or TEST FAIL.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("test", type=str.upper, choices=TESTS, help="which compliance test")
    parser.add_argument("--scenario", default="offline", help="as for python -m loadgen.run (default: offline)")
    parser.add_argument("--sut", default=DEFAULT_SUT, help=f"as for python -m loadgen.run (default: {DEFAULT_SUT})")
    parser.add_argument(
        "--sut-arg", dest="sut_args", action="append", default=[], metavar="KEY=VALUE",
        help="keyword argument for the SUT factory (repeatable)",
    )
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE", help="one setting (repeatable)"
    )
    parser.add_argument("--config", type=Path, help="a TOML file of settings layered over the scenario's")
    parser.add_argument(
        "--samples", type=int, default=1024, help="size of the index-only QSL for SUTs without a qsl (default 1024)"
    )
    parser.add_argument("--output", type=Path, help="results folder (default: results/<time>-compliance-<TEST>)")
    parser.add_argument("--trace", action="store_true", help="also write each run's mlperf_log_trace.json")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    parser.set_defaults(mode=None)
    return parser


def format_outcome(outcome: Outcome) -> list[str]:
    """The console report: each run's summary, the notes, the verdict lines."""
    lines = []
    for name, benchmark in outcome.runs.items():
        lines.append(f"[{outcome.test} {name} run]")
        lines += render_console(benchmark.result).splitlines()
    lines += [f"{outcome.test}: {note}" for note in outcome.notes]
    if outcome.verdict is not None:
        lines += outcome.verdict.lines()
    else:
        lines.append(f"{outcome.test}: no verdict: a run ended with an error")
    return lines


def outcome_exit_code(outcome: Outcome) -> int:
    aborted = outcome.aborted
    if aborted is not None:
        return exit_code(aborted)
    assert outcome.verdict is not None
    return ExitCode.OK if outcome.verdict.passed else ExitCode.INVALID


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.samples < 1:
            raise SettingsError([f"--samples {args.samples}: allowed: a whole number >= 1"])
        settings = settings_from_args(args)
        PLANS[args.test](settings)  # refuse impossible settings before anything runs
        sut = build_sut(args.sut, sut_kwargs(args.sut_args), adapt=model_as_sut)
        qsl = qsl_for(sut, args.samples)
        show = not args.no_progress and sys.stderr.isatty()
        observer = (lambda engine: progress_bar(engine, sys.stderr)) if show else None
        outcome = run_compliance(args.test, lambda s: run_benchmark(sut, qsl, s, observer=observer), settings)
    except LoadgenError as exc:
        print_error(exc)
        return ExitCode.USAGE
    output = args.output or default_output(f"compliance-{args.test}")
    for name, benchmark in outcome.runs.items():
        write_outputs(concluded(benchmark, args.trace), output / name, args.trace)
    lines = format_outcome(outcome)
    (output / "verification.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"results: {output} ({', '.join([name + '/' for name in outcome.runs] + ['verification.txt'])})")
    if outcome.aborted is not None and outcome.aborted.error is not None:
        print_error(outcome.aborted.error)
    return outcome_exit_code(outcome)
