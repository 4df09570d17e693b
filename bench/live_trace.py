"""`python -m bench.live_trace`: the hot path with the trace in memory and in a folder, side by side.

The live recording (docs/reliability.md) maps the timed run's trace columns onto files in
the results folder. This measures what that costs the hot path: the same null-SUT runs,
alternating in-memory and folder-backed traces in one process, per scenario:

- SingleStream: queries per second over the timed run (issue, complete, wait);
- Server: mean issue delay at a rate the machine sustains (scheduling precision);
- Offline: samples per second completing one query one sample at a time (the
  per-sample completion path; the batch path writes one slice).

Prints the median over `--reps` repetitions of each, and their ratio folder / memory.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from loadgen.benchmark.runner import run_benchmark
from loadgen.engine.query import IndexQSL, SampleBatch
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
    common = {"scenario": scenario, "min_duration_ms": 0, "min_query_count": size, "max_query_count": size,
              "warmup_ms": 0}
    extra = {
        Scenario.SingleStream: {"single_stream_expected_latency_ns": 10_000},
        Scenario.Server: {"server_target_qps": 20_000.0},
        Scenario.Offline: {"offline_expected_qps": float(size)},
    }[scenario]
    return TestSettings(**common, **extra)


def _figure(scenario: Scenario, size: int, folder: Path | None) -> float:
    sut = PerSampleSUT() if scenario is Scenario.Offline else NullSUT()
    result = run_benchmark(sut, IndexQSL(1024), _settings(scenario, size), fingerprint={}, trace_folder=folder).result
    metrics = result.metrics
    assert metrics is not None and metrics.samples_completed == size, result.invalid_reasons
    if scenario is Scenario.Server:
        assert metrics.issue_delay is not None
        return metrics.issue_delay.mean_ns
    return metrics.samples_completed * 1e9 / metrics.duration_ns


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
            runs: dict[str, Callable[[int], Path | None]] = {
                "memory": lambda rep: None,
                "folder": lambda rep: Path(scratch) / f"{scenario.value}-{rep}",
            }
            for rep in range(args.reps):
                for kind, where in runs.items():  # alternating, so drift hits both alike
                    figures[kind].append(_figure(scenario, size, where(rep)))
            memory, folder = (statistics.median(figures[kind]) for kind in ("memory", "folder"))
            print(f"{label:<36} {memory:>14,.0f} {folder:>14,.0f} {folder / memory:>14.3f}")


if __name__ == "__main__":
    main()
