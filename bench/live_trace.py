"""`python -m bench.live_trace`: the hot path with the trace in memory and in a folder, side by side.

The live recording (docs/reliability.md) maps the timed run's trace columns onto files in
the results folder. This measures what that costs the hot path: the same null-SUT runs,
alternating in-memory and folder-backed traces in one process, per scenario:

- SingleStream: queries per second over the timed run (issue, complete, wait);
- Server: mean issue delay at a rate the machine sustains (scheduling precision);
- Offline: samples per second completing one query one sample at a time (the
  per-sample completion path; the batch path writes one slice).

Prints the median over `--reps` repetitions of each, and their ratio folder / memory.
Then the hot path alone, which a loaded machine disturbs less: `Recorder.complete` of one
id, and `complete_block` of 8, on in-memory and folder-backed columns, the best of
`--reps` timings of 200,000 calls each (ns per call).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from loadgen.benchmark.runner import run_benchmark
from loadgen.engine.clock import monotonic_ns
from loadgen.engine.query import IndexQSL, SampleBatch
from loadgen.engine.recorder import Recorder
from loadgen.engine.trace import Trace
from loadgen.settings.model import Scenario, TestSettings
from sut.null import NullSUT


class PerSampleSUT:
    """Completes each sample of a batch by its own call: the per-sample completion path."""

    name = "PerSampleSUT"

    def issue_query(self, samples: SampleBatch) -> None:
        for sample_id in samples.ids.tolist():
            samples.complete(sample_id)

    def flush_queries(self) -> None:
        pass


def _settings(scenario: Scenario, size: int) -> TestSettings:
    common: dict[str, object] = {"scenario": scenario, "min_duration_ms": 0, "min_query_count": size,
                                 "max_query_count": size, "warmup_ms": 0}
    extra: dict[Scenario, dict[str, object]] = {
        Scenario.SingleStream: {"single_stream_expected_latency_ns": 10_000},
        Scenario.Server: {"server_target_qps": 20_000.0},
        Scenario.Offline: {"offline_expected_qps": float(size)},
    }
    return TestSettings.model_validate({**common, **extra[scenario]})


def _figure(scenario: Scenario, size: int, folder: Path | None) -> float:
    sut = PerSampleSUT() if scenario is Scenario.Offline else NullSUT()
    result = run_benchmark(sut, IndexQSL(1024), _settings(scenario, size), fingerprint={}, trace_folder=folder).result
    metrics = result.metrics
    assert metrics is not None and metrics.samples_completed == size, result.invalid_reasons
    if scenario is Scenario.Server:
        assert metrics.issue_delay is not None
        return metrics.issue_delay.mean_ns
    return metrics.samples_completed * 1e9 / metrics.duration_ns


def _calls_ns(folder: Path | None, block: int, calls: int) -> float:
    """ns per completion call on a fresh trace of `calls` queries of `block` samples."""
    offsets = np.arange(calls + 1, dtype=np.int64) * block
    trace = Trace.allocate(offsets, np.zeros(calls * block, dtype=np.int32), folder=folder)
    recorder = Recorder(trace, monotonic_ns)
    recorder.start()
    recorder.open_queries(0, calls)
    started = time.perf_counter_ns()
    if block == 1:
        for sample_id in range(1, calls + 1):
            recorder.complete(sample_id)
    else:
        for lo in range(0, calls * block, block):
            recorder.complete_block(lo, lo + block)
    return (time.perf_counter_ns() - started) / calls


def _hot_path(scratch: Path, reps: int) -> None:
    print(f"{'hot path (best of reps, ns/call)':<36} {'memory':>14} {'folder':>14} {'folder/memory':>14}")
    for label, block in (("complete(one id)", 1), ("complete_block(8 samples)", 8)):
        best = {"memory": float("inf"), "folder": float("inf")}
        for rep in range(reps):
            best["memory"] = min(best["memory"], _calls_ns(None, block, 200_000))
            best["folder"] = min(best["folder"], _calls_ns(scratch / f"hot-{block}-{rep}", block, 200_000))
        print(f"{label:<36} {best['memory']:>14,.0f} {best['folder']:>14,.0f} {best['folder'] / best['memory']:>14.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    cases: list[tuple[str, Scenario, int]] = [
        ("SingleStream queries/s", Scenario.SingleStream, 200_000 // scale),
        ("Server mean issue delay (ns)", Scenario.Server, 40_000 // scale),
        ("Offline per-sample completions/s", Scenario.Offline, 1_000_000 // scale),
    ]
    with tempfile.TemporaryDirectory(prefix="live-trace-") as scratch:
        print(f"{'figure':<36} {'memory':>14} {'folder':>14} {'folder/memory':>14}")
        for label, scenario, size in cases:
            figures: dict[str, list[float]] = {"memory": [], "folder": []}
            for rep in range(args.reps):  # alternating, so drift hits both alike
                figures["memory"].append(_figure(scenario, size, None))
                figures["folder"].append(_figure(scenario, size, Path(scratch) / f"{scenario.value}-{rep}"))
            memory, folder = (statistics.median(figures[kind]) for kind in ("memory", "folder"))
            print(f"{label:<36} {memory:>14,.0f} {folder:>14,.0f} {folder / memory:>14.3f}")
        _hot_path(Path(scratch), args.reps)


if __name__ == "__main__":
    main()
