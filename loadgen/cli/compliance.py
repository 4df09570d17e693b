"""`python -m loadgen.compliance TEST01|TEST04|TEST06|TEST07|TEST09|TEST05`: MLPerf's compliance tests as commands.

TEST01 (three), TEST04 and TEST05 make two runs of one SUT object, one after the other, and judge
them by the rules of MLPerf's compliance verification (TEST01, TEST04; TEST05 is no longer
part of the upstream suite and is kept for its own sake):

* TEST01, accuracy in performance mode. An AccuracyOnly run keeps every response; a
  reference PerformanceOnly run logs none; then a PerformanceOnly run logs a seeded share of
  its responses (`accuracy_log_probability`, default 0.1; `accuracy_log_rng_seed`, default
  the seed of LoadGen's TEST01 audit.config). PASS when every logged response equals, byte
  for byte, the accuracy run's response for the same sample index, at least one was
  compared, both performance runs are VALID, and the logging run's score is within 10% of
  the reference's either way (20% for short latencies), as upstream's verify_performance.py
  demands. A sampled sample completed without a response counts as the empty response, as
  LoadGen logs it.
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

TEST06, TEST07 and TEST09 make one performance run that logs every response and judge the
responses (loadgen.mlperf.output_tests): output consistency of an LLM SUT, accuracy
against a threshold, output length within bounds.

The output folder holds each run's folder (DIR/<run>/), verification.txt (the figures and
verdict), and the audit layout of MLPerf's submission tree: DIR/TESTxx/ with upstream's
verification file (verify_accuracy.txt, verify_performance.txt or verify_output_len.txt),
accuracy/mlperf_log_accuracy.json and performance/run_1/mlperf_log_{summary,detail}.txt,
and for TEST04/TEST05 DIR/results/performance/run_1/ (the reference run, as the results
tree holds it), so that the upstream run_verification.py scripts run on it unchanged.

Exit codes: 0 TEST PASS; 3 TEST FAIL; 2 bad usage or settings; 1 SUT or harness error;
130 interrupted. Every run's results folder is written, whatever happened.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from loadgen.benchmark.runner import run_benchmark
from loadgen.cli.common import ExitCode, print_error, settings_from_args, sut_kwargs
from loadgen.cli.progress import progress_bar
from loadgen.cli.run import DEFAULT_SUT, exit_code, model_as_sut
from loadgen.cli.sut_spec import build_sut, qsl_for
from loadgen.errors import LoadgenError, SettingsError
from loadgen.mlperf.compliance import OUTPUT_TESTS, PLANS, TESTS, Outcome, run_compliance
from loadgen.mlperf.output_tests import (
    DEFAULT_EOS_TOKEN,
    DEFAULT_TOKEN_DTYPE,
    TOKEN_DTYPES,
    FirstTokenSUT,
    OutputRules,
    audit_config_bounds,
)
from loadgen.results.folder import concluded, default_output, write_outputs
from reports.summary import render_console

EPILOG = """\
tests:
  TEST01  an accuracy run, a reference performance run, then a performance run logging a
          share of its responses (accuracy_log_probability, default 0.1); every logged
          response must equal the accuracy run's for its sample index, and the logging run's
          score be within 10% of the reference's
  TEST04  a performance run, then one where every query uses the same sample; FAIL when
          that run is 10% or more faster (the SUT may cache results)
  TEST06  one performance run of an LLM SUT with every response logged: the reported first
          token matches the output's (not Offline), at most one EOS ends each output, and
          each token count matches its output (--dtype, --eos-token-id)
  TEST07  one performance run with every response logged: their top-1 accuracy against the
          QSL's labels must be at least --accuracy-threshold
  TEST09  one performance run with every response logged: the mean output length in 4-byte
          tokens must lie within [--min-output-tokens, --max-output-tokens]
  TEST05  (no longer part of MLPerf's suite) a run with the official seeds, then one with
          the TEST05 seeds (both from scenarios/mlperf.conf); FAIL when 5% or more slower
  SingleStream at <= 200 us and MultiStream at <= 1.6 ms relax TEST04/TEST05 to 20%.

examples:
  python -m loadgen.compliance TEST01 --scenario single_stream --set min_duration_ms=2000
  python -m loadgen.compliance TEST04 --scenario offline --sut mysut.py:MySUT
  python -m loadgen.compliance TEST06 --scenario server --sut llm.py:LLM --set server_target_qps=50
  python -m loadgen.compliance TEST09 --sut llm.py:LLM --min-output-tokens 100 --max-output-tokens 140

a token SUT completes each sample with its output tokens as the response and n_tokens, and
reports the first token with samples.first_token(ids, tokens=[first_token_array, ...]).

settings are layered as for python -m loadgen.run (scenario file < --config < --set); the
test sets mode itself (and what else it tests: seeds, response logging, token latencies).
Results: DIR/<run>/ for each run, DIR/TESTxx/ in MLPerf's audit layout (upstream's verify
file, accuracy/, performance/run_1/), DIR/results/performance/run_1/ for TEST04/TEST05's
reference run, and DIR/verification.txt with the verdict.

exit codes: 0 TEST PASS, 3 TEST FAIL, 2 bad usage or settings, 1 SUT or harness error, 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.compliance",
        description="Run an MLPerf compliance test (TEST01, TEST04, TEST06, TEST07, TEST09; TEST05) on a SUT; "
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
    tokens = parser.add_argument_group("TEST06, TEST07, TEST09")
    tokens.add_argument("--dtype", default=DEFAULT_TOKEN_DTYPE, choices=list(TOKEN_DTYPES),
                        help=f"TEST06: how output tokens are encoded (default {DEFAULT_TOKEN_DTYPE})")
    tokens.add_argument("--eos-token-id", type=int, default=DEFAULT_EOS_TOKEN,
                        help=f"TEST06: the EOS token (default {DEFAULT_EOS_TOKEN})")
    tokens.add_argument("--accuracy-threshold", type=float, help="TEST07: the least top-1 accuracy that passes, 0 to 1")
    tokens.add_argument("--min-output-tokens", type=float, help="TEST09: the least mean output length that passes")
    tokens.add_argument("--max-output-tokens", type=float, help="TEST09: the largest mean output length that passes")
    tokens.add_argument("--audit-config", type=Path, metavar="FILE",
                        help="an upstream TEST07/TEST09 audit.config: its test07_accuracy_threshold, "
                        "test09_min_output_tokens and test09_max_output_tokens (the options above win)")
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


def output_rules(args: argparse.Namespace) -> OutputRules:
    """The output tests' rules from the command line (over an --audit-config's bounds, as
    upstream's scripts let their options win); impossible ones are usage errors."""
    bounds = audit_config_bounds(args.audit_config, args.scenario) if args.audit_config else {}
    given = {"accuracy_threshold": args.accuracy_threshold, "min_output_tokens": args.min_output_tokens,
             "max_output_tokens": args.max_output_tokens}
    bounds |= {name: value for name, value in given.items() if value is not None}
    rules = OutputRules(dtype=args.dtype, eos_token_id=args.eos_token_id, **bounds)
    problems = rules.problems(args.test)
    if problems:
        raise SettingsError(problems)
    return rules


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.samples < 1:
            raise SettingsError([f"--samples {args.samples}: allowed: a whole number >= 1"])
        settings = settings_from_args(args)
        rules = output_rules(args)
        PLANS[args.test](settings)  # refuse impossible settings before anything runs
        sut = build_sut(args.sut, sut_kwargs(args.sut_args), adapt=model_as_sut)
        qsl = qsl_for(sut, args.samples)
        labels = getattr(qsl, "labels", None)
        if args.test == "TEST07" and labels is None:
            raise SettingsError([f"TEST07: the QSL {qsl.name!r} has no labels to score the responses against"])
        watched = FirstTokenSUT(sut) if args.test == "TEST06" else None
        runner = watched or sut
        show = not args.no_progress and sys.stderr.isatty()
        observer = (lambda engine: progress_bar(engine, sys.stderr)) if show else None
        outcome = run_compliance(
            args.test, lambda s: run_benchmark(runner, qsl, s, observer=observer), settings, rules, labels,
            watched.first_tokens if watched else None,
        )
    except LoadgenError as exc:
        print_error(exc)
        return ExitCode.USAGE
    output = args.output or default_output(f"compliance-{args.test}")
    for name, benchmark in outcome.runs.items():
        write_outputs(concluded(benchmark, args.trace), output / name, args.trace)
    lines = format_outcome(outcome)
    (output / "verification.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    audit = write_audit_layout(outcome, output)
    print("\n".join(lines))
    written = [name + "/" for name in outcome.runs] + [f"{path}/" for path in audit] + ["verification.txt"]
    print(f"results: {output} ({', '.join(written)})")
    if outcome.aborted is not None and outcome.aborted.error is not None:
        print_error(outcome.aborted.error)
    return outcome_exit_code(outcome)


AUDIT_RUNS = {"TEST01": "performance", "TEST04": "same_sample", "TEST05": "alternate_seeds"}
"""The run whose logs go into TESTxx/ (the others' test run is their only one)."""
LOG_FILES = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")


def _copy_logs(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in LOG_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)


def write_audit_layout(outcome: Outcome, output: Path) -> list[str]:
    """MLPerf's audit layout for the test: TESTxx/ (upstream's verification files, accuracy/,
    performance/run_1/) and, for TEST01/TEST04/TEST05, results/performance/run_1/ (the
    reference run) and, for TEST01, results/accuracy/ (the accuracy run).
    Nothing is written for a test without a verdict. Returns the folders written."""
    verdict = outcome.verdict
    if verdict is None:
        return []
    test_dir = output / outcome.test
    run_name = AUDIT_RUNS.get(outcome.test, outcome.plan.names[0])
    _copy_logs(output / run_name, test_dir / "performance" / "run_1")
    accuracy_dir = test_dir / "accuracy"
    accuracy_dir.mkdir(parents=True, exist_ok=True)
    accuracy_log = "mlperf_log_accuracy.json"
    if outcome.test in OUTPUT_TESTS:
        (accuracy_dir / accuracy_log).write_text(json.dumps(outcome.entries, indent=0) + "\n", encoding="utf-8")
    elif (output / run_name / accuracy_log).is_file():
        shutil.copy2(output / run_name / accuracy_log, accuracy_dir / accuracy_log)
    written = [outcome.test]
    if "reference" in outcome.runs:  # the results tree's performance run, which the test compares against
        _copy_logs(output / "reference", output / "results" / "performance" / "run_1")
        written.append("results")
    if outcome.test == "TEST01":  # and its accuracy run
        _copy_logs(output / "accuracy", output / "results" / "accuracy")
        if (output / "accuracy" / accuracy_log).is_file():
            shutil.copy2(output / "accuracy" / accuracy_log, output / "results" / "accuracy" / accuracy_log)
        for name, part in outcome.parts.items():
            _write_lines(test_dir / name, part.lines())
        return written
    audit_file = getattr(verdict, "audit_file", "") or "verify_performance.txt"
    audit_lines = getattr(verdict, "audit_lines", []) or verdict.lines()  # ends "TEST PASS" or "TEST FAIL: ..."
    _write_lines(test_dir / audit_file, audit_lines)
    return written


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


