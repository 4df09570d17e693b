"""Writing a results folder: the raw trace first, then the renderings, then result.json with every file's hash."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from loadgen.benchmark.runner import Benchmark
from loadgen.metrics.result import RunResult
from loadgen.results.files import sha256_file
from reports.accuracy_log import render_accuracy_log
from reports.chrome_trace import EXPORT_LIMIT as CHROME_EXPORT_LIMIT
from reports.chrome_trace import render_chrome_trace
from reports.mlperf_detail import render_detail
from reports.summary import render_summary


def default_output(label: str) -> Path:
    """results/<time>-<label>: where a command writes when --output is not given."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{stamp}-{label}"


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
    """Raw trace first, then the renderings, then result.json naming every file's hash.

    Returns the result as written (with `files`); the benchmark must be `concluded` first."""
    output.mkdir(parents=True, exist_ok=True)
    result = benchmark.result
    written = [output / "trace.npz"]
    benchmark.trace.save(written[0])
    summary = output / "mlperf_log_summary.txt"
    summary.write_text(render_summary(result), encoding="utf-8")
    written.append(summary)
    detail = output / "mlperf_log_detail.txt"
    detail.write_text(render_detail(result), encoding="utf-8")
    written.append(detail)
    if chrome_trace:
        path = output / "mlperf_log_trace.json"
        with path.open("w", encoding="utf-8") as handle:
            handle.writelines(render_chrome_trace(benchmark.trace, result.sut_name))
        written.append(path)
    if benchmark.accuracy is not None:
        path = output / "mlperf_log_accuracy.json"
        with path.open("w", encoding="utf-8") as handle:
            handle.writelines(render_accuracy_log(benchmark.accuracy))
        written.append(path)
    final = result.model_copy(update={"files": {path.name: sha256_file(path) for path in written}})
    (output / "result.json").write_text(final.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return final
