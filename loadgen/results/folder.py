"""Writing a results folder: checked before the run, then the raw trace, the renderings, and
result.json last, naming every file's hash. Every file is written atomically (a temporary
name, fsync, rename), so a signal or a full disk never leaves a truncated file, and
result.json exists only once everything it names does."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

from loadgen.benchmark.runner import Benchmark
from loadgen.engine.schedule import MAX_SCHEDULED_SAMPLES, scheduled_samples
from loadgen.engine.trace import trace_bytes
from loadgen.errors import SettingsError
from loadgen.metrics.result import RunResult
from loadgen.results.atomic import PARTIAL_MARK, atomic_binary, atomic_text, fsync_folder, write_text_atomic
from loadgen.results.files import sha256_file
from loadgen.results.live import LIVE_FOLDER, recording_age_s, remove_live
from loadgen.results.reading import read_result
from loadgen.settings.model import Scenario, TestSettings
from reports.accuracy_log import render_accuracy_log
from reports.chrome_trace import EXPORT_LIMIT as CHROME_EXPORT_LIMIT
from reports.chrome_trace import render_chrome_trace
from reports.mlperf_detail import render_detail
from reports.summary import render_summary

RESULT_FILE = "result.json"
TRACE_FILE = "trace.npz"
RUN_FILES = (
    RESULT_FILE,
    TRACE_FILE,
    "mlperf_log_summary.txt",
    "mlperf_log_detail.txt",
    "mlperf_log_trace.json",
    "mlperf_log_accuracy.json",
    "aggregate.json",
)
"""What a run (or `--runs N`) writes; `--overwrite` removes these, and what an old result.json names."""

OTHER_FILES_BYTES = 16 * 2**20
"""Room for everything but the trace (summaries, logs); a Chrome trace is counted by its samples."""


def default_output(label: str) -> Path:
    """results/<time>-<label>: where a command writes when --output is not given; -2, -3, ... when
    two runs start in the same second."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("results") / f"{stamp}-{label}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def estimated_bytes(settings: TestSettings, chrome_trace: bool = False) -> int:
    """Room a run needs in its folder: the live trace columns and trace.npz (at most as large).

    Where the pilot will choose the rate or latency, the schedule is not known yet: the
    estimate then counts min_query_count queries, and the run checks again, exactly, when
    it reserves the trace before timing."""
    try:
        samples = scheduled_samples(settings)
    except (AssertionError, TypeError):  # a pilot value is still unset
        samples = settings.min_query_count * (
            settings.multi_stream_samples_per_query if settings.scenario is Scenario.MultiStream else 1
        )
    samples = min(samples, MAX_SCHEDULED_SAMPLES)
    queries = 1 if settings.scenario is Scenario.Offline else samples
    trace = trace_bytes(queries, samples, settings.use_token_latencies)
    chrome = min(samples, CHROME_EXPORT_LIMIT) * 200 if chrome_trace else 0
    return 2 * trace + chrome + OTHER_FILES_BYTES


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def prepare_output(output: Path, overwrite: bool, needed_bytes: int) -> list[str]:
    """Check the results folder before anything runs: a folder (made if missing), writable, empty
    unless `overwrite` (which removes an earlier run's files), with room for `needed_bytes`.

    Raises SettingsError naming the folder and what is wrong; returns notes for the user."""
    if output.exists() and not output.is_dir():
        raise SettingsError([f"--output {output}: is a file, not a folder"])
    try:
        output.mkdir(parents=True, exist_ok=True)
        entries = sorted(path.name for path in output.iterdir())
    except OSError as exc:
        raise SettingsError([f"--output {output}: cannot create or read the folder: {exc.strerror or exc}"]) from exc
    notes: list[str] = []
    if entries and not overwrite:
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise SettingsError(
            [f"--output {output}: not empty ({shown}); choose a new folder, or pass --overwrite to replace "
             "an earlier run's files there"]
        )
    age = recording_age_s(output)
    if age is not None:
        raise SettingsError([f"--output {output}: a run is recording there now (heartbeat {age:.1f} s ago)"])
    if entries:
        notes += clear_run_files(output)
    probe = output / f".write-probe{PARTIAL_MARK}check"
    try:
        write_text_atomic(probe, "probe\n")
        probe.unlink()
    except OSError as exc:
        raise SettingsError([f"--output {output}: not writable: {exc.strerror or exc}"]) from exc
    free = shutil.disk_usage(output).free
    if free < needed_bytes:
        raise SettingsError(
            [f"--output {output}: {_mib(free)} free, but the run needs about {_mib(needed_bytes)} "
             "(trace columns, trace.npz, logs): free space or choose another folder"]
        )
    return notes


def missing_top(output: Path) -> Path | None:
    """The outermost folder of `output` that does not exist yet (prepare_output will make it)."""
    top = None
    for folder in (output, *output.parents):
        if folder.exists():
            break
        top = folder
    return top


def discard_unused(output: Path, top: Path | None) -> None:
    """Nothing ran: remove the folders prepare_output made, from `output` up to `top`, where still empty."""
    if top is None:
        return
    for folder in (output, *output.parents):
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == top:
            return


def _earlier_files(output: Path) -> set[str]:
    """The files an earlier result.json in this folder names (it may have written more than RUN_FILES)."""
    try:
        return set(read_result(output / RESULT_FILE).files) if (output / RESULT_FILE).is_file() else set()
    except SettingsError:
        return set()


def clear_run_files(output: Path) -> list[str]:
    """`--overwrite`: remove what an earlier run wrote here; anything else is kept, and named."""
    ours = set(RUN_FILES) | _earlier_files(output) | {LIVE_FOLDER}
    kept = []
    for path in sorted(output.iterdir()):
        is_run_folder = path.is_dir() and path.name.startswith("run-") and path.name[4:].isdigit()
        if path.name in ours or PARTIAL_MARK in path.name or is_run_folder:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        else:
            kept.append(path.name)
    fsync_folder(output)
    return [f"--overwrite kept {len(kept)} entr{'y' if len(kept) == 1 else 'ies'} this tool does not write: "
            + ", ".join(kept[:5])] if kept else []


def concluded(benchmark: Benchmark, chrome_trace: bool) -> Benchmark:
    """The benchmark with every warning decided, before anything is rendered: the console, the
    summary and result.json all show this one frozen result."""
    warnings = list(benchmark.result.warnings)
    if chrome_trace and len(benchmark.trace) > CHROME_EXPORT_LIMIT:
        warnings.append(
            f"mlperf_log_trace.json holds the first {CHROME_EXPORT_LIMIT:,} of {len(benchmark.trace):,} "
            "samples; trace.npz holds them all"
        )
    if warnings == benchmark.result.warnings:
        return benchmark
    return dataclasses.replace(benchmark, result=benchmark.result.model_copy(update={"warnings": warnings}))


def write_outputs(benchmark: Benchmark, output: Path, chrome_trace: bool) -> RunResult:
    """Raw trace first, then the renderings, then result.json naming every file's hash; each file
    atomically. The live recording, if any, is removed once result.json is in place.

    Returns the result as written (with `files`); the benchmark must be `concluded` first."""
    output.mkdir(parents=True, exist_ok=True)
    result = benchmark.result
    written = [output / TRACE_FILE]
    with atomic_binary(written[0], sync_folder=False) as handle:  # result.json's rename syncs the folder
        benchmark.trace.save(handle)
    for name, text in (("mlperf_log_summary.txt", render_summary(result)),
                       ("mlperf_log_detail.txt", render_detail(result))):
        written.append(output / name)
        write_text_atomic(written[-1], text, sync_folder=False)
    if chrome_trace:
        written.append(output / "mlperf_log_trace.json")
        with atomic_text(written[-1], sync_folder=False) as handle:
            handle.writelines(render_chrome_trace(benchmark.trace, result.sut_name))
    if benchmark.accuracy is not None:
        written.append(output / "mlperf_log_accuracy.json")
        with atomic_text(written[-1], sync_folder=False) as handle:
            handle.writelines(render_accuracy_log(benchmark.accuracy))
    final = result.model_copy(update={"files": {path.name: sha256_file(path) for path in written}})
    write_text_atomic(output / RESULT_FILE, final.model_dump_json(indent=2) + "\n")
    remove_live(output)
    for leftover in output.glob(f".*{PARTIAL_MARK}*"):  # from a writer killed mid-file
        leftover.unlink(missing_ok=True)
    return final
