"""`python -m loadgen.run`: benchmark a SUT under one scenario and write the results folder.

Exit codes: 0 completed and VALID; 3 completed but INVALID; 2 bad usage or settings;
1 SUT or harness error; 130 interrupted. On an error or Ctrl-C, whatever was recorded is
still written, marked INVALID with the reason.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from loadgen.benchmark.peak import run_find_peak
from loadgen.benchmark.runner import Benchmark, run_benchmark
from loadgen.cli.common import ExitCode, print_error, settings_from_args, sut_kwargs
from loadgen.cli.progress import console_observer
from loadgen.cli.repeat import run_repeated
from loadgen.cli.sut_spec import build_model_or_sut, model_adapter, qsl_for
from loadgen.distributed.driver import run_distributed
from loadgen.engine.query import QuerySampleLibrary, SystemUnderTest
from loadgen.errors import Interrupted, LoadgenError, RunAborted, SettingsError
from loadgen.results.folder import concluded, default_output, write_outputs
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
  python -m loadgen.run --scenario server --workers 2 --sut sut.fixed_time --set server_target_qps=1000

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
    args = build_parser().parse_args(argv)
    if args.print_schema:
        print(json.dumps(settings_schema(), indent=2))
        return ExitCode.OK
    if args.runs != 1:
        return _run_repeated(args, sys.argv[1:] if argv is None else list(argv))
    try:
        if not 1 <= args.samples <= TRACE_SAMPLE_LIMIT:
            raise SettingsError([f"--samples {args.samples}: allowed: a whole number from 1 to {TRACE_SAMPLE_LIMIT:,}"])
        settings = settings_from_args(args)
        if args.workers is not None or args.ray_address:
            return _finish(args, settings.scenario.value, _run_on_ray(args, settings))
        sut = build_model_or_sut(args.sut, sut_kwargs(args.sut_args), args.dataset)
        qsl = qsl_for(sut, args.samples)
        show = not args.no_progress and sys.stderr.isatty()
        observer = console_observer(sys.stderr, show)
        if settings.mode is Mode.FindPeakPerformance:
            benchmark = run_find_peak(sut, qsl, settings, observer, progress=sys.stderr)
        else:
            benchmark = run_benchmark(sut, qsl, settings, observer=observer)
    except LoadgenError as exc:
        print_error(exc)
        return ExitCode.USAGE
    return _finish(args, settings.scenario.value, benchmark)


def _finish(args: argparse.Namespace, label: str, benchmark: Benchmark) -> int:
    """Write the results folder, print the verdict, and say how the run ended."""
    output = args.output or default_output(label)
    benchmark = concluded(benchmark, args.trace)
    write_outputs(benchmark, output, args.trace)
    print(render_console(benchmark.result))
    print(f"results: {output}")
    if benchmark.error is not None:
        print_error(benchmark.error)
    return exit_code(benchmark)


def _sut_and_qsl(
    spec: str, kwargs: dict[str, object], samples: int, dataset: Path | None = None
) -> tuple[SystemUnderTest, QuerySampleLibrary]:
    """What each distributed worker builds: the --sut SUT and its QSL (pickled to the worker as a partial)."""
    sut = build_model_or_sut(spec, kwargs, dataset)
    return sut, qsl_for(sut, samples)


def _run_on_ray(args: argparse.Namespace, settings: TestSettings) -> Benchmark:
    """--workers / --ray-address: the run on Ray worker actors (loadgen.distributed)."""
    make = functools.partial(_sut_and_qsl, args.sut, sut_kwargs(args.sut_args), args.samples, args.dataset)
    return run_distributed(make, settings, 1 if args.workers is None else args.workers, args.ray_address)


def _run_repeated(args: argparse.Namespace, argv: list[str]) -> int:
    """--runs N: check the settings once, then hand over to loadgen.repeat (one process a run)."""

    try:
        if args.runs < 1:
            raise SettingsError([f"--runs {args.runs}: allowed: a whole number >= 1"])
        settings = settings_from_args(args)
    except LoadgenError as exc:
        print_error(exc)
        return ExitCode.USAGE
    output = args.output or default_output(settings.scenario.value)
    return run_repeated(argv, args.runs, output, main if args.in_process else None)
