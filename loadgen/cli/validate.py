"""`python -m loadgen.validate submission.json [--strict] | RESULTS_FOLDER --rules capstone|mlperf [--model NAME]`.

A submission: checks the course's schema and rules and, when it carries this harness's
evidence, that the files match their hashes, its figures recompute from the traces, and its
runs followed the rule set they claim. Prints one finding per line ("error: ...",
"warning: ...", "info: ..."), then "submission VALID" or "submission INVALID", then
"COMPLIANT" or "NOT COMPLIANT: <each rule broken>". A practice run shortened with --set is a
valid file but not compliant, and not eligible for a leaderboard.

A results folder (result.json and trace.npz from `python -m loadgen.run`): its figures
recompute from its trace and its run follows `--rules` (the capstone's scenarios/capstone.toml,
or MLPerf's mlperf.conf for `--model` and the run's scenario); then the compliant result
summary, or NOT COMPLIANT and each rule broken.

It reads data only, within a total read budget, and never runs or imports anything from
the submission or the folder it is run in.

Exit codes: 0 valid (and compliant, where compliance is asked for: --strict, --rules, or a
results folder); 3 invalid or not compliant; 2 bad usage (no such file, not JSON).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from loadgen.capstone import judge_results_folder, judge_submission, read_result
from loadgen.capstone.compliance import MLPERF_MODES, RuleSet, capstone_rules, compliance_line
from loadgen.capstone.schema import load_submission
from loadgen.cli.common import ExitCode, print_error
from loadgen.errors import LoadgenError
from loadgen.mlperf.config import layers_from_configs, rules_path
from loadgen.settings.model import Scenario
from reports.summary import render_console

RULE_SETS = ("capstone", "mlperf")

EPILOG = """\
examples:
  python -m loadgen.validate my_submission/submission.json
  python -m loadgen.validate my_submission/submission.json --strict     # evidence and compliance required
  python -m loadgen.validate results/mine --rules capstone
  python -m loadgen.validate results/server-run --rules mlperf --model resnet50

exit codes: 0 valid (and compliant where asked: --strict, --rules, a results folder),
3 invalid or not compliant, 2 bad usage (no such file, not JSON, unknown rules).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.validate",
        description="Validate a TinyTorch capstone submission.json (schema, rules, events, evidence, compliance), "
        "or a results folder against a rule set.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", type=Path, help="a submission.json, or a results folder (with --rules)")
    parser.add_argument(
        "--strict", action="store_true",
        help="a submission needs this harness's evidence and must be COMPLIANT (exit 3 otherwise)",
    )
    parser.add_argument(
        "--rules", choices=RULE_SETS,
        help="the rule set to check compliance against: capstone (scenarios/capstone.toml) or mlperf "
        "(mlperf.conf, for --model and the run's scenario); a submission follows the capstone's",
    )
    parser.add_argument("--model", default="*", help="with --rules mlperf: the MLPerf model name (e.g. resnet50)")
    return parser


def mlperf_rules(model: str, scenario_name: str) -> RuleSet:
    """MLPerf's rules for a model and scenario, as `--rules mlperf --model NAME` layers them on a run."""
    scenario = Scenario.parse(scenario_name)
    values: dict[str, object] = {}
    sources = []
    for source, layer in layers_from_configs(model, scenario, rules_path("mlperf"), None, None):
        values |= layer
        sources.append(source)
    return RuleSet("mlperf", f"{', '.join(sources)} for {model} {scenario.value}", values, MLPERF_MODES)


def _validate_folder(folder: Path, rules_name: str, model: str) -> int:
    try:
        result = read_result(folder)
        rules = capstone_rules() if rules_name == "capstone" else mlperf_rules(model, result.scenario)
    except (ValueError, OSError, LoadgenError) as exc:
        print_error(f"{folder}: {exc}")
        return ExitCode.USAGE
    verdict = judge_results_folder(folder, rules)
    for finding in verdict.findings:
        print(finding)
    if verdict.compliant and verdict.result is not None:
        print(f"compliant result summary ({rules.name} rules: {rules.source}):")
        print(render_console(verdict.result).rstrip())
    print(compliance_line(verdict.broken_rules if verdict.compliant else [
        *(finding.message for finding in verdict.findings if finding.level == "error"), *verdict.broken_rules
    ]))
    return ExitCode.OK if verdict.compliant else ExitCode.INVALID


def _validate_submission(path: Path, strict: bool, rules_name: str | None) -> int:
    if rules_name not in (None, "capstone"):
        print_error(f"--rules {rules_name}: a submission follows the capstone rules; mlperf is for a results folder")
        return ExitCode.USAGE
    try:
        data, findings = load_submission(path)
    except OSError as exc:
        print_error(f"{path}: cannot read: {exc.strerror or exc}")
        return ExitCode.USAGE
    except ValueError as exc:
        print_error(exc)
        return ExitCode.USAGE
    broken = ["the submission does not parse"]
    if data is not None:
        verdict = judge_submission(data, path.parent, strict=strict)
        findings += verdict.findings
        broken = verdict.broken_rules
    for finding in findings:
        print(finding)
    valid = not any(finding.level == "error" for finding in findings)
    print("submission VALID" if valid else "submission INVALID")
    print(compliance_line(broken))
    if not valid or ((strict or rules_name is not None) and broken):
        return ExitCode.INVALID
    return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path: Path = args.path
    if path.is_dir():
        if args.rules is None and not (path / "submission.json").is_file():
            print_error(f"{path} is a folder: give --rules capstone|mlperf to check a results folder")
            return ExitCode.USAGE
        if args.rules is not None or not (path / "submission.json").is_file():
            return _validate_folder(path, args.rules, args.model)
        path = path / "submission.json"
    return _validate_submission(path, args.strict, args.rules)
