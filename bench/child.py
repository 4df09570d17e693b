"""One measurement under one engine, in a fresh process: `python -m bench.child SPEC.json RESULT.json`.

`bench.run` starts one of these per measurement, engine and repetition, so each run's
peak RSS is its own and the engines share no state. SPEC holds `task`, `engine` and the
task's parameters; RESULT receives the figures (and the child's peak RSS).

Engines
-------
- `ours`: this harness's native API, `run_benchmark(sut, qsl, TestSettings(...))`; the null
  SUT completes a whole batch with one call, `samples.complete()` (the batch fast path).
  Outputs are written with `loadgen.run.write_outputs` inside the timed call, as LoadGen
  writes its logs inside StartTest.
- `ours-mlperf`: this harness through the drop-in `loadgen.mlperf` API (the same harness
  code as for LoadGen, `importlib.import_module` of the other module the only change).
- `loadgen`: MLPerf LoadGen, `mlperf_loadgen`.
The two `mlperf_loadgen`-API engines run the very same harness code: a SUT made with
`ConstructFastSUT` (LoadGen's fastest Python path: two lists instead of QuerySample
objects) whose null issue callback answers every sample at once,
`QuerySamplesComplete([QuerySampleResponse(id, 0, 0) for id in ids])`.

Every null SUT stamps `time.perf_counter_ns()` into a preallocated numpy array at the
start of each issue call: the SUT-side view, the same code under every engine.

Definitions (identical for every engine)
----------------------------------------
- Wall time: `time.perf_counter` around the call that runs the test and writes its logs
  (StartTestWithLogSettings; for `ours`, run_benchmark + write_outputs).
- Peak RSS: `getrusage(RUSAGE_SELF).ru_maxrss` of the child after the run. Bytes per
  sample = (peak RSS - baseline) / samples, the baseline being the peak RSS of an idle
  child of the same engine (task `idle`: imported the engine, built the same SUT and QSL
  and ran a 16-sample Offline test, so lazy imports and one-time allocations such as
  logging threads are in the baseline, not charged to the samples).
- Latency percentiles: each engine's own (LoadGen's definition, sorted[floor(n p)]),
  from its mlperf_log_summary.txt (for `ours`, result.json: the same numbers).
- Queries/s (SingleStream, MultiStream): SUT side, (issue calls - 1) / (last issue call -
  first issue call).
- Issue delay (Server): per query, the time the engine stamps just before it calls the
  SUT's issue callback minus the query's scheduled time, as each engine logs it. Ours:
  trace.npz, `issued_ns - scheduled_ns` (result.json's issue_delay). LoadGen: the
  `issue_start_ns` argument of each "Sample" event in mlperf_log_trace.json, which
  LoadGen computes as `issued_start_time - scheduled_time`, stamped right before
  `sut->IssueQuery` (LoadGen's detail log has no per-query issue time, so its trace is
  enabled for these runs; the trace is written by LoadGen's logging thread).
- Arrival KS distance (Server): the gaps between consecutive issue calls as the SUT sees
  them (SUT-side stamps) against the intended exponential with mean 1/target_qps:
  `scipy.stats.kstest(gaps, "expon", args=(0, 1/qps)).statistic`. The floor, the same
  statistic for the engine's own scheduled gaps, is recorded too: a finite sample of a
  perfect exponential is not at distance 0 (about 0.87/sqrt(n) on average).
- Highest VALID rate (Server, null SUT): the same coarse search in both engines, in one
  child: start rate, doubled while VALID (up to a cap), then bisection steps between the
  last VALID and the first INVALID rate; each run is a fresh test of min_duration_ms with
  LoadGen's default 100 ms latency bound at p99.
- Fixed-service-time SUT (`FixedServer`, S = 100 us, one worker, the same in both
  engines): SingleStream p50 latency must lie in [S, 1.5 S] (the OS's wake-up overshoot
  of a sleep, about 35 us at the median on this VM even with 1 us timer slack, plus the
  harness's per-query overhead); Offline samples/s within 5% of 1/S (the overshoot does
  not accumulate, as service is scheduled from deadlines); Server at 2,500 queries/s
  (rho = 0.25) p50 latency in [S, 2 S] (M/D/1: 75% of the queries wait 0, so the median
  is S; the overshoot and the engine's issue delay add to it).
- Startup cost per query: time from the start call to the first issue call (SUT side)
  for a large Server query count minus the same for a small one, divided by the
  difference in queries (max_duration_ms stops both runs right after the start).
- Schedule generation per query: ours, `loadgen.schedule.build_schedule` timed in
  process for the large count (best of 3); LoadGen, the duration of its
  "GenerateQueries" trace event for the same count.
- Trace bytes per sample: ours, trace.npz bytes (and, in memory, the trace columns'
  bytes) / samples; LoadGen, mlperf_log_trace.json bytes / samples. Chrome export
  valid: `json.load` of each engine's mlperf_log_trace.json.
- Server latency p99: each engine's own "99.00 percentile latency (ns)" (ours: result.json),
  from the scheduled time. The Server runs of both mlperf_loadgen-API engines keep
  LoadGen's default `enable_trace = True`, as an MLPerf harness runs (LoadGen logs issue
  times only in its trace).
- Trace save (ours): a Server trace of `samples` samples on a real schedule at `qps`, its
  issue delays and service times resampled from a short real run at that rate, written as
  a results folder by `write_outputs` (what every run calls); the figure is the time of
  `Trace.save` inside that call, the trace.npz bytes per sample, the whole call, and
  whether `load_trace` (what results reading calls) gives back every column exactly.
- Imports: the best over `repeats` fresh interpreters (modules interleaved) of the time
  `import X` takes inside the interpreter (`time.perf_counter` around the statement), and
  of the whole `python -c "import X"` process; `numpy`, which both engines import, is the
  floor. Where a module is slow, `python -X importtime` says which packages take the time.
- Offline scaling (ours, native API): the null SUT stamps when its one completion call
  returns; post-run time = results folder written (concluded + write_outputs, no HTML
  report) minus that stamp, split at run_benchmark's return (figures and verdict) and
  given per sample; linear growth means the same per-sample time at every size.

Probes (`spec["probe"]`, reruns of a missed figure; see `Probe`): "cpu" profiles the
engine's thread, "memory" snapshots live allocations at the first issue call. A probed
run's figures are not used; only what it found.
"""

from __future__ import annotations

import contextlib
import cProfile
import ctypes
import dataclasses
import importlib
import json
import os
import pstats
import queue
import re
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

OURS = "ours"
OURS_MLPERF = "ours-mlperf"
LOADGEN = "loadgen"
LG_MODULES = {OURS_MLPERF: "loadgen.mlperf", LOADGEN: "mlperf_loadgen"}
QSL_SIZE = 1024
ZERO_IS_UNSET = ("max_duration_ms", "max_query_count")
"""LoadGen spells "no limit" 0; our native settings spell it unset."""


def maxrss_bytes() -> int:
    """This process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _noop(*_args: Any) -> None:
    return None


# ---------------------------------------------------------------- SUT-side stamps


class IssueLog:
    """perf_counter_ns() at the start of every issue call, into a preallocated array."""

    def __init__(self, capacity: int) -> None:
        self.times = np.zeros(max(capacity, 1), dtype=np.int64)
        self.count = 0
        self.samples = 0
        times, cap, clock = self.times, len(self.times), time.perf_counter_ns
        counter = [0]

        def mark() -> None:
            i = counter[0]
            if i < cap:
                times[i] = clock()
            counter[0] = i + 1

        self._counter = counter
        self.mark = mark

    @property
    def calls(self) -> int:
        return self._counter[0]

    def stamps(self) -> np.ndarray:
        return self.times[: min(self.calls, len(self.times))]


# ---------------------------------------------------------------- what a rerun of a missed figure looks at

WAITS = ("sleep", "sched_yield", "acquire", "wait", "select", "poll")
"""Functions whose own time is waiting (blocking or spinning until a deadline), not work."""


def _where(file: str, line: int) -> str:
    """folder/file.py:line, enough to find it (several rooms have an __init__.py)."""
    path = Path(file)
    return f"{path.parent.name}/{path.name}:{line}" if path.parent.name else f"{path.name}:{line}"


def _function_label(func: tuple[str, int, str]) -> str:
    file, line, name = func
    return name if file == "~" else f"{name} ({_where(file, line)})"


def top_functions(profiler: cProfile.Profile, count: int = 4) -> dict[str, Any]:
    """The functions with the most own time in a profile, waits set apart."""
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = [(float(entry[2]), func) for func, entry in stats.items()]
    total = sum(own for own, _ in rows) or 1e-12
    waiting = sum(own for own, func in rows if any(word in func[2].lower() for word in WAITS))
    busy = sorted(((own, func) for own, func in rows if not any(word in func[2].lower() for word in WAITS)),
                  key=lambda row: row[0], reverse=True)
    return {
        "total_s": total,
        "wait_share": waiting / total,
        "top": [{"function": _function_label(func), "own_s": own, "share": own / total} for own, func in busy[:count]],
    }


def top_allocations(snapshot: tracemalloc.Snapshot, count: int = 4) -> list[dict[str, Any]]:
    """The source lines holding the most live memory in a tracemalloc snapshot."""
    ignored = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
    stats = snapshot.filter_traces(ignored).statistics("lineno")
    return [{"line": _where(stat.traceback[0].filename, stat.traceback[0].lineno), "bytes": stat.size}
            for stat in stats[:count]]


class Probe:
    """What a rerun of a missed figure looks at, inside each engine's timed call only.

    mode "cpu": a cProfile of the calling thread (both engines run their loops and the null
    SUT there), its top functions by own time. With `window_calls`, the profile starts at
    the null SUT's first issue call and stops at that call number (else at the end of the
    call): the loop alone, without the set-up and the writing of logs around it. "memory":
    tracemalloc's live allocations when the engine first calls the null SUT (for Offline:
    with every sample issued; the SUT's own responses, alike under every engine, are not
    built yet). None: nothing, the normal run."""

    def __init__(self, mode: str | None, window_calls: int | None = None) -> None:
        self.mode = mode
        self.window_calls = window_calls
        self.found: dict[str, Any] = {}
        self._snapshot: tracemalloc.Snapshot | None = None
        self._profiler: cProfile.Profile | None = None
        self._calls = 0

    @contextlib.contextmanager
    def section(self) -> Iterator[None]:
        """One timed call; a task's last one (its measurement, after any warm-up) is what is kept."""
        self._snapshot, self._calls = None, 0
        self.found.pop(self.mode or "", None)
        if self.mode == "cpu":
            self._profiler = cProfile.Profile()
            if not self.window_calls:
                self._profiler.enable()
            try:
                yield
            finally:
                self._profiler.disable()
                if self._profiler.getstats():
                    self.found["cpu"] = top_functions(self._profiler)
                self._profiler = None
        elif self.mode == "memory":
            tracemalloc.start()
            try:
                yield
            finally:
                if self._snapshot is not None:
                    self.found["memory"] = top_allocations(self._snapshot)
                tracemalloc.stop()
        else:
            yield

    def on_issue(self) -> None:
        """Called by the null SUT at each issue (Probe runs only): opens and closes the window."""
        if self.mode == "memory":
            if self._snapshot is None and tracemalloc.is_tracing():
                self._snapshot = tracemalloc.take_snapshot()
                tracemalloc.stop()  # seen what was wanted: the rest of the run at full speed
            return
        self._calls += 1
        if self._profiler is not None and self.window_calls:
            if self._calls == 1:
                self._profiler.enable()
            elif self._calls == self.window_calls:
                self._profiler.disable()


# ---------------------------------------------------------------- a fixed-service-time SUT



def tight_timer_slack() -> None:
    """Linux: 1 us timer slack for the calling thread (the default 50 us adds to every sleep)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(29, 1000, 0, 0, 0)


def sleep_until(deadline_ns: int) -> None:
    """Sleep, holding no GIL (as a device wait would); the OS wakes the thread a little late.

    No spinning: a Python thread spinning on sched_yield takes the GIL back at once after
    each turn and starves the engine's own Python threads (ours) or its callbacks (LoadGen)."""
    remaining = deadline_ns - time.perf_counter_ns()
    if remaining > 0:
        time.sleep(remaining / 1e9)


class FixedServer:
    """One worker serving samples first come, first served, `service_ns` each.

    A sample's service starts at max(its arrival, the previous sample's end) and it is
    completed at start + service, so the server is a D/1 queue: SingleStream latency =
    service, Offline rate = 1/service, Server at rate r: M/D/1 (rho = r * service; half
    the queries wait 0 at rho 0.5, so the median latency is the service time). Each
    completion comes late by the OS's wake-up overshoot (tens of microseconds on a VM),
    which does not accumulate while it stays below the service time. Every engine gets
    this same server; it records each overshoot (wake-up time - deadline), so a missed
    figure can tell the SUT's own lateness from the engine's.
    """

    def __init__(self, service_ns: int) -> None:
        self.service_ns = service_ns
        self.overshoot_ns: list[int] = []
        self._work: queue.SimpleQueue[tuple[int, list[int], Callable[[int], None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="fixed-time", daemon=True)
        self._thread.start()

    def submit(self, ids: list[int], done: Callable[[int], None]) -> None:
        self._work.put((time.perf_counter_ns(), ids, done))

    def _serve(self) -> None:
        tight_timer_slack()
        free_at = 0
        service, overshoot, clock = self.service_ns, self.overshoot_ns.append, time.perf_counter_ns
        while (item := self._work.get()) is not None:
            arrival, ids, done = item
            for sample_id in ids:
                free_at = max(free_at, arrival) + service
                sleep_until(free_at)
                overshoot(clock() - free_at)
                done(sample_id)

    def close(self) -> None:
        self._work.put(None)


# ---------------------------------------------------------------- engines


class LgEngine:
    """An engine driven through the mlperf_loadgen API: LoadGen itself, or our drop-in."""

    def __init__(self, name: str, probe: Probe | None = None) -> None:
        self.name = name
        self.probe = probe or Probe(None)
        self.lg = importlib.import_module(LG_MODULES[name])
        self.qsl = self.lg.ConstructQSL(QSL_SIZE, QSL_SIZE, _noop, _noop)

    def null_sut(self, log: IssueLog) -> Any:
        lg, mark = self.lg, log.mark
        response, complete = lg.QuerySampleResponse, lg.QuerySamplesComplete

        def issue(ids: list[int], indices: list[int]) -> None:
            mark()
            complete([response(i, 0, 0) for i in ids])

        if self.probe.mode is not None:
            look = self.probe.on_issue

            def issue_and_look(ids: list[int], indices: list[int]) -> None:
                mark()
                look()
                complete([response(i, 0, 0) for i in ids])

            return lg.ConstructFastSUT(issue_and_look, _noop)
        return lg.ConstructFastSUT(issue, _noop)

    def fixed_sut(self, server: FixedServer, log: IssueLog) -> Any:
        lg, mark = self.lg, log.mark
        response, complete = lg.QuerySampleResponse, lg.QuerySamplesComplete

        def done(sample_id: int) -> None:
            complete([response(sample_id, 0, 0)])

        def issue(ids: list[int], indices: list[int]) -> None:
            mark()
            server.submit(ids, done)

        return lg.ConstructFastSUT(issue, _noop)

    def run(self, sut: Any, settings: dict[str, Any], outdir: Path, trace: bool = False, write: bool = True) -> float:
        """Run one test; returns its wall time in seconds. LoadGen always writes its logs."""
        lg = self.lg
        test = lg.TestSettings()
        test.scenario = getattr(lg.TestScenario, settings["scenario"])
        test.mode = lg.TestMode.PerformanceOnly
        for key, value in settings.items():
            if key != "scenario":
                setattr(test, key, value)
        log = lg.LogSettings()
        log.log_output.outdir = str(outdir)
        log.enable_trace = trace
        outdir.mkdir(parents=True, exist_ok=True)
        with self.probe.section():
            start = time.perf_counter()
            lg.StartTestWithLogSettings(sut, self.qsl, test, log)
            wall = time.perf_counter() - start
        return wall

    def destroy(self, sut: Any) -> None:
        self.lg.DestroyFastSUT(sut)


class _NativeNull:
    name = "NullSUT"

    def __init__(self, mark: Callable[[], None]) -> None:
        self.mark = mark

    def issue_query(self, samples: Any) -> None:
        self.mark()
        samples.complete()

    def flush_queries(self) -> None:
        pass


class _NativeNullLooking(_NativeNull):
    """The null SUT, telling a Probe of each issue before it completes (Probe runs only)."""

    def __init__(self, mark: Callable[[], None], look: Callable[[], None]) -> None:
        super().__init__(mark)
        self.look = look

    def issue_query(self, samples: Any) -> None:
        self.mark()
        self.look()
        samples.complete()


class _NativeNullStamped(_NativeNull):
    """The null SUT, stamping when its last completion call returned (the end of the run's work)."""

    done_ns = 0

    def issue_query(self, samples: Any) -> None:
        self.mark()
        samples.complete()
        self.done_ns = time.perf_counter_ns()


class _NativeFixed:
    name = "FixedServer"

    def __init__(self, server: FixedServer, mark: Callable[[], None]) -> None:
        self.server, self.mark = server, mark

    def issue_query(self, samples: Any) -> None:
        self.mark()
        self.server.submit(samples.ids.tolist(), samples.complete)

    def flush_queries(self) -> None:
        pass


class NativeEngine:
    """This harness's own API: run_benchmark, the batch fast path, write_outputs."""

    name = OURS

    def __init__(self, probe: Probe | None = None) -> None:
        self.probe = probe or Probe(None)
        from loadgen.benchmark.runner import run_benchmark
        from loadgen.engine.query import IndexQSL
        from loadgen.machine.fingerprint import collect_fingerprint
        from loadgen.results.folder import concluded, write_outputs
        from loadgen.settings.model import TestSettings

        self._run_benchmark, self._write_outputs, self._settings = run_benchmark, write_outputs, TestSettings
        self._concluded = concluded
        self.qsl = IndexQSL(QSL_SIZE)
        self.fingerprint = collect_fingerprint()
        self.last: Any = None

    def null_sut(self, log: IssueLog) -> Any:
        if self.probe.mode is not None:
            return _NativeNullLooking(log.mark, self.probe.on_issue)
        return _NativeNull(log.mark)

    def fixed_sut(self, server: FixedServer, log: IssueLog) -> Any:
        return _NativeFixed(server, log.mark)

    def settings(self, settings: dict[str, Any]) -> Any:
        values = {k: (None if k in ZERO_IS_UNSET and not v else v) for k, v in settings.items()}
        return self._settings.model_validate(values)

    def run(self, sut: Any, settings: dict[str, Any], outdir: Path, trace: bool = False, write: bool = True) -> float:
        native = self.settings(settings)
        with self.probe.section():
            start = time.perf_counter()
            self.last = self._run_benchmark(sut, self.qsl, native, fingerprint=self.fingerprint)
            if write:
                self._write_outputs(self.last, outdir, chrome_trace=trace)
            wall = time.perf_counter() - start
        return wall

    def run_stamped(self, sut: Any, settings: dict[str, Any], outdir: Path) -> tuple[int, int]:
        """Run and write as `run` does; returns perf_counter_ns() when run_benchmark returned
        (figures and verdict done) and when the results folder was written."""
        native = self.settings(settings)
        with self.probe.section():
            self.last = self._run_benchmark(sut, self.qsl, native, fingerprint=self.fingerprint)
            judged = time.perf_counter_ns()
            self._write_outputs(self._concluded(self.last, False), outdir, chrome_trace=False)
            written = time.perf_counter_ns()
        return judged, written

    def destroy(self, sut: Any) -> None:
        pass


def make_engine(name: str, probe: Probe | None = None) -> LgEngine | NativeEngine:
    return NativeEngine(probe) if name == OURS else LgEngine(name, probe)


# ---------------------------------------------------------------- reading each engine's logs

_SUMMARY_LINE = re.compile(r"^\s*([^:]+?)\s*:\s*(.+?)\s*$")


def summary_fields(path: Path) -> dict[str, str]:
    """`label : value` lines of an mlperf_log_summary.txt (the first of each label wins)."""
    fields: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _SUMMARY_LINE.match(line)
        if match and match.group(1) not in fields:
            fields[match.group(1)] = match.group(2)
    return fields


def summary_number(fields: dict[str, str], label: str) -> float | None:
    text = fields.get(label)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def summary_valid(fields: dict[str, str]) -> bool:
    return fields.get("Result is", "").strip().upper() == "VALID"


def latency_percentiles_ns(fields: dict[str, str]) -> dict[str, float | None]:
    return {
        "p50": summary_number(fields, "50.00 percentile latency (ns)"),
        "p90": summary_number(fields, "90.00 percentile latency (ns)"),
        "p99": summary_number(fields, "99.00 percentile latency (ns)"),
        "mean": summary_number(fields, "Mean latency (ns)"),
        "max": summary_number(fields, "Max latency (ns)"),
    }


_TRACE_SAMPLE_BEGIN = re.compile(
    r'"name":"Sample".*?"ph":"b".*?"ts":(?P<ts>-?[0-9.]+).*?"query_seq":(?P<query>\d+)'
    r'.*?"issue_start_ns":(?P<issue>-?\d+)'
)
_TRACE_GENERATE = re.compile(r'"name":"GenerateQueries".*?"dur":(?P<dur>[0-9.]+)')


def loadgen_trace_queries(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(scheduled ns, issue delay ns) per query, in query order, from LoadGen's trace.

    mlperf_log_trace.json is not valid JSON (unescaped quotes in some events), so it is
    read line by line: each "Sample" begin event carries the query's scheduled time as
    `ts` (microseconds, 3 decimals) and `issue_start_ns` = issue time - scheduled time.
    A query of several samples appears once per sample; the first seen is kept.
    """
    queries: dict[int, tuple[int, int]] = {}
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if '"Sample"' not in line or '"ph":"b"' not in line:
                continue
            match = _TRACE_SAMPLE_BEGIN.search(line)
            if match:
                query = int(match.group("query"))
                if query not in queries:
                    queries[query] = (round(float(match.group("ts")) * 1000), int(match.group("issue")))
    order = sorted(queries)
    scheduled = np.array([queries[q][0] for q in order], dtype=np.int64)
    delay = np.array([queries[q][1] for q in order], dtype=np.int64)
    return scheduled, delay


def loadgen_generate_queries_s(path: Path) -> float | None:
    """Duration of LoadGen's GenerateQueries trace event, in seconds."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if "GenerateQueries" in line:
                match = _TRACE_GENERATE.search(line)
                if match:
                    return float(match.group("dur")) / 1e6
    return None


def ours_trace_queries(path: Path) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(scheduled ns, issue delay ns) per issued query from trace.npz, plus its sample
    count and the in-memory bytes of its columns, read as results reading reads it
    (`Trace.load`: the file's columns may be encoded)."""
    from loadgen.engine.trace import Trace

    trace = Trace.load(path)
    columns = {item.name: getattr(trace, item.name) for item in dataclasses.fields(Trace)}
    scheduled, issued = trace.scheduled_ns, trace.issued_ns
    done = issued >= 0
    memory = sum(int(column.nbytes) for column in columns.values())
    return scheduled[done], (issued - scheduled)[done], len(trace), memory


def loadgen_percentile(values: np.ndarray, p: float) -> float | None:
    """LoadGen's percentile: sorted[floor(n p)]."""
    if values.size == 0:
        return None
    ordered = np.sort(values)
    return float(ordered[min(int(values.size * p), values.size - 1)])


def ks_to_exponential(gaps_ns: np.ndarray, qps: float) -> float | None:
    from scipy import stats

    gaps = gaps_ns[gaps_ns >= 0] / 1e9
    if gaps.size < 2:
        return None
    return float(stats.kstest(gaps, "expon", args=(0.0, 1.0 / qps)).statistic)


def chrome_json_check(path: Path) -> tuple[bool, str | None]:
    """Whether the file is valid JSON with a traceEvents list, and why not."""
    try:
        with path.open(encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {str(exc)[:120]}"
    if not isinstance(document, dict) or not isinstance(document.get("traceEvents"), list):
        return False, "no traceEvents list"
    return True, None


# ---------------------------------------------------------------- tasks


def _stream_settings(scenario: str, queries: int, expected_ns: int) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "scenario": scenario,
        "min_duration_ms": 0,
        "min_query_count": queries,
        "max_query_count": queries,
    }
    if scenario == "SingleStream":
        settings["single_stream_expected_latency_ns"] = expected_ns
    else:
        settings["multi_stream_expected_latency_ns"] = expected_ns
        settings["multi_stream_samples_per_query"] = 8
    return settings


def _offline_settings(samples: int, expected_qps: float) -> dict[str, Any]:
    return {
        "scenario": "Offline",
        "min_duration_ms": 0,
        "min_query_count": samples,
        "max_query_count": samples,
        "offline_expected_qps": float(expected_qps),
    }


def _server_settings(qps: float, duration_ms: int, **extra: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "scenario": "Server",
        "server_target_qps": float(qps),
        "min_duration_ms": duration_ms,
        "min_query_count": 100,
        "server_target_latency_ns": 100_000_000,
    }
    settings.update(extra)
    return settings


def _run_figures(engine: Any, outdir: Path) -> dict[str, Any]:
    """Validity and latency statistics from the engine's own summary (ours: result.json)."""
    if isinstance(engine, NativeEngine):
        result = engine.last.result
        metrics = result.metrics
        latency = metrics.latency if metrics is not None else None
        pct = latency.percentiles_ns if latency is not None else {}
        return {
            "valid": bool(result.valid),
            "latency_ns": {
                "p50": pct.get("50.0"),
                "p90": pct.get("90.0"),
                "p99": pct.get("99.0"),
                "mean": latency.mean_ns if latency else None,
                "max": latency.max_ns if latency else None,
            },
            "samples_per_second": metrics.samples_per_second if metrics else None,
            "samples": metrics.samples_completed if metrics else None,
            "problems": [*result.invalid_reasons, *([result.error] if result.error else [])],
        }
    fields = summary_fields(outdir / "mlperf_log_summary.txt")
    return {
        "valid": summary_valid(fields),
        "latency_ns": latency_percentiles_ns(fields),
        "samples_per_second": summary_number(fields, "Samples per second"),
        "samples": None,
        "problems": run_problems(outdir),
    }


def run_problems(outdir: Path) -> list[str]:
    """Why an mlperf_loadgen-API run was INVALID: the drop-in's result.json says; for LoadGen,
    the summary's unmet conditions ("... : NO") and its recommendations."""
    result = outdir / "result.json"
    if result.exists():
        document = json.loads(result.read_text(encoding="utf-8"))
        return [*document.get("invalid_reasons", []), *([document["error"]] if document.get("error") else [])]
    summary = outdir / "mlperf_log_summary.txt"
    if not summary.exists():
        return ["no mlperf_log_summary.txt written"]
    lines = summary.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip().endswith(": NO") or line.strip().startswith("* ")]


def task_idle(engine: Any, spec: dict[str, Any], outdir: Path) -> dict[str, Any]:
    log = IssueLog(16)
    sut = engine.null_sut(log)
    engine.run(sut, _offline_settings(16, 1.0), outdir / "idle")
    return {"rss_bytes": maxrss_bytes()}


def task_offline(engine: Any, spec: dict[str, Any], outdir: Path) -> dict[str, Any]:
    """One Offline run, after the idle task's 16-sample run (so imports an engine makes at its
    first test, lazily, are in neither the wall time nor the samples' memory)."""
    samples = int(spec["samples"])
    engine.run(engine.null_sut(IssueLog(16)), _offline_settings(16, 1.0), outdir / "warm")
    log = IssueLog(16)
    sut = engine.null_sut(log)
    before = maxrss_bytes()
    wall = engine.run(sut, _offline_settings(samples, 1.0), outdir / "offline")
    peak = maxrss_bytes()
    figures = _run_figures(engine, outdir / "offline")
    return {
        "samples": samples,
        "samples_per_second": figures["samples_per_second"],
        "wall_s": wall,
        "valid": figures["valid"],
        "problems": figures["problems"],
        "rss_before_bytes": before,
        "rss_bytes": peak,
    }


def task_stream(engine: Any, spec: dict[str, Any], outdir: Path) -> dict[str, Any]:
    scenario, queries = spec["scenario"], int(spec["queries"])
    log = IssueLog(queries + 16)
    sut = engine.null_sut(log)
    wall = engine.run(sut, _stream_settings(scenario, queries, 10_000), outdir / "stream")
    figures = _run_figures(engine, outdir / "stream")
    stamps = log.stamps()
    qps = (stamps.size - 1) * 1e9 / float(stamps[-1] - stamps[0]) if stamps.size > 1 else None
    return {
        "queries": int(log.calls),
        "latency_ns": figures["latency_ns"],
        "queries_per_second": qps,
        "valid": figures["valid"],
        "problems": figures["problems"],
        "wall_s": wall,
    }


def task_server(engine: Any, spec: dict[str, Any], outdir: Path) -> dict[str, Any]:
    qps, duration_ms = float(spec["qps"]), int(spec["duration_ms"])
    check_trace = bool(spec.get("check_trace", False))
    expected = int(qps * duration_ms / 1000 * 1.5) + 10_000
    log = IssueLog(expected)
    sut = engine.null_sut(log)
    run_dir = outdir / "server"
    # LoadGen logs per-query issue times only in its trace; ours always writes trace.npz
    # and writes the Chrome export only when its validity is checked.
    trace = check_trace if isinstance(engine, NativeEngine) else True
    floor = machine_floor(duration_ms * 1_000_000)
    wall = engine.run(sut, _server_settings(qps, duration_ms), run_dir, trace=trace)
    figures = _run_figures(engine, run_dir)
    result: dict[str, Any] = {
        "qps": qps, "valid": figures["valid"], "latency_ns": figures["latency_ns"], "wall_s": wall,
        "problems": figures["problems"], **floor,
    }
    npz = run_dir / "trace.npz"
    if npz.exists():
        scheduled, delay, samples, memory = ours_trace_queries(npz)
        result["trace_npz_bytes_per_sample"] = npz.stat().st_size / max(samples, 1)
        result["trace_memory_bytes_per_sample"] = memory / max(samples, 1)
    else:
        scheduled, delay = loadgen_trace_queries(run_dir / "mlperf_log_trace.json")
        samples = int(delay.size)
    result["queries"] = int(delay.size)
    result["issue_delay_ns"] = {
        "p50": loadgen_percentile(delay, 0.50),
        "p99": loadgen_percentile(delay, 0.99),
        "max": float(delay.max()) if delay.size else None,
    }
    stamps = log.stamps()
    result["sut_issue_calls"] = int(log.calls)
    result["ks_sut_gaps"] = ks_to_exponential(np.diff(stamps), qps)
    result["ks_floor_scheduled_gaps"] = ks_to_exponential(np.diff(np.sort(scheduled)), qps)
    result.update(server_diagnostics(delay, np.diff(stamps), np.diff(np.sort(scheduled))))
    chrome = run_dir / "mlperf_log_trace.json"
    if check_trace and chrome.exists():
        result["chrome_trace_bytes_per_sample"] = chrome.stat().st_size / max(samples, 1)
        result["chrome_json_valid"], result["chrome_json_error"] = chrome_json_check(chrome)
    return result


def task_peak(engine: Any, spec: dict[str, Any], outdir: Path) -> dict[str, Any]:
    start, cap = float(spec["start_qps"]), float(spec["cap_qps"])
    duration_ms, steps = int(spec["duration_ms"]), int(spec["bisect_steps"])
    coalesce = bool(spec.get("coalesce", False))
    tried: list[tuple[float, bool]] = []

    def passes(qps: float) -> bool:
        log = IssueLog(16)
        sut = engine.null_sut(log)
        extra = {"max_duration_ms": 4 * duration_ms, "min_query_count": 1000}
        if coalesce:
            extra["server_coalesce_queries"] = True
        run_dir = outdir / f"peak-{len(tried)}"
        engine.run(sut, _server_settings(qps, duration_ms, **extra), run_dir, write=False)
        valid = bool(_run_figures(engine, run_dir)["valid"])
        engine.destroy(sut)
        tried.append((qps, valid))
        return valid

    lower: float | None = None
    upper: float | None = None
    qps = start
    while qps <= cap:
        if passes(qps):
            lower, qps = qps, qps * 2
        else:
            upper = qps
            break
    if lower is not None and upper is not None:
        for _ in range(steps):
            middle = round((lower + upper) / 2)
            if passes(middle):
                lower = middle
            else:
                upper = middle
    return {"peak_qps": lower or 0.0, "capped": upper is None and lower is not None, "tried": tried}


def task_fixed(engine: Any, spec: dict[str, Any], outdir: Path) -> dict[str, Any]:
    scenario = spec["scenario"]
    service_ns = int(spec["service_us"] * 1000)
    server = FixedServer(service_ns)
    if scenario == "SingleStream":
        settings = _stream_settings("SingleStream", int(spec["queries"]), service_ns)
    elif scenario == "Offline":
        settings = _offline_settings(int(spec["samples"]), 1e9 / service_ns)
    else:
        settings = _server_settings(float(spec["qps"]), int(spec["duration_ms"]))
    log = IssueLog(int(spec.get("queries", 0)) + int(float(spec.get("qps", 0)) * spec.get("duration_ms", 0) / 500) + 16)
    sut = engine.fixed_sut(server, log)
    run_dir = outdir / "fixed"
    wall = engine.run(sut, settings, run_dir)
    server.close()
    figures = _run_figures(engine, run_dir)
    overshoot = np.array(server.overshoot_ns, dtype=np.int64)
    return {
        "overshoot_p50_ns": loadgen_percentile(overshoot, 0.5),
        "scenario": scenario,
        "latency_ns": figures["latency_ns"],
        "samples_per_second": figures["samples_per_second"],
        "valid": figures["valid"],
        "problems": figures["problems"],
        "wall_s": wall,
    }


def _time_to_first_issue(engine: Any, queries: int, outdir: Path) -> float:
    log = IssueLog(4096)
    sut = engine.null_sut(log)
    settings = _server_settings(
        1e6, 0, min_query_count=queries, max_duration_ms=10, server_coalesce_queries=True
    )
    start = time.perf_counter_ns()
    engine.run(sut, settings, outdir, trace=not isinstance(engine, NativeEngine), write=False)
    engine.destroy(sut)
    return (int(log.times[0]) - start) / 1e9 if log.calls else float("nan")


def task_startup(engine: Any, spec: dict[str, Any], outdir: Path) -> dict[str, Any]:
    small, large = int(spec["small"]), int(spec["large"])
    _time_to_first_issue(engine, small, outdir / "warm")  # first-call costs out of the way
    t_small = _time_to_first_issue(engine, small, outdir / "small")
    t_large = _time_to_first_issue(engine, large, outdir / "large")
    result: dict[str, Any] = {
        "small": small,
        "large": large,
        "first_issue_small_s": t_small,
        "first_issue_large_s": t_large,
        "startup_s_per_query": (t_large - t_small) / (large - small),
    }
    if isinstance(engine, NativeEngine):
        from loadgen.engine.schedule import build_schedule, select_loaded_samples

        native = engine.settings(_server_settings(1e6, 0, min_query_count=large))
        loaded = select_loaded_samples(QSL_SIZE, QSL_SIZE, 0)
        best = float("inf")
        for _ in range(3):
            begin = time.perf_counter()
            schedule = build_schedule(native, loaded)
            best = min(best, time.perf_counter() - begin)
        result["schedule_s_per_query"] = best / schedule.n_queries
        result["schedule_queries"] = schedule.n_queries
    else:
        generate = loadgen_generate_queries_s(outdir / "large" / "mlperf_log_trace.json")
        result["schedule_s_per_query"] = generate / large if generate is not None else None
        result["schedule_queries"] = large
    return result


STALL_NS = 20_000
"""A gap between two clock reads of a spinning thread longer than this is a stall of the machine."""


def machine_stalls(duration_ns: int) -> list[int]:
    """The stalls one thread that only reads the clock sees in `duration_ns` (preemption, the
    VM's steal, interrupts): what any issuer on this machine suffers, whatever its language."""
    clock = time.perf_counter_ns
    stalls: list[int] = []
    previous = clock()
    end = previous + duration_ns
    while previous < end:
        now = clock()
        if now - previous > STALL_NS:
            stalls.append(now - previous)
        previous = now
    return stalls


def ideal_lateness_quantile(stalls_ns: Sequence[int], duration_ns: float, q: float) -> float:
    """The q-quantile of how late an issuer that costs nothing issues Poisson arrivals on a thread
    stalled so: an arrival inside a stall of length g is late by the rest of it, so the share late
    by more than x is sum(max(0, g - x)) / duration; returns the x where that share is 1 - q."""
    budget = (1.0 - q) * duration_ns
    ordered = sorted(stalls_ns, reverse=True)
    total = 0.0
    for k, gap in enumerate(ordered, start=1):
        total += gap
        x = (total - budget) / k  # where sum over the k longest of (g - x) meets the budget
        following = ordered[k] if k < len(ordered) else 0
        if x >= following:
            return max(x, 0.0)
    return 0.0


def machine_floor(duration_ns: int) -> dict[str, Any]:
    """This machine's floor for a Server run's issue delay, measured in the child just before
    the run: the stalls of a spinning thread and the p99 lateness they alone would cause."""
    stalls = machine_stalls(duration_ns)
    return {
        "machine_floor_p99_ns": ideal_lateness_quantile(stalls, duration_ns, 0.99),
        "machine_stalled_share": sum(stalls) / duration_ns,
        "machine_stalls_over_1ms": sum(1 for gap in stalls if gap > 1_000_000),
    }


def server_diagnostics(delay_ns: np.ndarray, sut_gaps_ns: np.ndarray, scheduled_gaps_ns: np.ndarray) -> dict[str, Any]:
    """What a missed Server figure is limited by: how many queries were issued late, and the
    engine's back-to-back issue cost (the 1st percentile of the gaps the SUT saw) with the
    share of scheduled gaps shorter than it, which no engine of that cost can reproduce (the
    KS distance is at least about that share)."""
    found: dict[str, Any] = {}
    if delay_ns.size:
        found["late_100us_share"] = float(np.count_nonzero(delay_ns > 100_000) / delay_ns.size)
        found["late_1ms_share"] = float(np.count_nonzero(delay_ns > 1_000_000) / delay_ns.size)
    gaps = sut_gaps_ns[sut_gaps_ns >= 0]
    if gaps.size and scheduled_gaps_ns.size:
        floor = float(np.percentile(gaps, 1))
        found["sut_gap_p01_ns"] = floor
        found["short_gap_share"] = float(np.count_nonzero(scheduled_gaps_ns < floor) / scheduled_gaps_ns.size)
    return found


# ---------------------------------------------------------------- imports, trace save, Offline scaling


def import_seconds(module: str) -> tuple[float, float]:
    """(seconds of `import module` inside a fresh interpreter, wall seconds of the whole process)."""
    statement = "pass" if module == "pass" else f"import {module}"
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return float(done.stdout.split()[-1]), time.perf_counter() - start


def _import_times(code: str) -> list[tuple[str, int]]:
    """(module, own microseconds) of every import `python -X importtime -c code` makes."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    rows = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            rows.append((parts[2].strip(), int(parts[0])))
    return rows


def import_profile(module: str, count: int = 4) -> list[dict[str, Any]]:
    """`python -X importtime -c "import module"`: own import time summed per top-level package,
    leaving out what the interpreter imports at start-up anyway (`-c pass`)."""
    startup = {name for name, _ in _import_times("pass")}
    per_package: dict[str, int] = {}
    for name, own_us in _import_times(f"import {module}"):
        if name not in startup:
            package = name.split(".")[0]
            per_package[package] = per_package.get(package, 0) + own_us
    ranked = sorted(per_package.items(), key=lambda item: item[1], reverse=True)
    return [{"package": name, "own_s": us / 1e6} for name, us in ranked[:count]]


def task_imports(_engine: Any, spec: dict[str, Any], outdir: Path) -> dict[str, Any]:
    """Best of `repeats` fresh interpreters per module of this engine, the modules interleaved;
    and where asked, which packages an import spends its time in."""
    engine = spec["engine"]
    modules = list(spec["modules"][engine])
    best: dict[str, list[float]] = {module: [float("inf"), float("inf")] for module in modules}
    for _ in range(int(spec["repeats"])):
        for module in modules:
            seconds, wall = import_seconds(module)
            best[module] = [min(best[module][0], seconds), min(best[module][1], wall)]
    result: dict[str, Any] = {
        "import_s": {module: values[0] for module, values in best.items()},
        "process_s": {module: values[1] for module, values in best.items()},
    }
    if spec.get("profile_modules", {}).get(engine):
        result["import_profile"] = import_profile(spec["profile_modules"][engine])
    return result


def server_like_trace(calibration: Any, schedule: Any, seed: int = 0) -> Any:
    """A Server trace on a real schedule, its issue delays and service times resampled from a
    short real run at the same rate (so its times have a real run's spread)."""
    from loadgen.engine.trace import NOT_YET, Trace

    issued = calibration.issued_ns != NOT_YET
    delays = (calibration.issued_ns - calibration.scheduled_ns)[issued]
    service = (calibration.completed_ns - calibration.per_sample(calibration.issued_ns))
    service = service[(calibration.completed_ns != NOT_YET) & calibration.per_sample(issued)]
    rng = np.random.default_rng(seed)
    scheduled = np.asarray(schedule.scheduled_ns, dtype=np.int64)
    issued_ns = scheduled + rng.choice(delays, size=scheduled.size)
    completed = issued_ns + rng.choice(service, size=scheduled.size)  # Server: one sample a query
    return Trace(
        query_offsets=schedule.query_offsets, scheduled_ns=scheduled, issued_ns=issued_ns,
        sample_index=schedule.sample_index, completed_ns=completed,
        response_size=np.zeros(scheduled.size, dtype=np.int32),
    )


def task_trace_save(engine: Any, spec: dict[str, Any], outdir: Path) -> dict[str, Any]:
    """Write a results folder holding a `samples`-sample Server trace as results writing does
    (write_outputs), timing the whole call and, inside it, Trace.save; then read it back as
    results reading does (load_trace) and compare every column exactly."""
    from unittest import mock

    from loadgen.engine.schedule import build_schedule, select_loaded_samples
    from loadgen.engine.trace import Trace
    from loadgen.results.folder import TRACE_FILE
    from loadgen.results.reading import load_trace

    samples, qps = int(spec["samples"]), float(spec["qps"])
    engine.run(engine.null_sut(IssueLog(16)), _server_settings(qps, int(spec["calibrate_ms"])), outdir, write=False)
    calibration = engine.last
    settings = engine.settings(_server_settings(qps, 0, min_query_count=samples, max_query_count=samples))
    schedule = build_schedule(settings, select_loaded_samples(QSL_SIZE, QSL_SIZE, 0))
    trace = server_like_trace(calibration.trace, schedule)
    benchmark = dataclasses.replace(calibration, trace=trace)
    saves: list[float] = []
    original = Trace.save

    def timed_save(self: Trace, target: Any) -> None:
        start = time.perf_counter()
        original(self, target)
        saves.append(time.perf_counter() - start)

    folder = outdir / "saved"
    with mock.patch.object(Trace, "save", timed_save), engine.probe.section():
        start = time.perf_counter()
        engine._write_outputs(engine._concluded(benchmark, False), folder, chrome_trace=False)
        write_s = time.perf_counter() - start
    start = time.perf_counter()
    back = load_trace(folder)
    load_s = time.perf_counter() - start
    exact = back is not None and all(
        np.array_equal(getattr(back, name.name), getattr(trace, name.name))
        and getattr(back, name.name).dtype == getattr(trace, name.name).dtype
        for name in dataclasses.fields(Trace)
    )
    npz = folder / TRACE_FILE
    return {
        "samples": len(trace),
        "trace_save_s": sum(saves) if saves else None,
        "trace_save_calls": len(saves),
        "write_outputs_s": write_s,
        "trace_load_s": load_s,
        "trace_npz_bytes_per_sample": npz.stat().st_size / len(trace) if npz.exists() else None,
        "reads_back_exactly": exact,
        "problems": [] if saves else ["write_outputs did not call Trace.save: time what it calls instead "
                                      "(bench/child.py, task_trace_save)"],
    }


def task_scaling(engine: Any, spec: dict[str, Any], outdir: Path) -> dict[str, Any]:
    """A native Offline null-SUT run: its rate, and the time from the SUT's completion call
    returning to the results folder written (run_benchmark's figures and verdict, then
    concluded + write_outputs), in all and per sample."""
    samples = int(spec["samples"])
    sut = _NativeNullStamped(IssueLog(16).mark)
    start = time.perf_counter_ns()
    judged, written = engine.run_stamped(sut, _offline_settings(samples, 1.0), outdir / "scaling")
    metrics = engine.last.result.metrics
    return {
        "samples": samples,
        "samples_per_second": metrics.samples_per_second if metrics else None,
        "wall_s": (written - start) / 1e9,
        "post_run_s": (written - sut.done_ns) / 1e9,
        "post_run_ns_per_sample": (written - sut.done_ns) / samples,
        "figures_ns_per_sample": (judged - sut.done_ns) / samples,
        "files_ns_per_sample": (written - judged) / samples,
        "rss_bytes": maxrss_bytes(),
    }


TASKS: dict[str, Callable[[Any, dict[str, Any], Path], dict[str, Any]]] = {
    "idle": task_idle,
    "offline": task_offline,
    "stream": task_stream,
    "server": task_server,
    "peak": task_peak,
    "fixed": task_fixed,
    "startup": task_startup,
    "imports": task_imports,
    "trace_save": task_trace_save,
    "scaling": task_scaling,
}
NO_ENGINE = ("imports",)


def window_calls(spec: dict[str, Any]) -> int | None:
    """Issue calls a cpu Probe profiles: the whole loop of a stream run, the first 90% of a
    Server run's expected queries; None (the whole timed call) for the other tasks."""
    if spec["task"] == "stream":
        return int(spec["queries"])
    if spec["task"] == "server":
        return max(2, int(0.9 * float(spec["qps"]) * int(spec["duration_ms"]) / 1000))
    return None
"""Tasks that must not import an engine into the child (they time fresh interpreters)."""


def main(argv: list[str]) -> int:
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    outdir = Path(spec["outdir"])
    outdir.mkdir(parents=True, exist_ok=True)
    os.chdir(outdir)  # LoadGen and the drop-in read an audit.config from the working folder
    probe = Probe(spec.get("probe"), window_calls(spec))
    engine = None if spec["task"] in NO_ENGINE else make_engine(spec["engine"], probe)
    figures = TASKS[spec["task"]](engine, spec, outdir)
    figures["child_peak_rss_bytes"] = maxrss_bytes()
    if probe.found:
        figures["probe"] = probe.found
    result_path.write_text(json.dumps(figures, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # LoadGen's and the SUTs' daemon threads must not delay or crash the exit
