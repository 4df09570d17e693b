"""`python -m loadgen.submit`: benchmark a baseline and an optimized model, write submission.json.

Both SUTs run under the capstone rule set (`scenarios/capstone.toml`: SingleStream, fixed
seeds, at least 5 s and 1,000 queries) in Mode SubmissionRun: every sample once for
accuracy, then the timed performance run. The baseline runs first, then the optimized
model, on one fingerprint of this machine. Each run's results folder (result.json,
trace.npz, the summary and the accuracy log) is written beside the submission, in
`<stem>-evidence/baseline` and `<stem>-evidence/optimized`; submission.json is in the
course's schema (loadgen.capstone) plus an `evidence` block naming those files and their
sha256, so `python -m loadgen.validate submission.json` can recompute every figure.

With `--runs N` each model runs N times, interleaved (baseline, optimized, baseline, ...),
into `<stem>-evidence/<side>/run-K`; each latency and throughput figure of submission.json is
then the geometric mean of the N runs' figures, every run is evidence the validator re-derives,
and the leaderboard decides ties between such submissions over their runs.

A submission is written only when every run is VALID and loadgen.capstone finds no
error in it; otherwise the evidence folders are still written and the reasons printed.

Exit codes: 0 written; 1 a run failed, was INVALID, or the submission would not be valid;
2 bad usage or settings (nothing ran); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loadgen.analysis.stats import (
    ACCURACY_DELTA_FORMULA,
    COMPRESSION_FORMULA,
    EFFICIENCY_FORMULA,
    METHOD_WELCH_LOG,
    SPEEDUP_FORMULA,
    efficiency_score,
    ratio_interval,
)
from loadgen.benchmark.runner import Benchmark, run_benchmark
from loadgen.capstone import SubmissionVerdict, judge_submission
from loadgen.capstone.building import build_evidence, build_submission
from loadgen.capstone.course import ACROSS_RUNS, MEDIAN_RESAMPLES, median_speedup_interval
from loadgen.capstone.schema import MAX_EVIDENCE_RUNS, Finding, load_submission
from loadgen.cli.common import ExitCode, print_error, settings_from_args, sut_kwargs
from loadgen.cli.progress import progress_bar
from loadgen.cli.sut_spec import build_model_or_sut, qsl_for
from loadgen.engine.query import SystemUnderTest
from loadgen.errors import Interrupted, LoadgenError, SettingsError
from loadgen.machine.fingerprint import collect_fingerprint
from loadgen.metrics.figures import query_latencies_ns
from loadgen.results.folder import concluded, write_outputs
from loadgen.settings.layers import shipped_file
from loadgen.settings.model import Mode, Scenario, TestSettings
from reports.summary import format_ns, render_console
from sut.tinytorch import model_facts as tinytorch_model_facts

RULES_FILE = "capstone.toml"
SIDES = ("baseline", "optimized")
SUBMISSION_MODE = Mode.SubmissionRun
SUBMISSION_SCENARIO = Scenario.SingleStream
FACT_KEYS = ("parameter_count", "model_size_mb")
CONFIDENCE = 0.95

EPILOG = """\
examples:
  python -m loadgen.submit --baseline examples/student_model.py:model \\
      --optimized examples/student_model.py:optimized --techniques quantization \\
      --student "Ada" --output my_submission/submission.json
  python -m loadgen.submit --baseline sut.digit_mlp --optimized sut.digit_mlp \\
      --sut-arg-optimized model_name=digit_mlp_int8 --techniques "int8 quantization"
  python -m loadgen.submit --baseline my_model.py:model --dataset toy.npz     # baseline only
  python -m loadgen.submit --baseline sut.digit_mlp --optimized sut.digit_mlp \
      --sut-arg-optimized model_name=digit_mlp_int8 --techniques int8 --runs 5  # ties decided over runs
  python -m loadgen.validate my_submission/submission.json

improvements are the course's formulas: speedup = baseline / optimized latency_ms_mean,
compression_ratio = baseline / optimized model_size_mb, accuracy_delta = optimized - baseline
accuracy; harness.speedup_median (medians, with a bootstrap interval; with --runs N, a Welch t
interval over the runs' medians) is reported beside them. With --runs N, every latency and
throughput figure is the geometric mean of the N runs' figures.

SPEC is what `python -m loadgen.run --sut` takes: module, module:attr, path/to/file.py:attr;
attr may be a bare model object (forward / predict / __call__), run over TinyDigits.
Settings: scenarios/capstone.toml < --config FILE < --set KEY=VALUE (scenario and mode are fixed).

exit codes: 0 written, 1 a run failed or was INVALID (evidence still written), 2 bad usage, 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.submit",
        description="Benchmark a baseline and an optimized model under the TinyTorch capstone rules "
        "(SingleStream, accuracy then performance) and write submission.json with its evidence.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--baseline", required=True, metavar="SPEC", help="the baseline model or SUT (a --sut spec)")
    parser.add_argument(
        "--optimized", metavar="SPEC",
        help="the optimized model or SUT (a --sut spec); leave it out for a baseline-only submission, as the "
        "course's run_example_benchmark() writes",
    )
    parser.add_argument(
        "--techniques", nargs="+", metavar="T",
        help="with --optimized: the optimizations applied, e.g. quantization pruning (one or more)",
    )
    parser.add_argument(
        "--dataset", type=Path, metavar="FILE",
        help="for bare models: a labelled dataset instead of TinyDigits, a .npz (images or features, labels) or "
        "the course's .pkl dict; both models are scored on it",
    )
    parser.add_argument("--student", metavar="NAME", help="your name, as student_name")
    parser.add_argument(
        "--division", choices=("closed", "open"), default="closed",
        help="closed (default: same data and task; an accuracy gain is flagged) or open",
    )
    parser.add_argument(
        "--output", default="submission.json",
        help="where to write submission.json (default: ./submission.json; a folder, or a path without "
        ".json, means submission.json in it); the evidence goes beside it in <stem>-evidence/",
    )
    parser.add_argument("--config", type=Path, help="a TOML file of settings layered over the capstone rules")
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
        help="one setting over the capstone rules (repeatable), e.g. min_duration_ms=1000 for a quick try",
    )
    for side in SIDES:
        parser.add_argument(
            f"--sut-arg-{side}", dest=f"sut_args_{side}", action="append", default=[], metavar="KEY=VALUE",
            help=f"keyword argument for the {side} SUT factory (repeatable)",
        )
    parser.add_argument(
        "--runs", type=int, default=1, metavar="N",
        help="run each model N times, interleaved (default 1); the figures are stated across the runs and the "
        "leaderboard decides ties over them (5 or more runs a side separate close entries best)",
    )
    parser.add_argument("--trace", action="store_true", help="also write each run's mlperf_log_trace.json")
    parser.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    return parser


def rules_path() -> Path:
    """The shipped capstone rule set."""
    return shipped_file(RULES_FILE)


def capstone_settings(args: argparse.Namespace) -> TestSettings:
    """The capstone rules < --config < --set, layered by loadgen.run's own settings_from_args."""
    layered = argparse.Namespace(
        scenario=str(rules_path()), config=args.config, mode=SUBMISSION_MODE.value, assignments=args.assignments
    )
    settings = settings_from_args(layered)
    problems = []
    if settings.scenario is not SUBMISSION_SCENARIO:
        problems.append(
            f"scenario = {settings.scenario.value}: the capstone rules fix it to {SUBMISSION_SCENARIO.value} "
            "(the course compares per-sample latency)"
        )
    if settings.mode is not SUBMISSION_MODE:
        problems.append(
            f"mode = {settings.mode.value}: the capstone rules fix it to {SUBMISSION_MODE.value} "
            "(accuracy and latency measured in one run of each model)"
        )
    if problems:
        raise SettingsError(problems)
    return settings


def submission_path(output: str) -> Path:
    """--output names the file; a folder (existing, ending in /, or a name without a suffix)
    means submission.json inside it."""
    path = Path(output)
    folder = path.is_dir() or output.endswith(("/", os.sep)) or not path.suffix
    return path / "submission.json" if folder else path


def evidence_dir(path: Path) -> Path:
    return path.parent / f"{path.stem}-evidence"


def sut_model_facts(sut: object) -> dict[str, Any]:
    """`sut.model_facts()` when the SUT offers it, else the facts of `sut.model`; {} when neither."""
    facts = getattr(sut, "model_facts", None)
    if callable(facts):
        return dict(facts())
    model = getattr(sut, "model", None)
    return tinytorch_model_facts(model) if model is not None else {}


def check_submittable(side: str, spec: str, sut: SystemUnderTest) -> list[str]:
    """Why a SUT cannot be submitted (no labels to score, no size to compare), before it runs."""
    problems = []
    name = getattr(sut, "name", type(sut).__name__)
    qsl = getattr(sut, "qsl", None)
    if getattr(qsl, "labels", None) is None:
        problems.append(
            f"--{side} {spec}: SUT {name!r} has no labelled dataset (a `qsl` with `labels`), so its accuracy "
            "cannot be scored; give a model object (run over TinyDigits) or a SUT carrying such a qsl"
        )
    try:
        facts = sut_model_facts(sut)
    except Exception as exc:  # the student's count_parameters() / size_bytes() may raise anything
        problems.append(f"--{side} {spec}: model_facts() raised {type(exc).__name__}: {exc}")
    else:
        missing = [key for key in FACT_KEYS if facts.get(key) is None]
        if missing:
            problems.append(
                f"--{side} {spec}: SUT {name!r} does not say its {' and '.join(missing)}; give a model with "
                "parameters() (or count_parameters() and size_bytes()), or a SUT with model_facts()"
            )
    return problems


def facts_of(benchmark: Benchmark, sut: SystemUnderTest) -> dict[str, Any]:
    """The model facts the run recorded (what the validator checks against), plus its top-1 accuracy."""
    recorded = benchmark.result.model or {}
    facts = dict(recorded) if all(recorded.get(key) is not None for key in FACT_KEYS) else sut_model_facts(sut)
    accuracy = benchmark.result.accuracy
    facts["accuracy"] = accuracy.top1 if accuracy is not None else None
    return facts


def clear_stale(folder: Path) -> None:
    """Remove what an earlier run wrote here (the files its result.json lists, and itself), so
    the folder holds one run's files only; anything else in it is left alone."""
    previous = folder / "result.json"
    try:
        listed = json.loads(previous.read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        return
    for name in listed if isinstance(listed, dict) else ():
        if isinstance(name, str) and name == Path(name).name:  # a bare file name, never a path
            (folder / name).unlink(missing_ok=True)
    previous.unlink(missing_ok=True)


def run_failure(side: str, benchmark: Benchmark, folder: Path) -> str | None:
    """Why this run cannot back a submission, or None."""
    result = benchmark.result
    if benchmark.error is not None:
        return f"the {side} run failed: {benchmark.error} (see {folder})"
    if not result.valid:
        return f"the {side} run was INVALID: {'; '.join(result.invalid_reasons)} (see {folder})"
    if result.accuracy is None or result.accuracy.top1 is None:
        note = result.accuracy.note if result.accuracy is not None else "no accuracy run"
        return f"the {side} run has no accuracy: {note}"
    return None


def _ms(value: float) -> str:
    return format_ns(value * 1e6)


def _side_rows(submission: Mapping[str, Any], sides: Sequence[str]) -> list[tuple[str, ...]]:
    metrics = [submission[side]["metrics"] for side in sides]
    return [
        ("model", *(submission[side]["model_name"] for side in sides)),
        ("accuracy (top-1)", *(f"{m['accuracy']:.4f}" for m in metrics)),
        ("size (MiB)", *(f"{m['model_size_mb']:.6g}" for m in metrics)),
        ("parameters", *(f"{m['parameter_count']:,}" for m in metrics)),
        ("latency mean", *(_ms(m["latency_ms_mean"]) for m in metrics)),
        ("latency median", *(_ms(m["latency_ms_median"]) for m in metrics)),
        ("latency p99", *(_ms(m["latency_ms_p99"]) for m in metrics)),
    ]


def _improvement_lines(submission: Mapping[str, Any]) -> list[str]:
    """The course's three improvements with their formulas, then this harness's median speedup."""
    base, opt = submission["baseline"]["metrics"], submission["optimized"]["metrics"]
    improvements = submission["improvements"]
    lines = [
        "improvements (the course's formulas):",
        f"  {SPEEDUP_FORMULA} (latency_ms_mean) = {base['latency_ms_mean']:.6g} / {opt['latency_ms_mean']:.6g} "
        f"= {improvements['speedup']:.4g}x",
        f"  {COMPRESSION_FORMULA} (model_size_mb) = {base['model_size_mb']:.6g} / {opt['model_size_mb']:.6g} "
        f"= {improvements['compression_ratio']:.4g}x",
        f"  {ACCURACY_DELTA_FORMULA} = {opt['accuracy']:.4f} - {base['accuracy']:.4f} "
        f"= {improvements['accuracy_delta']:+.4f}",
    ]
    score = efficiency_score(improvements["speedup"], improvements["compression_ratio"], improvements["accuracy_delta"])
    lines.append(f"  {EFFICIENCY_FORMULA} = {score:.4g} (not part of submission.json)")
    harness = submission.get("harness")
    if harness is not None:
        interval = harness.get("speedup_median_interval")
        shown = f" [{interval[0]:.4g}, {interval[1]:.4g}] ({harness['interval_method']})" if interval else ""
        lines.append(
            f"harness.speedup_median = {base['latency_ms_median']:.6g} / {opt['latency_ms_median']:.6g} "
            f"= {harness['speedup_median']:.4g}x{shown}"
        )
    return lines


def render_report(submission: Mapping[str, Any], findings: Sequence[Finding], compliance: str = "") -> str:
    """The models side by side, the improvements with their formulas, the events, the findings."""
    sides = [side for side in SIDES if side in submission]
    rows = _side_rows(submission, sides)
    width = max(len(str(row[1])) for row in rows) + 2
    who = f" for {submission['student_name']!r}" if submission.get("student_name") else ""
    lines = [f"capstone submission{who} ({submission.get('division', 'closed')} division, SingleStream):"]
    lines.append(f"  {'':18}" + "".join(f"{side:<{width}}" for side in sides).rstrip())
    lines += [f"  {row[0]:18}" + "".join(f"{cell!s:<{width}}" for cell in row[1:]).rstrip() for row in rows]
    if "improvements" in submission:
        lines += _improvement_lines(submission)
    lines.append("events:")
    lines += [f"  {finding.message}" for finding in findings if finding.code == "event"]
    lines += [str(finding) for finding in findings if finding.level != "info"]
    if compliance:
        lines.append(f"rules: {compliance}")
    return "\n".join(lines)


def median_speedup_figures(baseline: Sequence[Benchmark], optimized: Sequence[Benchmark]) -> dict[str, Any]:
    """The interval of the harness's speedup of medians: over repeated runs, the Welch t interval
    of the ratio of the runs' medians (geometric means, as the figures are stated); from one run a
    side, a bootstrap over both runs' query latencies."""
    if len(baseline) > 1 and len(optimized) > 1:
        medians = [[run.result.metrics.latency.percentiles_ns["50.0"] for run in runs  # type: ignore[union-attr]
                    ] for runs in (baseline, optimized)]
        found = ratio_interval(medians[0], medians[1], higher_is_better=False, confidence=CONFIDENCE).interval
        if found is None:
            return {}
        return {"speedup_median_interval": [found.low, found.high],
                "interval_method": f"{CONFIDENCE:.0%} {METHOD_WELCH_LOG} ({len(baseline)} and {len(optimized)} "
                                   "runs' medians)"}
    latencies = [query_latencies_ns(runs[0].trace, Scenario.SingleStream) for runs in (baseline, optimized)]
    interval = median_speedup_interval(latencies[0], latencies[1])
    if interval is None:
        return {}
    return {
        "speedup_median_interval": list(interval),
        "interval_method": f"95% percentile bootstrap, {MEDIAN_RESAMPLES} resamples of each run's query latencies",
    }


def write_submission(submission: dict[str, Any], path: Path) -> SubmissionVerdict:
    """Write through a temporary file, check it exactly as `loadgen.validate` reads it, keep it
    only when it has no error; returns the verdict (findings and compliance)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(submission, indent=2) + "\n", encoding="utf-8")
    try:
        data, findings = load_submission(temporary)
        verdict = SubmissionVerdict(findings, ["the submission does not parse"])
        if data is not None:
            judged = judge_submission(data, path.parent, strict=True)
            verdict = SubmissionVerdict(findings + judged.findings, judged.broken_rules)
        if verdict.valid:
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return verdict


def _check_arguments(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Problems with the options themselves, and the sides to run."""
    sides = [side for side in SIDES if getattr(args, side) is not None]
    problems = [f"--techniques {t!r}: must not be empty" for t in args.techniques or [] if not t.strip()]
    if args.optimized is not None and not args.techniques:
        problems.append("--techniques: required with --optimized (the optimizations applied, e.g. quantization)")
    if args.optimized is None and args.techniques:
        problems.append("--techniques: given without --optimized (a baseline-only submission applies none)")
    if args.student is not None and not args.student.strip():
        problems.append("--student: must not be empty")
    if not 1 <= args.runs <= MAX_EVIDENCE_RUNS:
        problems.append(f"--runs {args.runs}: allowed 1 to {MAX_EVIDENCE_RUNS}")
    return problems, sides


def _build_suts(args: argparse.Namespace, sides: list[str]) -> tuple[dict[str, SystemUnderTest], list[str]]:
    suts: dict[str, SystemUnderTest] = {}
    problems: list[str] = []
    for side in sides:  # every problem of both specs at once, before anything runs
        spec = getattr(args, side)
        try:
            sut = build_model_or_sut(spec, sut_kwargs(getattr(args, f"sut_args_{side}")), args.dataset)
        except LoadgenError as exc:  # its lines say "--sut SPEC: ..."; name the option given
            problems += [line.replace("--sut ", f"--{side} ", 1) for line in str(exc).splitlines()]
            continue
        problems += check_submittable(side, spec, sut)
        suts[side] = sut
    return suts, problems


def run_folder(path: Path, side: str, k: int, runs: int) -> Path:
    """Where a run's evidence goes: `<stem>-evidence/<side>`, or `.../<side>/run-K` of repeated runs."""
    folder = evidence_dir(path) / side
    return folder if runs == 1 else folder / f"run-{k}"


def _assemble(
    args: argparse.Namespace, path: Path, runs: dict[str, list[Benchmark]], suts: dict[str, SystemUnderTest]
) -> dict[str, Any]:
    optimized = runs.get("optimized")
    folders: dict[str, Path | list[Path]] = {
        side: [run_folder(path, side, k, args.runs) for k in range(1, args.runs + 1)] if args.runs > 1
        else run_folder(path, side, 1, 1)
        for side in runs
    }
    submission = build_submission(
        [run.result for run in runs["baseline"]],
        [run.result for run in optimized] if optimized else None,
        facts_of(runs["baseline"][0], suts["baseline"]),
        facts_of(optimized[0], suts["optimized"]) if optimized else None,
        list(args.techniques or []),
        args.student,
        build_evidence(path.parent, folders),
        harness=median_speedup_figures(runs["baseline"], optimized) if optimized else None,
    )
    submission["division"] = args.division
    submission["evidence"] = submission.pop("evidence")  # keep the evidence block last
    return submission


def refuse_runs(runs: dict[str, list[Benchmark]], failures: list[str], evidence: Path) -> int:
    """Say why no submission is written; exit 1 when a run aborted, else 3 (a run was INVALID)."""
    for failure in failures:
        print_error(failure)
    print(f"no submission written; the evidence is in {evidence}", file=sys.stderr)
    aborted = any(benchmark.error is not None for side_runs in runs.values() for benchmark in side_runs)
    return ExitCode.ERROR if aborted else ExitCode.INVALID


def _run_models(
    args: argparse.Namespace, path: Path, suts: dict[str, SystemUnderTest], settings: TestSettings
) -> tuple[dict[str, list[Benchmark]], list[str]] | int:
    """Every run of every model, interleaved, each written to its evidence folder as it ends: the
    runs by side and why any cannot back a submission; or the exit code of an interrupted run."""
    show = not args.no_progress and sys.stderr.isatty()
    observer = (lambda engine: progress_bar(engine, sys.stderr)) if show else None
    fingerprint = collect_fingerprint()
    runs: dict[str, list[Benchmark]] = {side: [] for side in suts}
    failures: list[str] = []
    for k in range(1, args.runs + 1):  # interleaved, so drift in the machine falls on both models alike
        for side, sut in suts.items():
            folder = run_folder(path, side, k, args.runs)
            label = side if args.runs == 1 else f"{side} run {k}"
            print(f"{label}: {getattr(args, side)}" + ("" if args.runs == 1 else f" ({k} of {args.runs})"),
                  flush=True)
            benchmark = run_benchmark(sut, qsl_for(sut, 1), settings, observer=observer, fingerprint=fingerprint)
            clear_stale(folder)
            benchmark = concluded(benchmark, args.trace)
            write_outputs(benchmark, folder, args.trace)
            print(render_console(benchmark.result) + f"results: {folder}\n", flush=True)
            if isinstance(benchmark.error, Interrupted):
                print_error(benchmark.error)
                return ExitCode.INTERRUPTED
            runs[side].append(benchmark)
            failure = run_failure(label, benchmark, folder)
            if failure:
                failures.append(failure)
    return runs, failures


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = submission_path(args.output)
    problems, sides = _check_arguments(args)
    settings: TestSettings | None = None
    try:
        settings = capstone_settings(args)
    except LoadgenError as exc:
        problems += str(exc).splitlines()
    suts, sut_problems = _build_suts(args, sides)
    problems += sut_problems
    if problems or settings is None:
        for problem in problems:
            print_error(problem)
        return ExitCode.USAGE

    evidence = evidence_dir(path)
    path.unlink(missing_ok=True)  # the evidence it named is about to be replaced
    done = _run_models(args, path, suts, settings)
    if isinstance(done, int):
        return done
    runs, failures = done
    if failures:
        return refuse_runs(runs, failures, evidence)

    try:
        submission = _assemble(args, path, runs, suts)
    except (ValueError, TypeError) as exc:
        print_error(exc)
        print(f"no submission written; the evidence is in {evidence}", file=sys.stderr)
        return ExitCode.INVALID
    verdict = write_submission(submission, path)
    if not verdict.valid:
        for finding in verdict.findings:
            print(finding, file=sys.stderr)
        print(f"no submission written: it would not be valid; the evidence is in {evidence}", file=sys.stderr)
        return ExitCode.INVALID
    print(render_report(submission, verdict.findings, verdict.compliance()))
    if args.runs > 1:
        print(f"runs: {args.runs} of each model; each latency and throughput figure is the {ACROSS_RUNS}")
    print(f"submission: {path} (evidence: {evidence}/)")
    print(f"check it:   python -m loadgen.validate {path}")
    return ExitCode.OK
