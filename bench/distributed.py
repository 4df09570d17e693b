"""`python -m bench.distributed`: what splitting load across Ray workers buys and costs here.

    python -m bench.distributed                  # 1 vs 2 workers against a loopback sut.serve, merge cost
    python -m bench.distributed --quick          # merge cost, and a short peak search
    python -m bench.distributed --in-process --sut sut.null     # no server: the workers' own ceiling
    python -m bench.distributed --workers 1,2,4 --server-sut sut.fixed_time --server-arg service_us=50

Two figures:
- the highest VALID Server rate (completed samples/s) with N workers, each driving
  `sut.network` against one loopback `python -m sut.serve --sut sut.null` (started here on a
  free port, awaited on /health, stopped at the end): the rate doubles from --start-qps until
  a run is INVALID, then bisects --steps times between the last VALID and the first INVALID
  rate; each run lasts --duration-ms, on one local Ray instance. For each worker count it
  prints what limited the figure: the first INVALID run's reason, and the CPU each party used
  there (the server, each worker, the driver, the machine's cores in all);
- the merge cost: nanoseconds per sample of loadgen.distributed.plan.merge_parts for a
  1,000,000-query Server schedule dealt to 2 and 4 workers (median of 5).
Needs the ray extra, and for the server the http and serve extras. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from loadgen.cli.common import sut_kwargs
from loadgen.cli.run import _sut_and_qsl
from loadgen.distributed.driver import run_distributed
from loadgen.distributed.plan import PartTrace, merge_parts, split_schedule
from loadgen.distributed.worker import SutFactory
from loadgen.engine.schedule import build_schedule, select_loaded_samples
from loadgen.engine.trace import Trace
from loadgen.settings.model import Scenario, TestSettings

REPO = Path(__file__).resolve().parents[1]
WORKER_TITLE = "PartWorker"
"""Ray names an actor's process after its class (ray::PartWorker): how the CPU watch finds the workers."""


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


@dataclass
class Step:
    """One run of the peak search: the rate asked, the verdict, and where the CPU went."""

    qps: float
    valid: bool
    rate: float
    reasons: list[str]
    cores: dict[str, float] = field(default_factory=dict)


class CpuWatch:
    """CPU used while a run is timed, in cores (CPU seconds per wall second): the server, each Ray
    worker actor, this driver, and the whole machine. Worker processes are found by their title;
    a thread follows them until they are killed at the end of the run."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.cores: dict[str, float] = {}
        self._done = threading.Event()
        self._started: tuple[float, float, float] | None = None

    def _look(self) -> None:
        for process in psutil.process_iter(["pid", "cmdline"]):
            pid, cmdline = process.info["pid"], " ".join(process.info["cmdline"] or ())
            if pid == self.server_pid:
                name = "server (sut.serve)"
            elif WORKER_TITLE in cmdline:
                name = f"worker pid {pid}"
            else:
                continue
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            self.names[pid] = name
            self.first.setdefault(pid, times.user + times.system)
            self.last[pid] = times.user + times.system

    @staticmethod
    def _machine_busy() -> float:
        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    @staticmethod
    def _driver() -> float:
        times = psutil.Process().cpu_times()
        return times.user + times.system

    def begin(self) -> None:
        """Timing started (the driver's on_start): the zero of every figure."""
        self._look()
        self._started = (time.monotonic(), self._machine_busy(), self._driver())
        threading.Thread(target=self._loop, daemon=True).start()

    def end(self, worker_pids: set[int]) -> None:
        """Timing and the run are over; `worker_pids`: this run's workers (others' actors are left out)."""
        self._done.set()
        if self._started is None:
            return
        started, machine, driver = self._started
        wall = time.monotonic() - started
        ours = {pid: name for pid, name in sorted(self.names.items()) if pid in worker_pids or pid == self.server_pid}
        self.cores = {name: (self.last[pid] - self.first[pid]) / wall for pid, name in ours.items()}
        self.cores["driver (this process)"] = (self._driver() - driver) / wall
        self.cores[f"machine, all {psutil.cpu_count()} cores"] = (self._machine_busy() - machine) / wall

    def _loop(self) -> None:
        while not self._done.wait(0.25):
            self._look()


def valid_rate(make: SutFactory, workers: int, qps: float, duration_ms: int, server_pid: int | None) -> Step:
    settings = TestSettings(  # 500 queries at least: early stopping's minimum for p99 is 459
        scenario=Scenario.Server, server_target_qps=qps, min_duration_ms=duration_ms, min_query_count=500
    )
    watch = CpuWatch(server_pid)
    benchmark = run_distributed(make, settings, workers, on_start=lambda schedule, n: watch.begin())
    facts = benchmark.result.distributed or {}
    watch.end({int(w["pid"]) for w in facts.get("per_worker", ())})
    metrics = benchmark.result.metrics
    rate = float(metrics.completed_samples_per_second or 0.0) if metrics else 0.0
    return Step(qps, benchmark.result.valid, rate, list(benchmark.result.invalid_reasons), watch.cores)


def peak(make: SutFactory, workers: int, start: float, duration_ms: int, steps: int,
         server_pid: int | None) -> tuple[Step | None, Step | None]:
    """The highest VALID run found by doubling, then bisecting; and the lowest INVALID one."""
    good: Step | None = None
    bad: Step | None = None
    qps = start
    while bad is None and qps <= 2_000_000:
        step = valid_rate(make, workers, qps, duration_ms, server_pid)
        print(f"  {workers} worker(s) at {qps:,.0f} queries/s: {'VALID' if step.valid else 'INVALID'}", flush=True)
        if step.valid:
            good, qps = step, qps * 2
        else:
            bad = step
    for _ in range(steps if bad is not None else 0):
        assert bad is not None
        qps = ((good.qps if good else 0.0) + bad.qps) / 2
        step = valid_rate(make, workers, qps, duration_ms, server_pid)
        print(f"  {workers} worker(s) at {qps:,.0f} queries/s: {'VALID' if step.valid else 'INVALID'}", flush=True)
        if step.valid:
            good = step
        else:
            bad = step
    return good, bad


def limits(workers: int, good: Step | None, bad: Step | None) -> list[str]:
    """What held the figure down: the first INVALID run's reasons and the CPU each party used in it."""
    if bad is None:
        return [f"- {workers} worker(s): no INVALID rate found up to the search's limit"]
    cores = ", ".join(f"{name} {used:.2f}" for name, used in bad.cores.items())
    lines = [f"- {workers} worker(s), INVALID at {bad.qps:,.0f} queries/s: {'; '.join(bad.reasons[:2])}",
             f"  CPU there, in cores: {cores}"]
    if good is not None:
        cores = ", ".join(f"{name} {used:.2f}" for name, used in good.cores.items())
        lines.append(f"  CPU at the VALID {good.qps:,.0f} queries/s: {cores}")
    return lines


@contextmanager
def loopback_server(sut: str, sut_args: list[str]) -> Iterator[tuple[str, int]]:
    """`python -m sut.serve --sut SUT` on a free loopback port, awaited on /health: (base URL, pid)."""
    command = [sys.executable, "-m", "sut.serve", "--sut", sut, "--port", "0"]
    for arg in sut_args:
        command += ["--sut-arg", arg]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert process.stdout is not None
        found = re.search(r"http://[\w.]+:\d+", process.stdout.readline())
        if not found:
            raise RuntimeError("sut.serve did not start")
        base = found.group(0)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.distributed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs, no bisection")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated (default 1,2)")
    parser.add_argument("--server-sut", default="sut.null", help="the SUT sut.serve serves (default sut.null)")
    parser.add_argument("--server-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--in-process", action="store_true", help="no server: each worker drives --sut itself")
    parser.add_argument("--sut", default="sut.null", help="with --in-process: the workers' SUT (default sut.null)")
    parser.add_argument("--sut-arg", dest="sut_args", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--start-qps", type=float, help="first rate (default 250 over the network, 2000 in process)")
    parser.add_argument("--duration-ms", type=int)
    parser.add_argument("--steps", type=int)
    args = parser.parse_args(argv)
    import ray

    duration = args.duration_ms or (500 if args.quick else 2000)
    steps = args.steps if args.steps is not None else (0 if args.quick else 3)
    start = args.start_qps or (2000.0 if args.in_process else 250.0)
    rows = [f"| merge, {w} parts of 1,000,000 queries | {merge_ns_per_sample(1_000_000, w):.1f} ns/sample |"
            for w in (2, 4)]
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        if args.in_process:
            spec, kwargs, server_pid, what = args.sut, sut_kwargs(args.sut_args), None, f"{args.sut} in each worker"
        else:
            base, server_pid = stack.enter_context(loopback_server(args.server_sut, args.server_arg))
            spec, kwargs = "sut.network", {"url": f"{base}/infer"}
            what = f"sut.network -> loopback sut.serve --sut {args.server_sut}"
            print(f"sut.serve at {base} (pid {server_pid})", flush=True)
        ray.init(include_dashboard=False, log_to_driver=False)
        stack.callback(ray.shutdown)
        make = functools.partial(_sut_and_qsl, spec, kwargs, 1024)
        for workers in (int(w) for w in args.workers.split(",")):
            good, bad = peak(make, workers, start, duration, steps, server_pid)
            rate = good.rate if good else 0.0
            rows.append(f"| highest VALID Server rate, {workers} worker(s), {what} | {rate:,.0f} samples/s |")
            notes += limits(workers, good, bad)
    print(f"\n{duration} ms runs, {steps} bisection steps, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs at the end\n\n| figure | value |\n|---|---|")
    print("\n".join(rows))
    print("\nWhat limits the figure here (CPU in cores, 1.00 = one core busy):")
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
