"""trace.npz, format 1 (before 2026-12) against format 2, side by side: save time, bytes a sample, load time.

    python -m bench.trace_file                       a 500 k-sample Server trace (10 k q/s, null-SUT-like), 5 reps
    python -m bench.trace_file --trace results/x/trace.npz   any trace a run wrote (read with Trace.load)

Format 1 is main's former `Trace.save` (np.savez_compressed of every column, zlib level 6);
format 2 is today's (loadgen.engine.trace_file). The two are timed alternately in one
process, so a busy machine slows both alike; each row gives median [min, max] of wall and
CPU seconds. Target (issue 15): a 500 k-sample Server trace saved in <= 0.25 s, >= 5x faster.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import numpy as np

from loadgen.engine.trace import Trace

TARGET_SAVE_S = 0.25
TARGET_SPEEDUP = 5.0
REPORT_COLUMNS = ("query_offsets", "scheduled_ns", "issued_ns", "completed_ns")


def server_trace(samples: int, qps: float = 10_000.0, seed: int = 0) -> Trace:
    """A Server run of a null SUT as our engine records it: Poisson arrivals at qps, issue delays of a few
    microseconds with a long tail, latencies of about a microsecond with a tail (shapes from a real
    `python -m loadgen.run --scenario server --sut sut.null --set server_target_qps=10000` trace)."""
    rng = np.random.default_rng(seed)
    scheduled = np.cumsum(rng.exponential(1e9 / qps, samples)).astype(np.int64)
    delay = (rng.lognormal(np.log(8_000), 0.9, samples)).astype(np.int64)
    latency = (rng.lognormal(np.log(700), 0.5, samples)).astype(np.int64)
    issued = scheduled + delay
    return Trace(
        query_offsets=np.arange(samples + 1, dtype=np.int64), scheduled_ns=scheduled, issued_ns=issued,
        sample_index=rng.integers(0, 1024, samples).astype(np.int32), completed_ns=issued + latency,
        response_size=np.zeros(samples, dtype=np.int32),
    )


def save_format1(trace: Trace, target: io.BytesIO) -> None:
    """trace.npz as main wrote it before format 2."""
    columns = {item.name: getattr(trace, item.name) for item in fields(trace)}
    np.savez_compressed(target, format_version=np.int64(1), **columns)


def _timed(action: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def measure(trace: Trace, reps: int) -> dict[str, dict[str, list[float]]]:
    """Wall and CPU seconds of each action, format 1 and 2 alternating, plus each file's size."""
    times: dict[str, dict[str, list[float]]] = {}
    files: dict[str, bytes] = {}
    savers = {"format 1": lambda out: save_format1(trace, out), "format 2": lambda out: trace.save(out)}
    for _ in range(reps):
        for label, saver in savers.items():
            out = io.BytesIO()
            wall, cpu = _timed(lambda: saver(out))  # noqa: B023  (called at once)
            times.setdefault(f"save, {label}", {"wall": [], "cpu": []})
            times[f"save, {label}"]["wall"].append(wall)
            times[f"save, {label}"]["cpu"].append(cpu)
            files[label] = out.getvalue()
        for label, raw in files.items():
            for what, columns in (("every column", None), ("the report's 4 columns", REPORT_COLUMNS)):
                wall, cpu = _timed(lambda: Trace.load(io.BytesIO(raw), columns=columns))  # noqa: B023
                key = f"load {what}, {label}"
                times.setdefault(key, {"wall": [], "cpu": []})
                times[key]["wall"].append(wall)
                times[key]["cpu"].append(cpu)
    for label, raw in files.items():
        times[f"bytes a sample, {label}"] = {"value": [len(raw) / max(len(trace), 1)]}
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.trace_file", description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=500_000, help="samples of the synthetic Server trace")
    parser.add_argument("--trace", type=Path, help="time this trace.npz instead of a synthetic one")
    parser.add_argument("--reps", type=int, default=5, help="repetitions (default 5)")
    args = parser.parse_args(argv)
    trace = Trace.load(args.trace) if args.trace else server_trace(args.samples)
    source = str(args.trace) if args.trace else f"synthetic Server trace, {args.samples:,} samples at 10 k q/s"
    times = measure(trace, args.reps)
    print(f"{source}: {len(trace):,} samples, {trace.n_queries:,} queries; {args.reps} reps, formats alternating\n")
    print("| action | wall s, median [min, max] | CPU s, median [min, max] |\n|---|---|---|")
    for key, row in times.items():
        if "value" in row:
            print(f"| {key} | {row['value'][0]:.2f} | |")
        else:
            print(f"| {key} | {_cell(row['wall'])} | {_cell(row['cpu'])} |")
    old, new = times["save, format 1"], times["save, format 2"]
    speedup = statistics.median(old["cpu"]) / statistics.median(new["cpu"])
    cpu_new, wall_new = statistics.median(new["cpu"]), statistics.median(new["wall"])
    met = speedup >= TARGET_SPEEDUP and cpu_new <= TARGET_SAVE_S
    print(f"\nsave: format 2 is {speedup:.1f}x faster in CPU time (target >= {TARGET_SPEEDUP:g}x) and takes "
          f"{cpu_new:.3f} s CPU (target <= {TARGET_SAVE_S} s; wall {wall_new:.3f} s counts the machine's other "
          f"work): {'met' if met else 'MISSED'}")
    return 0 if met else 3


if __name__ == "__main__":
    sys.exit(main())
