"""`python -m loadgen.report`: a report page (report.html, report.md and its PNGs) for results folders.

    python -m loadgen.report FOLDER...            a run, a --runs N folder, a comparison, or a LoadGen log folder
    python -m loadgen.report --models BASE OPT... several models against the first (or --baseline)
    python -m loadgen.report parse FOLDER [--json]  read an MLPerf log folder into our result model

Each FOLDER gets its report.html (self-contained: open it offline, mail it), report.md and
report-images/ beside its files; --models writes into --output. The renderers in reports/
are pure; this module reads the folders and writes the files.

Exit codes: 0 written (or parsed); 2 bad usage, or a folder that holds no result this can read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadgen.cli.common import ExitCode, print_error
from loadgen.engine.trace import Trace
from loadgen.errors import LoadgenError, SettingsError
from loadgen.metrics.result import RunResult
from loadgen.mlperf.config import layers_from_configs, rules_path
from loadgen.mlperf.log_reader import DETAIL_FILE, LogFormatError, load_log_folder
from loadgen.results.reading import read_result
from loadgen.settings.model import Scenario
from reports.document import Report
from reports.run_page import RunInputs, render_run_report
from reports.series import latency_histogram
from reports.summary import render_console

if TYPE_CHECKING:  # imported where used: a single run's report needs neither page
    from reports.comparison_page import SideCurves
    from reports.models_page import ModelEntry

REPORT_FILE = "report.html"
MARKDOWN_FILE = "report.md"
TRACE_COLUMNS = ("query_offsets", "scheduled_ns", "issued_ns", "completed_ns")
"""The trace columns a report reads; the others (sample index, response size) are never loaded."""

EPILOG = """\
examples:
  python -m loadgen.report results/srv                 a run folder: results/srv/report.html
  python -m loadgen.report results/base results/opt    one report per folder
  python -m loadgen.report path/to/loadgen_logs        a MLPerf LoadGen log folder (no trace: percentiles only)
  python -m loadgen.report --models results/fp32 results/int8 results/pruned --output results/models
  python -m loadgen.report parse path/to/loadgen_logs --json

exit codes: 0 written, 2 bad usage or a folder without a readable result.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.report",
        description="Write report.html (self-contained, with plots) and report.md for results folders; "
        "or, with `parse`, read MLPerf logs into this harness's result model.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folders", nargs="+", type=Path, help="results folders (a run, --runs N, a comparison, "
                        "or a MLPerf LoadGen log folder)")
    parser.add_argument("--models", action="store_true",
                        help="one report of every folder as a model against the baseline: normalized metrics, Pareto")
    parser.add_argument("--baseline", type=Path, help="with --models: the baseline folder (default: the first)")
    parser.add_argument("--output", type=Path, help="with --models: where the report goes "
                        "(default: results/<time>-models)")
    return parser


def build_parse_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadgen.report parse",
        description="Read MLPerf logs (LoadGen's or ours) into this harness's result model.",
    )
    parser.add_argument("folder", type=Path, help="a folder holding mlperf_log_detail.txt (and mlperf_log_summary.txt)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (result.json's schema)")
    return parser


def parse_main(argv: Sequence[str]) -> int:
    args = build_parse_parser().parse_args(argv)
    try:
        result = load_log_folder(args.folder)
    except (LogFormatError, OSError) as exc:
        print_error(exc)
        return ExitCode.USAGE
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(render_console(result), end="")
        print(f"  read from: {args.folder} (written by {result.tool})")
    return ExitCode.OK


# --------------------------------------------------------------------------- reading


def load_report_trace(path: Path) -> Trace:
    """The columns of trace.npz a report plots, and no others (a 60 M-sample trace stays under 0.5 GiB)."""
    return Trace.load(path, columns=TRACE_COLUMNS)


def official_seeds(scenario: str) -> dict[str, int] | None:
    """MLPerf's round seeds from the shipped mlperf.conf, to say whether a run used them."""
    try:
        layers = layers_from_configs("*", Scenario.parse(scenario), rules_path("mlperf"), None, None)
    except (LoadgenError, ValueError, OSError):
        return None
    return {key: int(value) for _, values in layers for key, value in values.items() if key.endswith("_rng_seed")}


def files_in(folder: Path) -> list[str]:
    """The raw files beside a report, to link (its own report files left out)."""
    own = {REPORT_FILE, MARKDOWN_FILE}
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in own and not p.name.startswith("."))


def run_inputs(folder: Path, result: RunResult, trace: Trace | None, source: str = "") -> RunInputs:
    siblings = []
    if (folder.parent / "aggregate.json").is_file():
        siblings.append(("all runs of this folder", f"../{REPORT_FILE}"))
    return RunInputs(result, trace, files_in(folder), official_seeds(result.scenario), source, tuple(siblings))


def run_folder_report(folder: Path) -> tuple[Report, list[str]]:
    """The report of a run folder of ours (result.json, trace.npz) or of a LoadGen log folder."""
    notes: list[str] = []
    if (folder / "result.json").is_file():
        result = read_result(folder / "result.json")
        trace = None
        try:
            trace = load_report_trace(folder / "trace.npz")
        except (OSError, ValueError, KeyError) as exc:
            notes.append(f"{folder}: no usable trace.npz ({exc}); the report has no distribution plots")
        return render_run_report(run_inputs(folder, result, trace)), notes
    try:
        result = load_log_folder(folder)
    except LogFormatError as exc:
        raise SettingsError([str(exc)]) from exc
    source = f"Read from a MLPerf log folder written by {result.tool}."
    return render_run_report(run_inputs(folder, result, None, source)), notes


def side_folder(report: dict[str, Any], label: str, base: Path) -> Path | None:
    """A side's folder as compare recorded it (relative to where compare ran), else its a/ or b/ under base."""
    recorded = (report.get(label) or {}).get("folder")
    if not isinstance(recorded, str):
        return None
    for candidate in (Path(recorded), base / Path(recorded).name):
        if candidate.is_dir():
            return candidate
    return None


def side_curves(report: dict[str, Any], base: Path) -> list[SideCurves]:
    """Each side's runs as latency histograms on edges shared by every run (one trace in memory at a time)."""
    from loadgen.results.reading import load_runs
    from reports.comparison_page import SideCurves
    from reports.plots import BLUE, ORANGE

    loaded = {}
    for label in ("a", "b"):
        folder = side_folder(report, label, base)
        if folder is not None:
            loaded[label] = load_runs(folder)
    ranges = [(r.metrics.latency.min_ns, r.metrics.latency.max_ns) for runs in loaded.values()
              for r in runs.results if r.metrics is not None and r.metrics.latency is not None]
    if not ranges:
        return []
    low, high = min(lo for lo, _ in ranges), max(hi for _, hi in ranges)
    sides = []
    for label, colour in (("a", BLUE), ("b", ORANGE)):
        if label not in loaded:
            continue
        runs = []
        for result, folder in zip(loaded[label].results, loaded[label].run_folders, strict=True):
            try:
                trace = load_report_trace(folder / "trace.npz")
            except (OSError, ValueError, KeyError):
                continue
            histogram = latency_histogram(trace, Scenario(result.scenario), low, high)
            if histogram is not None:
                runs.append((folder.name, histogram))
        scenario = loaded[label].results[0].scenario if loaded[label].results else ""
        sides.append(SideCurves(label.upper(), colour, runs, "sample" if scenario == "Offline" else "query"))
    return sides


def comparison_report(report: dict[str, Any], output: Path) -> Report:
    """The comparison page, to be written into output, for compare's JSON (--json or comparison.json)."""
    from reports.comparison_page import render_comparison_report

    links = []
    for label in ("a", "b"):
        folder = side_folder(report, label, output)
        if folder is not None:
            page = folder / REPORT_FILE
            target = page if page.is_file() else folder
            links.append((f"{label.upper()}: {folder}", os.path.relpath(target, output)))
    return render_comparison_report(report, side_curves(report, output), links)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SettingsError([f"{path}: not readable JSON ({exc})"]) from exc


def repeated_report(folder: Path) -> Report:
    """The page of a --runs N folder from its aggregate.json; each run's own page is linked."""
    document = _read_json(folder / "aggregate.json")
    if not isinstance(document, dict):
        raise SettingsError([f"{folder / 'aggregate.json'}: not an aggregate (a JSON object)"])
    from reports.repeated_page import render_repeated_report

    pages = [f"{run['name']}/{REPORT_FILE}" for run in document.get("runs") or []
             if isinstance(run, dict) and (folder / str(run.get("name")) / "result.json").is_file()]
    return render_repeated_report(document, pages)


# --------------------------------------------------------------------------- writing


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside path, then rename: a reader never sees half a report."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def write_report(folder: Path, report: Report) -> Path:
    """report.html, report.md and the markdown's PNGs into folder; returns the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for relative, png in report.images.items():
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, png)
    write_atomically(folder / MARKDOWN_FILE, report.markdown.encode("utf-8"))
    page = folder / REPORT_FILE
    write_atomically(page, report.html)
    return page


def folder_report(folder: Path) -> tuple[Report, list[str]]:
    """Whatever report the folder's content calls for."""
    if not folder.is_dir():
        raise SettingsError([f"{folder}: no such folder"])
    if (folder / "result.json").is_file() or (folder / DETAIL_FILE).is_file():
        return run_folder_report(folder)
    if (folder / "comparison.json").is_file():
        document = _read_json(folder / "comparison.json")
        if not isinstance(document, dict):
            raise SettingsError([f"{folder / 'comparison.json'}: not a comparison (a JSON object)"])
        return comparison_report(document, folder), []
    if (folder / "aggregate.json").is_file():
        return repeated_report(folder), []
    raise SettingsError([f"{folder}: not a results folder (result.json, aggregate.json or comparison.json) "
                         f"nor a MLPerf log folder ({DETAIL_FILE})"])


def report_folders(folders: Sequence[Path]) -> int:
    code = ExitCode.OK
    for folder in folders:
        try:
            report, notes = folder_report(folder)
        except LoadgenError as exc:
            print_error(exc)
            code = ExitCode.USAGE
            continue
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        print(f"report: {write_report(folder, report)}")
    return code


def report_run_folder(folder: Path, result: RunResult, trace: Trace) -> None:
    """loadgen.run's report of the run it just wrote; a failure here is a warning, never the run's failure."""
    try:
        page = write_report(folder, render_run_report(run_inputs(folder, result, trace)))
    except (OSError, ValueError) as exc:
        print(f"warning: report.html not written ({exc}); python -m loadgen.report {folder} retries", file=sys.stderr)
        return
    print(f"report: {page}")


def model_entry(folder: Path) -> tuple[ModelEntry, str]:
    """One folder as a model: the mean of each figure over its runs (loadgen.analysis' figures), and its scenario."""
    from loadgen.analysis.aggregate import HEADLINE, figure_series
    from loadgen.results.reading import load_runs
    from reports.models_page import ModelEntry

    loaded = load_runs(folder)
    if not loaded.results:
        raise SettingsError([f"{folder}: no usable run", *loaded.warnings])
    series = figure_series(loaded.results)
    headline = next((s for name, s in series.items() if name.startswith(HEADLINE)), None)
    time_ns = None
    if headline is not None and headline.values:
        mean = sum(headline.values) / len(headline.values)
        time_ns = mean if headline.unit == "ns" else 1e9 / mean  # a rate's time per sample is 1 / rate

    def mean_of(name: str) -> float | None:
        found = series.get(name)
        return sum(found.values) / len(found.values) if found and found.values else None

    first = loaded.results[0]
    name = str((first.model or {}).get("name") or folder.name)
    entry = ModelEntry(f"{name} ({folder.name})" if name != folder.name else name, str(folder), len(loaded.results),
                       time_ns, mean_of("top-1 accuracy"), mean_of("model size"),
                       sum(1 for r in loaded.results if r.valid))
    return entry, first.scenario


def models_main(folders: Sequence[Path], baseline: Path | None, output: Path) -> int:
    """--models: every folder as a model against the baseline; one page in output."""
    if baseline is not None and baseline not in folders:
        folders = [baseline, *folders]
    try:
        found = [model_entry(folder) for folder in folders]
    except LoadgenError as exc:
        print_error(exc)
        return ExitCode.USAGE
    scenarios = sorted({scenario for _, scenario in found})
    if len(scenarios) > 1:
        print_error(f"the models ran different scenarios ({', '.join(scenarios)}): compare like with like")
        return ExitCode.USAGE
    from reports.models_page import render_models_report

    entries = [entry for entry, _ in found]
    chosen = entries[folders.index(baseline)] if baseline is not None else entries[0]
    time_label = "latency" if scenarios[0] in ("SingleStream", "MultiStream") else "time per sample (1 / samples/s)"
    page = write_report(output, render_models_report(entries, chosen, scenarios[0], time_label))
    print(f"report: {page}")
    return ExitCode.OK


def default_models_output() -> Path:
    return Path("results") / f"{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-models"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["parse"]:
        return parse_main(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.models:
        return models_main(args.folders, args.baseline, args.output or default_models_output())
    if args.baseline is not None or args.output is not None:
        print_error("--baseline and --output go with --models")
        return ExitCode.USAGE
    return report_folders(args.folders)
