"""`python -m loadgen.run`: benchmark a SUT under one scenario and write the results folder.

Exit codes: 0 completed and VALID; 3 completed but INVALID; 2 bad usage or settings;
1 SUT or harness error; 130 interrupted. On an error or Ctrl-C, whatever was recorded is
still written, marked INVALID with the reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import sys
import traceback
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from loadgen.benchmark.peak import run_find_peak
from loadgen.benchmark.runner import Benchmark, model_facts, performance_sample_count, run_benchmark, tool_version
from loadgen.cli.common import ExitCode, print_error, settings_from_args, sut_kwargs
from loadgen.cli.progress import READY_LINE, console_observer
from loadgen.cli.repeat import run_repeated
from loadgen.cli.supervise import GRACE_S, ChildRun, supervise
from loadgen.cli.sut_spec import build_model_or_sut, model_adapter, qsl_for
from loadgen.distributed.driver import Terminated, run_distributed, signals_deferred
from loadgen.engine.loops import Engine
from loadgen.engine.query import QuerySampleLibrary, SystemUnderTest
from loadgen.engine.schedule import Schedule
from loadgen.errors import Interrupted, LoadgenError, RunAborted, SettingsError
from loadgen.machine.fingerprint import collect_fingerprint
from loadgen.results.folder import (
    concluded,
    default_output,
    discard_unused,
    estimated_bytes,
    missing_top,
    prepare_output,
    write_outputs,
)
from loadgen.results.live import Phase, Status, leave_refusal, live_folder, remove_live, write_state
from loadgen.results.recovery import rebuild, run_state
from loadgen.settings.model import TRACE_SAMPLE_LIMIT, Mode, TestSettings, settings_schema
from reports.summary import render_console

DEFAULT_SUT = "sut.digit_mlp"


EPILOG = """\
examples:
  python -m loadgen.run --scenario offline
  python -m loadgen.run --scenario single_stream --set min_duration_ms=2000
  python -m loadgen.run --scenario server --sut mypkg.mysut:make_sut --set server_target_qps=200
  python -m loadgen.run --scenario server --sut sut.fixed_time --sut-arg service_us=250 --sut-arg workers=2
  python -m loadgen.run --scenario my_rules.toml --config user.toml --trace --output results/mine
  python -m loadgen.run --scenario offline --mode accuracy
  python -m loadgen.run --scenario offline --mode accuracy --sut my_model.py:model --dataset toy.npz
  python -m loadgen.run --scenario server --rules mlperf --model resnet50 --user-conf user.conf
  python -m loadgen.run --scenario server --mode find_peak --set min_duration_ms=1000

settings are layered, lowest first: the scenario file < --config FILE < --set KEY=VALUE.
Unset rates and latencies (server_target_qps, offline_expected_qps, *_expected_latency_ns)
are measured by a short pilot; result.json records which. --print-schema lists every key.

exit codes: 0 VALID, 3 INVALID, 2 bad usage or settings, 1 SUT or harness error, 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.run",
        description="Benchmark a system under test (SUT) under a LoadGen scenario; "
        "writes mlperf_log_summary.txt, result.json and the per-sample trace.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scenario",
        default="offline",
        help="single_stream, multi_stream, server, offline (or SingleStream, ...), "
        "or a path to a scenario TOML file (default: offline)",
    )
    parser.add_argument(
        "--mode",
        help="performance (default), accuracy (every sample once, scored against the QSL's labels), "
        "submission (accuracy then performance), find_peak (Server: highest VALID rate)",
    )
    parser.add_argument(
        "--rules",
        help="an MLPerf rule set shipped in scenarios/ (mlperf: round 6.1's mlperf.conf: seeds, 600 s "
        "minimum, per-model latency bounds), looked up for --model",
    )
    parser.add_argument(
        "--model", default="*", help="the MLPerf model name for --rules and --user-conf (e.g. resnet50)"
    )
    parser.add_argument("--user-conf", type=Path, help="an MLPerf user.conf layered over the rules (no seeds)")
    parser.add_argument("--config", type=Path, help="a TOML file of settings layered over the scenario's")
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE", help="one setting (repeatable)"
    )
    parser.add_argument(
        "--sut",
        default=DEFAULT_SUT,
        help="module:attr, path/to/file.py:attr, or a module with make_sut(); attr may name a SUT, "
        "a class or factory (called with --sut-arg), or a bare model object (forward/predict/__call__), "
        f"which is run over TinyDigits (default: {DEFAULT_SUT}, a DigitMLP classifier on TinyDigits)",
    )
    parser.add_argument(
        "--sut-arg", dest="sut_args", action="append", default=[], metavar="KEY=VALUE",
        help="keyword argument for the SUT factory (repeatable)",
    )
    parser.add_argument(
        "--dataset", type=Path, metavar="FILE",
        help="for a bare model: a labelled dataset instead of TinyDigits, a .npz with images (or features) and "
        "labels, or the course's .pkl dict (images, labels; only numpy arrays are unpickled)",
    )
    parser.add_argument(
        "--samples", type=int, default=1024,
        help="size of the index-only QSL for SUTs without a qsl (1 to 64,000,000; default 1024)"
    )
    parser.add_argument("--output", type=Path, help="results folder (default: results/<time>-<scenario>)")
    parser.add_argument("--trace", action="store_true", help="also write mlperf_log_trace.json (Chrome trace format)")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    parser.add_argument("--no-report", action="store_true",
                        help="skip report.html and report.md (the page with plots); "
                        "python -m loadgen.report FOLDER makes them later")
    parser.add_argument(
        "--runs", type=int, default=1,
        help="run the scenario N times, each in a fresh process, into OUTPUT/run-1 ... run-N, and write "
        "OUTPUT/aggregate.json: per figure the median, mean with its Student-t interval, CV, n, outliers (default 1)",
    )
    parser.add_argument("--in-process", action="store_true", help="with --runs: run them in this process instead")
    parser.add_argument(
        "--workers", type=int,
        help="Server/Offline: split the one schedule across N Ray worker processes, each with its own SUT "
        "from --sut/--sut-arg, and merge their traces into one result (needs pip install '.[ray]'; "
        "see docs/distributed.md)",
    )
    parser.add_argument(
        "--ray-address", help="with --workers: run the workers on this Ray cluster (default: a local Ray instance)"
    )
    parser.add_argument("--print-schema", action="store_true", help="print the settings' JSON schema and exit")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="reuse a non-empty --output folder: an earlier run's files there are removed first (others are kept)",
    )
    parser.add_argument(
        "--grace-s", type=float, default=GRACE_S, metavar="SECONDS",
        help="the run goes on in a child process; after an interrupt, or when it stops responding for "
        f"sample_timeout_ms, it has this long to stop before it is killed (SIGKILL) (default {GRACE_S:g})",
    )
    return parser


def model_as_sut(obj: object) -> SystemUnderTest | None:
    """A bare model (forward / predict / __call__, no issue_query) runs over TinyDigits."""
    return model_adapter()(obj)


def exit_code(benchmark: Benchmark) -> int:
    if isinstance(benchmark.error, Interrupted):
        return ExitCode.INTERRUPTED
    if isinstance(benchmark.error, RunAborted):
        return ExitCode.ERROR
    return ExitCode.OK if benchmark.result.valid else ExitCode.INVALID


def main(argv: Sequence[str] | None = None) -> int:
    """Check everything that can be checked, then run the benchmark in a supervised child process."""
    args = build_parser().parse_args(argv)
    if args.print_schema:
        print(json.dumps(settings_schema(), indent=2))
        return ExitCode.OK
    given = sys.argv[1:] if argv is None else list(argv)
    if args.runs != 1:
        return _run_repeated(args, given)
    try:
        if not 1 <= args.samples <= TRACE_SAMPLE_LIMIT:
            raise SettingsError([f"--samples {args.samples}: allowed: a whole number from 1 to {TRACE_SAMPLE_LIMIT:,}"])
        if not args.grace_s > 0:
            raise SettingsError([f"--grace-s {args.grace_s}: allowed: seconds > 0"])
        settings = settings_from_args(args)
        output = args.output or default_output(settings.scenario.value)
        made = missing_top(output)
        notes = prepare_output(output, args.overwrite, estimated_bytes(settings, args.trace))
        if args.workers is not None or args.ray_address:
            return _finish_distributed(args, output, _run_on_ray(args, settings))
    except Interrupted as exc:  # --workers: a signal before timing started
        print_error(exc)
        return ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED
    except LoadgenError as exc:
        print_error(exc)
        return ExitCode.USAGE
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    code = supervise(
        lambda status: _run_child(args, settings, output, status), output, settings.sample_timeout_ms / 1000,
        args.grace_s,
    )
    if code == ExitCode.USAGE:
        discard_unused(output, made)
    return code


def _run_child(args: argparse.Namespace, settings: TestSettings, output: Path, status: Status) -> int:
    """The supervised run: builds the SUT, runs, writes the results folder; its trace lives in output/live/."""
    child = ChildRun(output, status, defer_after_timing=settings.mode is not Mode.FindPeakPerformance)
    try:
        sut = build_model_or_sut(args.sut, sut_kwargs(args.sut_args), args.dataset)
        qsl = qsl_for(sut, args.samples)
        loaded_count = performance_sample_count(settings, qsl)
        fingerprint = collect_fingerprint()
        write_state(output, run_state(
            tool=tool_version(), started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            sut_name=str(getattr(sut, "name", type(sut).__name__)), qsl_name=str(qsl.name), settings=settings,
            fingerprint=fingerprint, model=model_facts(sut), total_sample_count=qsl.total_sample_count,
            performance_sample_count=loaded_count, chrome_trace=args.trace,
        ))
    except LoadgenError as exc:
        leave_refusal(output, str(exc))
        return ExitCode.USAGE
    except KeyboardInterrupt:
        print_error("interrupted before the run started: nothing was recorded")
        return child.exit_code(ExitCode.INTERRUPTED)
    child.set_phase(Phase.RUNNING)
    benchmark = _benchmark(args, settings, output, child, sut, qsl, fingerprint)
    if benchmark is None:
        return ExitCode.USAGE
    child.set_phase(Phase.WRITING)
    benchmark = concluded(child.retell(benchmark, settings.sample_timeout_ms), args.trace)
    try:
        write_outputs(benchmark, output, args.trace)
    except OSError as exc:
        print(render_console(benchmark.result))
        print_error(f"cannot write the results to {output}: {exc}")
        print_error(f"the live recording is kept in {live_folder(output)}: `loadgen recover {output}` writes them")
        return ExitCode.ERROR
    _tell(args, output, benchmark)
    return child.exit_code(exit_code(benchmark))


def _tell(args: argparse.Namespace, output: Path, benchmark: Benchmark) -> None:
    """The written run on the console, its report beside the results, and how it ended."""
    print(render_console(benchmark.result))
    print(f"results: {output}")
    if not args.no_report:
        from loadgen.cli.report import report_run_folder  # here: matplotlib loads after the run, not before

        report_run_folder(output, benchmark.result, benchmark.trace)
    if benchmark.error is not None:
        print_error(benchmark.error)


def _finish_distributed(args: argparse.Namespace, output: Path, benchmark: Benchmark) -> int:
    """--workers: the driver writes the merged run's folder (the workers are processes of their own,
    watched by the driver, so this path is not forked under the supervisor)."""
    with signals_deferred() as late:  # a signal now waits for the results, then sets the exit code
        benchmark = concluded(benchmark, args.trace)
        write_outputs(benchmark, output, args.trace)
        _tell(args, output, benchmark)
    if isinstance(benchmark.error, Terminated) or late.kind() is Terminated:
        return ExitCode.TERMINATED
    return ExitCode.INTERRUPTED if late.received is not None else exit_code(benchmark)


def _sut_and_qsl(
    spec: str, kwargs: dict[str, object], samples: int, dataset: Path | None = None
) -> tuple[SystemUnderTest, QuerySampleLibrary]:
    """What each distributed worker builds: the --sut SUT and its QSL (pickled to the worker as a partial)."""
    sut = build_model_or_sut(spec, kwargs, dataset)
    return sut, qsl_for(sut, samples)


def _run_on_ray(args: argparse.Namespace, settings: TestSettings) -> Benchmark:
    """--workers / --ray-address: the run on Ray worker actors (loadgen.distributed)."""
    make = functools.partial(_sut_and_qsl, args.sut, sut_kwargs(args.sut_args), args.samples, args.dataset)
    workers = 1 if args.workers is None else args.workers
    return run_distributed(make, settings, workers, args.ray_address, on_start=_announce_workers)


def _announce_workers(schedule: Schedule, workers: int) -> None:
    """The readiness line of a distributed run (as console_observer's for one process)."""
    print(f"{READY_LINE}: {schedule.scenario.value}, {schedule.n_queries:,} queries scheduled on {workers} "
          "worker(s); Ctrl-C or SIGTERM ends it and writes what was recorded", file=sys.stderr, flush=True)


def _benchmark(
    args: argparse.Namespace,
    settings: TestSettings,
    output: Path,
    child: ChildRun,
    sut: SystemUnderTest,
    qsl: QuerySampleLibrary,
    fingerprint: dict[str, Any],
) -> Benchmark | None:
    """Run it; None when the settings were refused after all (nothing timed ran: exit 2)."""
    console = console_observer(sys.stderr, not args.no_progress and sys.stderr.isatty())

    def observer(engine: Engine) -> AbstractContextManager[None]:
        return child.timed(engine, console(engine))

    traced = settings.mode in (Mode.PerformanceOnly, Mode.SubmissionRun)
    try:
        if settings.mode is Mode.FindPeakPerformance:
            return run_find_peak(sut, qsl, settings, observer, progress=sys.stderr)
        return run_benchmark(
            sut, qsl, settings, observer=observer, fingerprint=fingerprint,
            trace_folder=live_folder(output) if traced else None,
        )
    except LoadgenError as exc:
        remove_live(output)
        leave_refusal(output, str(exc))
        return None
    except KeyboardInterrupt:
        reason = "interrupted by the user while the figures were computed"
    except Exception as exc:  # a harness bug: keep what was recorded, and say where it failed
        traceback.print_exc()
        reason = f"the harness failed: {type(exc).__name__}: {exc}"
    return rebuild(output, reason)


def _run_repeated(args: argparse.Namespace, argv: list[str]) -> int:
    """--runs N: check the settings once, then hand over to loadgen.repeat (one process a run)."""

    try:
        if args.runs < 1:
            raise SettingsError([f"--runs {args.runs}: allowed: a whole number >= 1"])
        settings = settings_from_args(args)
        output = args.output or default_output(settings.scenario.value)
        for note in prepare_output(output, args.overwrite, args.runs * estimated_bytes(settings, args.trace)):
            print(f"note: {note}", file=sys.stderr)
    except LoadgenError as exc:
        print_error(exc)
        return ExitCode.USAGE
    code = run_repeated(argv, args.runs, output, main if args.in_process else None)
    if not args.no_report and code != ExitCode.USAGE:
        from loadgen.cli.report import report_folders  # here: matplotlib loads after the runs

        report_folders([output])
    return code
