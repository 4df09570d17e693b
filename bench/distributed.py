"""`python -m bench.distributed`: what splitting load across Ray workers buys and costs here.

    python -m bench.distributed                  # peak Server rate with 1 and 2 workers, merge cost
    python -m bench.distributed --quick          # merge cost only, and a short peak search
    python -m bench.distributed --workers 1,2,4 --sut sut.fixed_time --sut-arg service_us=50

Two figures:
- the highest VALID Server rate (completed samples/s) with N workers: the rate doubles from
  --start-qps until a run is INVALID, then bisects --steps times between the last VALID and
  the first INVALID rate; each run lasts --duration-ms, on one local Ray instance;
- the merge cost: nanoseconds per sample of loadgen.distributed.plan.merge_parts for a
  1,000,000-query Server schedule dealt to 2 and 4 workers (median of 5).
Needs the ray extra (`pip install '.[ray]'`). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Sequence

from loadgen.cli.common import sut_kwargs
from loadgen.cli.run import _sut_and_qsl
from loadgen.distributed.driver import run_distributed
from loadgen.distributed.plan import PartTrace, merge_parts, split_schedule
from loadgen.distributed.worker import SutFactory
from loadgen.engine.schedule import build_schedule, select_loaded_samples
from loadgen.engine.trace import Trace
from loadgen.settings.model import Scenario, TestSettings


def merge_ns_per_sample(queries: int, workers: int, repeats: int = 5) -> float:
    """Median time of merging `workers` complete parts of a `queries`-query Server schedule, per sample."""
    settings = TestSettings(
        scenario=Scenario.Server, server_target_qps=float(queries), min_duration_ms=1000,
        min_query_count=queries, max_query_count=queries,
    )
    schedule = build_schedule(settings, select_loaded_samples(1024, 1024, 0))
    parts = []
    for part in split_schedule(schedule, workers):
        trace = Trace.allocate(part.schedule.query_offsets, part.schedule.sample_index)
        assert part.schedule.scheduled_ns is not None
        trace.scheduled_ns[:] = trace.issued_ns[:] = part.schedule.scheduled_ns
        trace.completed_ns[:] = trace.issued_ns + 1000
        parts.append(PartTrace(part=part, trace=trace, shift_ns=0))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        merge_parts(schedule, parts)
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / schedule.n_samples


def valid_rate(make: SutFactory, workers: int, qps: float, duration_ms: int) -> tuple[bool, float]:
    settings = TestSettings(
        scenario=Scenario.Server, server_target_qps=qps, min_duration_ms=duration_ms, min_query_count=100
    )
    benchmark = run_distributed(make, settings, workers)
    metrics = benchmark.result.metrics
    return benchmark.result.valid, float(metrics.completed_samples_per_second or 0.0) if metrics else 0.0


def peak(make: SutFactory, workers: int, start: float, duration_ms: int, steps: int) -> float:
    """The highest VALID completed-samples rate found by doubling, then bisecting."""
    good, good_rate, bad = 0.0, 0.0, None
    qps = start
    while bad is None and qps <= 2_000_000:
        ok, rate = valid_rate(make, workers, qps, duration_ms)
        print(f"  {workers} worker(s) at {qps:,.0f} queries/s: {'VALID' if ok else 'INVALID'}", flush=True)
        if ok:
            good, good_rate, qps = qps, rate, qps * 2
        else:
            bad = qps
    for _ in range(steps if bad is not None else 0):
        assert bad is not None
        qps = (good + bad) / 2
        ok, rate = valid_rate(make, workers, qps, duration_ms)
        print(f"  {workers} worker(s) at {qps:,.0f} queries/s: {'VALID' if ok else 'INVALID'}", flush=True)
        if ok:
            good, good_rate = qps, rate
        else:
            bad = qps
    return good_rate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.distributed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs, no bisection")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated (default 1,2)")
    parser.add_argument("--sut", default="sut.null")
    parser.add_argument("--sut-arg", dest="sut_args", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--start-qps", type=float, default=2000.0)
    parser.add_argument("--duration-ms", type=int)
    parser.add_argument("--steps", type=int)
    args = parser.parse_args(argv)
    import ray

    duration = args.duration_ms or (500 if args.quick else 2000)
    steps = args.steps if args.steps is not None else (0 if args.quick else 3)
    rows = [f"| merge, {w} parts of 1,000,000 queries | {merge_ns_per_sample(1_000_000, w):.1f} ns/sample |"
            for w in (2, 4)]
    ray.init(include_dashboard=False, log_to_driver=False)
    try:
        make = functools.partial(_sut_and_qsl, args.sut, sut_kwargs(args.sut_args), 1024)
        for workers in (int(w) for w in args.workers.split(",")):
            rate = peak(make, workers, args.start_qps, duration, steps)
            rows.append(f"| highest VALID Server rate, {workers} worker(s), {args.sut} | {rate:,.0f} samples/s |")
    finally:
        ray.shutdown()
    print(f"\n{duration} ms runs, {steps} bisection steps\n\n| figure | value |\n|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
