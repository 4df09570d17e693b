"""The report of a big Offline run: how long `python -m loadgen.report FOLDER` takes and how much memory.

    python -m bench.report                   60 M samples (the default Offline run's size), 3 repetitions
    python -m bench.report --samples 1000000 --reps 1

Writes one Offline results folder with a trace of --samples samples (completions spread
over 10 s, as a fast SUT's would be; the result's figures computed by loadgen.metrics),
then times the report command in a fresh process per repetition and reads that process's
peak RSS from the kernel (wait4). Targets (issue 13): under 5 s and under 1 GiB. The same
folder with its trace rewritten in format 1 (trace.npz as written before 2026-12, which
the report still reads) is timed alternately, for reference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from loadgen.benchmark.runner import Benchmark
from loadgen.engine.trace import Trace
from loadgen.metrics.figures import compute_metrics
from loadgen.metrics.result import RunResult
from loadgen.metrics.verdict import judge
from loadgen.results.folder import write_outputs
from loadgen.settings.model import Scenario, TestSettings

TARGET_S = 5.0
TARGET_BYTES = 1 << 30
DURATION_NS = 10_000_000_000


def offline_folder(folder: Path, samples: int, seed: int = 0) -> None:
    """A VALID-looking Offline run of `samples` samples completing over 10 s, written as loadgen.run writes it."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(0, 2 * DURATION_NS // samples + 1, samples, dtype=np.int64)
    completed = np.cumsum(steps) + 1_000_000
    trace = Trace(
        query_offsets=np.array([0, samples], dtype=np.int64), scheduled_ns=np.zeros(1, dtype=np.int64),
        issued_ns=np.zeros(1, dtype=np.int64), sample_index=(np.arange(samples) % 200).astype(np.int32),
        completed_ns=completed, response_size=np.full(samples, 40, dtype=np.int32),
    )
    settings = TestSettings(scenario=Scenario.Offline, min_duration_ms=10_000, offline_expected_qps=samples / 11)
    metrics = compute_metrics(trace, settings)
    validity = judge(metrics, settings, None)
    result = RunResult(
        tool="bench.report", started_at="2026-12-01T00:00:00+00:00", scenario="Offline", mode="PerformanceOnly",
        sut_name="synthetic", qsl_name="synthetic(200)", valid=validity.valid, invalid_reasons=validity.reasons,
        checks=validity.checks, stop_reason="all samples completed", error=None, metrics=metrics,
        settings_requested=settings.model_dump(mode="json"), settings_effective=settings.model_dump(mode="json"),
        chosen_by_pilot={}, warmup_queries=0, total_sample_count=200, performance_sample_count=200,
        fingerprint={}, load_average_end=None, warnings=[],
    )
    write_outputs(Benchmark(result, trace, None), folder, False)


def format1_copy(folder: Path, copy: Path) -> None:
    """The folder again, its trace.npz rewritten in format 1 (bench.trace_file.save_format1), in a child process."""
    code = (
        "import io, shutil; from pathlib import Path; from loadgen.engine.trace import Trace; "
        "from bench.trace_file import save_format1\n"
        f"source, copy = Path({str(folder)!r}), Path({str(copy)!r})\n"
        "shutil.copytree(source, copy); trace = Trace.load(source / 'trace.npz')\n"
        "with (copy / 'trace.npz').open('wb') as out: save_format1(trace, out)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def time_report(folder: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS bytes of one `python -m loadgen.report FOLDER` in a fresh process."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "loadgen.report", str(folder)], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"loadgen.report exited {process.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss) * 1024


def time_in_run(folder: Path) -> tuple[float, float, int]:
    """What loadgen.run adds at the end of a run: the report from the trace already in memory (no file read).

    Runs in a fresh process: the trace is loaded untimed, then the report is timed, and the memory it
    allocates on top of the trace is read from tracemalloc (numpy's arrays report to it)."""
    code = (
        "import json, sys, time, tracemalloc; from pathlib import Path\n"
        "from loadgen.engine.trace import Trace; from loadgen.results.reading import read_result\n"
        "from loadgen.cli.report import report_run_folder\n"
        f"folder = Path({str(folder)!r}); result = read_result(folder / 'result.json')\n"
        "trace = Trace.load(folder / 'trace.npz'); import reports.run_page, reports.plots\n"
        "tracemalloc.start(); start, cpu = time.perf_counter(), time.process_time()\n"
        "report_run_folder(folder, result, trace)\n"
        "elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu\n"
        "print(json.dumps([elapsed, cpu, tracemalloc.get_traced_memory()[1]]), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=True)
    elapsed, cpu, peak = json.loads(done.stderr.strip().splitlines()[-1])
    return float(elapsed), float(cpu), int(peak)


def _row(label: str, values: list[float], target: float, unit: str, scale: float = 1.0) -> str:
    shown = [v / scale for v in values]
    median = statistics.median(shown)
    met = "met" if max(shown) < target / scale else "MISSED"
    return (f"| {label} | {median:.3g} [{min(shown):.3g}, {max(shown):.3g}] {unit} | < {target / scale:g} {unit} "
            f"| {met} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60_000_000, help="samples in the trace (default 60 M)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        folder = Path(scratch) / "offline"
        print(f"writing an Offline results folder of {args.samples:,} samples ...", file=sys.stderr)
        # in a child: a parent holding the trace would lend its pages to every fork, and to their peak RSS
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from bench.report import "
                        f"offline_folder; offline_folder(Path({str(folder)!r}), {args.samples})"], check=True)
        format1_copy(folder, Path(scratch) / "offline-format1")
        runs, old = [], []
        for _ in range(args.reps):
            runs.append(time_report(folder))
            old.append(time_report(Path(scratch) / "offline-format1"))
        in_run = [time_in_run(folder) for _ in range(args.reps)]
        sizes = [(f / "trace.npz").stat().st_size / args.samples for f in (folder, Path(scratch) / "offline-format1")]
    n = f"{args.samples / 1e6:g} M"
    rows = [
        _row(f"python -m loadgen.report on {n} Offline samples: wall time", [r[0] for r in runs], TARGET_S, "s"),
        _row("same: CPU time (user + system)", [r[1] for r in runs], TARGET_S, "s"),
        _row("same: peak RSS of the process", [float(r[2]) for r in runs], TARGET_BYTES, "MiB", 2**20),
        _row(f"loadgen.run's report of {n} samples (trace in memory): wall time", [r[0] for r in in_run],
             TARGET_S, "s"),
        _row("same: CPU time", [r[1] for r in in_run], TARGET_S, "s"),
        _row("same: memory allocated on top of the trace", [float(r[2]) for r in in_run], TARGET_BYTES, "MiB",
             2**20),
    ]
    reference = [
        _row("for reference, the same folder with a format 1 trace.npz: wall time", [r[0] for r in old], TARGET_S,
             "s"),
        _row("same: CPU time (user + system)", [r[1] for r in old], TARGET_S, "s"),
        _row("same: peak RSS of the process", [float(r[2]) for r in old], TARGET_BYTES, "MiB", 2**20),
    ]
    print("| figure | median [min, max] | target | met/MISSED |\n|---|---|---|---|\n" + "\n".join(rows))
    print("\n".join(row.replace("| met |", "| (reference) |").replace("| MISSED |", "| (reference) |")
                    for row in reference))
    print(f"trace.npz: {sizes[0]:.2f} bytes a sample (format 2), {sizes[1]:.2f} (format 1)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} logical cores "
          "(wall times count the machine's other work; CPU times less so)")
    return 0 if all(row.endswith("| met |") for row in rows) else 3


if __name__ == "__main__":
    sys.exit(main())
