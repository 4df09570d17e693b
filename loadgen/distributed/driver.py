"""The distributed run: N Ray worker actors, one schedule, one merged trace, one verdict.

The driver builds the schedule from the seeds exactly as one process would, deals it to the
workers (loadgen.distributed.plan), measures their clocks, starts them all at one instant,
collects their parts, merges them and judges the merged trace with loadgen.metrics, so every
figure means what it means for one process. Ray is imported only here, only when used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import FrameType, ModuleType
from typing import Any

from loadgen.benchmark.runner import Benchmark, performance_sample_count, tool_version
from loadgen.distributed.plan import PartTrace, merge_parts, split_schedule
from loadgen.distributed.stream import PROGRESS_INTERVAL_S, PartStream, Progress
from loadgen.distributed.timing import (
    ClockOffset,
    clock_error_limit_ns,
    clock_offset,
    clock_problem,
    kernel_identity,
    measure_offset,
)
from loadgen.distributed.worker import PartRecord, PartWorker, SutFactory
from loadgen.engine.clock import monotonic_ns
from loadgen.engine.query import IndexQSL
from loadgen.engine.schedule import Schedule, build_schedule, select_loaded_samples
from loadgen.errors import Interrupted, RunAborted, SampleTimeout, SettingsError, SutError, SutLoadError
from loadgen.machine.fingerprint import collect_fingerprint, load_average
from loadgen.machine.memory import peak_rss
from loadgen.machine.noise import noise_warnings, sample_noise
from loadgen.metrics.figures import compute_metrics
from loadgen.metrics.result import RunResult
from loadgen.metrics.verdict import judge
from loadgen.settings.model import Mode, Scenario, TestSettings

INSTALL_HINT = "--workers and --ray-address need Ray: pip install 'tinyperf-loadgen[ray]' (or: pip install ray)"

START_LEAD_NS = 500_000_000
"""The common start lies this far after the driver sends `run`, so every worker is waiting for it."""

STOP_GRACE_S = 30.0
"""After a stop, how long the driver waits for the other workers to hand their parts back."""

LAGGARD_GRACE_S = 5.0
"""Workers end within sample_timeout_ms plus this of each other, or the late ones count as stuck."""

SETUP_TIMEOUT_S = 300.0
"""Building, describing and warming up the workers' SUTs may take this long."""


class Terminated(Interrupted):
    """The driver got SIGTERM: the run stopped as on Ctrl-C, and the command exits 143."""


class DriverSignals:
    """SIGINT and SIGTERM on the driver, both raised as KeyboardInterrupt in its main thread
    while `armed` (as Ctrl-C always is), so either one stops the workers and keeps their parts;
    which one came decides the error's kind and words. Installed after Ray's own SIGTERM
    handler (ray.init sets one that exits at once) and restored to what was there before."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.armed = False
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def install(self, armed: bool = True) -> None:
        for signum in self._previous:
            signal.signal(signum, self._on_signal)
        self.armed = armed

    def restore(self) -> None:
        self.armed = False
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received != signal.SIGTERM:
            self.received = signum
        if self.armed:
            raise KeyboardInterrupt

    def kind(self) -> type[Interrupted]:
        return Terminated if self.received == signal.SIGTERM else Interrupted

    def reason(self) -> str:
        if self.received == signal.SIGTERM:
            return "terminated by SIGTERM on the driver"
        return "interrupted by the user (Ctrl-C on the driver)"


@contextlib.contextmanager
def signals_deferred() -> Iterator[DriverSignals]:
    """While the results are written (bounded work): SIGINT and SIGTERM are only noted, for the
    exit code, as a one-process run defers them then."""
    signals = DriverSignals()
    signals.install(armed=False)
    try:
        yield signals
    finally:
        signals.restore()


def import_ray() -> ModuleType:
    """Ray, or a SettingsError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise SettingsError([INSTALL_HINT]) from exc
    return ray


@contextlib.contextmanager
def ray_session(address: str | None, workers: int) -> Iterator[ModuleType]:
    """Ray, connected: to ADDRESS, or a local instance started (and shut down) for this run.
    An instance already initialised in this process (a notebook, the tests) is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=True)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            problem = f"--ray-address {address}: cannot connect to a Ray cluster there: {_cause(exc)}"
            raise SettingsError([problem]) from exc
    else:
        # "local": a new instance even where RAY_ADDRESS is set or `ray start` left a cluster running
        ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=True)
    try:
        yield ray
    finally:
        ray.shutdown()


def check_distributable(settings: TestSettings, workers: int) -> None:
    """Refuse, before anything starts, what a distributed run cannot do."""
    problems = []
    if workers < 1:
        problems.append(f"--workers {workers}: allowed: a whole number >= 1")
    if settings.scenario not in (Scenario.Server, Scenario.Offline):
        problems.append(
            f"--workers: {settings.scenario.value} keeps one query outstanding, a single stream by definition, "
            "so it cannot be split across workers; allowed: Server, Offline"
        )
    if settings.mode is not Mode.PerformanceOnly:
        problems.append(f"--workers: mode {settings.mode.value} is not distributed; allowed: performance")
    if settings.scenario is Scenario.Server and settings.server_target_qps is None:
        problems.append("--workers: set server_target_qps (the pilot that measures it runs in one process only)")
    if settings.scenario is Scenario.Offline and settings.offline_expected_qps is None:
        problems.append("--workers: set offline_expected_qps (the pilot that measures it runs in one process only)")
    if problems:
        raise SettingsError(problems)


@dataclass
class _Outcome:
    """What the collection of parts came to."""

    streams: list[PartStream]
    records: dict[int, PartRecord] = field(default_factory=dict)
    streamed: set[int] = field(default_factory=set)
    """Workers whose part is the driver's streamed copy (they died, hung or never answered)."""
    failures: list[str] = field(default_factory=list)
    kind: type[RunAborted] | None = None

    def keep_streamed(self, worker: int, stop_reason: str) -> None:
        """The worker's part as far as its progress answers brought it."""
        stream = self.streams[worker]
        self.records[worker] = PartRecord(worker, stream.received(), stream.shift_ns, stop_reason, None, None)
        self.streamed.add(worker)


def run_distributed(
    make_sut: SutFactory,
    settings: TestSettings,
    workers: int,
    address: str | None = None,
    measure_clocks: bool = False,
    on_start: Callable[[Schedule, int], None] | None = None,
) -> Benchmark:
    """Run the benchmark on `workers` Ray actors; `measure_clocks` applies measured offsets even on
    one node (as across machines); `on_start(schedule, workers)` hears when timing starts (the
    command line's readiness line). Settings problems raise SettingsError before anything starts.
    SIGINT and SIGTERM stop the run with every part kept (Interrupted / Terminated); before
    timing they raise that error, with nothing recorded."""
    check_distributable(settings, workers)
    signals = DriverSignals()
    try:
        with ray_session(address, workers) as ray:
            signals.install()
            actor_class = ray.remote(num_cpus=0, max_concurrency=2)(PartWorker)
            handles = [actor_class.options(scheduling_strategy="SPREAD").remote(w, make_sut) for w in range(workers)]
            try:
                return _run(ray, handles, settings, measure_clocks, signals, on_start)
            finally:
                signals.armed = False  # a signal now only decides the exit code: the actors and Ray still go
                for handle in handles:
                    ray.kill(handle)
    except KeyboardInterrupt:  # while Ray started or the workers were set up (_run catches it once timed)
        raise signals.kind()(f"{signals.reason()} before timing started: nothing was recorded") from None
    finally:
        signals.restore()


def _describe(ray: ModuleType, handles: list[Any]) -> list[dict[str, Any]]:
    try:
        facts: list[dict[str, Any]] = ray.get([h.describe.remote() for h in handles], timeout=SETUP_TIMEOUT_S)
    except Exception as exc:
        raise SutLoadError(f"a worker could not build its SUT: {_cause(exc)}") from exc
    for fact in facts:
        if "error" in fact:
            raise SutLoadError(f"worker {_who(fact['worker'], facts)} could not build its SUT: {fact['error']}")
    totals = {f["total_sample_count"] for f in facts}
    if len(totals) > 1:
        raise SutLoadError(f"the workers' QSLs disagree on total_sample_count: {sorted(totals)}")
    return facts


def _clocks(ray: ModuleType, handles: list[Any], facts: list[dict[str, Any]], measure: bool) -> list[ClockOffset]:
    """Every worker's offset; zero (shared CLOCK_MONOTONIC) for workers on the driver's kernel."""
    here = kernel_identity()
    offsets = []
    for handle, fact in zip(handles, facts, strict=True):
        offset, trip = measure_offset(functools.partial(_remote_clock, ray, handle))
        shared = not measure and here is not None and fact["kernel"] == here
        offsets.append(clock_offset(offset, trip, shared))
    return offsets


def _prepare(ray: ModuleType, handles: list[Any], loaded: Any, settings: TestSettings, facts: list[Any]) -> list[int]:
    """Every worker loads the sample set and warms up; a failure, or a SUT call its issue watch
    caught never returning, names the worker."""
    refs = [h.prepare.remote(loaded, settings) for h in handles]
    deadline = monotonic_ns() / 1e9 + SETUP_TIMEOUT_S
    waiting = list(refs)
    while waiting and monotonic_ns() / 1e9 < deadline:
        _, waiting = ray.wait(waiting, num_returns=len(waiting), timeout=PROGRESS_INTERVAL_S)
        for ref in waiting:
            worker = refs.index(ref)
            stuck = _stuck(ray, handles[worker])
            if stuck:
                raise SampleTimeout(f"worker {_who(worker, facts)}, warming up: {stuck}")
    warmups = []
    for worker, ref in enumerate(refs):
        try:
            warmups.append(int(ray.get(ref, timeout=SETUP_TIMEOUT_S)))
        except Exception as exc:
            raise SutError(f"worker {_who(worker, facts)} failed before timing started: {_cause(exc)}") from exc
    return warmups


def _stuck(ray: ModuleType, handle: Any) -> str | None:
    """The worker's issue watch's finding; None too when it does not answer (the deadline catches that)."""
    try:
        progress: Progress = ray.get(handle.progress.remote(0), timeout=PROGRESS_INTERVAL_S)
    except Exception:
        return None
    return progress.stuck


def _remote_clock(ray: ModuleType, handle: Any) -> int:
    return int(ray.get(handle.clock.remote()))


def _run(
    ray: ModuleType,
    handles: list[Any],
    settings: TestSettings,
    measure_clocks: bool,
    signals: DriverSignals,
    on_start: Callable[[Schedule, int], None] | None,
) -> Benchmark:
    facts = _describe(ray, handles)
    qsl = IndexQSL(facts[0]["total_sample_count"], facts[0]["performance_sample_count"])
    loaded_count = performance_sample_count(settings, qsl)
    loaded = select_loaded_samples(qsl.total_sample_count, loaded_count, settings.qsl_rng_seed)
    schedule = build_schedule(settings, loaded)
    parts = split_schedule(schedule, len(handles))
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    fingerprint = collect_fingerprint()
    offsets = _clocks(ray, handles, facts, measure_clocks)
    outcome = _Outcome([PartStream(part, settings.use_token_latencies) for part in parts])
    warmups = [0] * len(handles)
    with peak_rss() as memory, sample_noise() as noise:  # the driver's machine, as in one-process runs
        try:
            warmups = _prepare(ray, handles, loaded, settings, facts)
            start = monotonic_ns() + START_LEAD_NS
            refs = {
                h.run.remote(part.schedule, settings, start + offsets[i].offset_ns): i
                for i, (h, part) in enumerate(zip(handles, parts, strict=True))
            }
            if on_start is not None:
                on_start(schedule, len(handles))
            laggard_s = settings.sample_timeout_ms / 1000 + LAGGARD_GRACE_S
            _Collection(ray, handles, outcome, facts, signals).run(refs, laggard_s)
        except KeyboardInterrupt:
            _fail(outcome, signals.kind(), signals.reason())
        except (SutError, SampleTimeout) as exc:
            _fail(outcome, type(exc), str(exc))
        signals.armed = False  # the parts are in: what follows is bounded work, as in one process
    merged = merge_parts(
        schedule, [PartTrace(parts[w], r.trace, r.shift_ns) for w, r in sorted(outcome.records.items())]
    )
    error = outcome.kind("; ".join(outcome.failures)) if outcome.kind else None
    metrics = compute_metrics(merged, settings)
    failed = merged_failures(outcome.records.values())
    validity = judge(metrics, settings, str(error) if error else None, failed_samples=failed)
    checks, reasons = dict(validity.checks), list(validity.reasons)
    problem = clock_problem(offsets, settings, metrics.duration_ns)
    checks["clock_offsets"] = problem is None
    if problem:
        reasons.append(problem)
    stops = {w: r.stop_reason for w, r in outcome.records.items()}
    result = RunResult(
        tool=tool_version(),
        started_at=started_at,
        scenario=settings.scenario.value,
        mode=settings.mode.value,
        sut_name=facts[0]["sut_name"],
        qsl_name=facts[0]["qsl_name"],
        valid=not reasons,
        invalid_reasons=reasons,
        checks=checks,
        stop_reason=f"aborted: {error}" if error else _common_stop(stops),
        error=str(error) if error else None,
        metrics=metrics,
        settings_requested=settings.model_dump(mode="json"),
        settings_effective=settings.model_dump(mode="json"),
        chosen_by_pilot={},
        warmup_queries=int(sum(warmups)),
        total_sample_count=qsl.total_sample_count,
        performance_sample_count=loaded_count,
        fingerprint=fingerprint,
        load_average_end=load_average(),
        memory=memory,
        warnings=_late_starts(outcome, settings, facts) + noise_warnings(fingerprint, noise),
        failed_samples=failed,
        distributed=_distributed_facts(facts, offsets, parts, outcome, settings, metrics.duration_ns),
    )
    return Benchmark(result=result, trace=merged, error=error)


def merged_failures(records: Iterable[PartRecord]) -> dict[str, int]:
    """The workers' failed samples, summed per reason (a streamed part's are not known: that
    worker's fault already ends the run INVALID)."""
    total: dict[str, int] = {}
    for record in records:
        for reason, count in record.failed_samples.items():
            total[reason] = total.get(reason, 0) + count
    return total


def _late_starts(outcome: _Outcome, settings: TestSettings, facts: list[Any]) -> list[str]:
    """Workers whose engine started after the common instant by more than the clocks may be off."""
    limit = clock_error_limit_ns(settings, 10**9)  # Offline: 1% of a second
    return [
        f"worker {_who(w, facts)} started {r.shift_ns / 1e6:.2f} ms after the common start instant; "
        "its queries went out that much late (its latencies include it)"
        for w, r in sorted(outcome.records.items())
        if r.shift_ns > limit
    ]


def _fail(outcome: _Outcome, kind: type[RunAborted], reason: str) -> None:
    """Note a failure; the first one decides the error's kind (and so the exit code)."""
    outcome.failures.append(reason)
    if outcome.kind is None:
        outcome.kind = kind


_KINDS: dict[str | None, type[RunAborted]] = {"sut": SutError, "timeout": SampleTimeout, "stopped": Interrupted}


class _Collection:
    """Gathers every part, and meanwhile each running worker's progress (loadgen.distributed.stream),
    so a worker that dies, hangs in its SUT or never answers still leaves its part.

    On the first failure (or a signal) the other workers are stopped and hand back what they
    recorded. A worker whose issue watch fired is killed at once (its SUT call may never
    return). A worker still running when another finished, longer than `laggard_s` and than
    the run had lasted by then, is stopped as stuck; one that never answers a stop is given
    up after STOP_GRACE_S, and a second signal stops the waiting."""

    def __init__(
        self, ray: ModuleType, handles: list[Any], outcome: _Outcome, facts: list[Any], signals: DriverSignals
    ) -> None:
        self.ray, self.handles, self.outcome, self.facts, self.signals = ray, handles, outcome, facts, signals
        self.pending: dict[Any, int] = {}
        self.asking: dict[Any, int] = {}
        self.asked_at = 0.0

    def run(self, refs: dict[Any, int], laggard_s: float) -> None:
        outcome = self.outcome
        self.pending = dict(refs)
        started = monotonic_ns() / 1e9
        give_up_at: float | None = None
        laggards_at: float | None = None
        while self.pending:
            ready = self._wait(give_up_at is not None)
            if ready is None:
                break  # a second signal: stop waiting for parts
            finished = False
            for ref in ready:
                finished |= self._take(ref)
            now = monotonic_ns() / 1e9
            self._ask(now)
            if finished and laggards_at is None:
                laggards_at = now + max(laggard_s, now - started)
            if self.pending and laggards_at is not None and now > laggards_at and not outcome.failures:
                stuck = ", ".join(_who(w, self.facts) for w in sorted(self.pending.values()))
                _fail(outcome, SampleTimeout, f"worker {stuck} still running long after another finished: stuck")
            if outcome.failures and give_up_at is None:
                reason = "stopped by the driver: " + outcome.failures[0]
                for worker in self.pending.values():
                    self.handles[worker].stop.remote(reason)
                give_up_at = now + STOP_GRACE_S
            if give_up_at is not None and now > give_up_at:
                break
        for worker in sorted(self.pending.values()):
            outcome.keep_streamed(worker, "aborted: it did not hand back its part")
            _fail(outcome, RunAborted, f"worker {_who(worker, self.facts)} did not hand back its part; "
                  "what it streamed is kept")

    def _wait(self, stopping: bool) -> list[Any] | None:
        """The next finished part or progress answer (none within 0.2 s: []); None after a second signal."""
        try:
            ready: list[Any] = self.ray.wait([*self.pending, *self.asking], num_returns=1, timeout=0.2)[0]
        except KeyboardInterrupt:
            if stopping and self.outcome.kind is not None and issubclass(self.outcome.kind, Interrupted):
                return None
            _fail(self.outcome, self.signals.kind(), self.signals.reason())
            return []
        return ready

    def _take(self, ref: Any) -> bool:
        """Take in a ready reference; True when it was a worker's whole part."""
        if ref in self.pending:
            _receive(self.ray, ref, self.pending.pop(ref), self.outcome, self.facts)
            return True
        worker = self.asking.pop(ref)
        try:
            progress: Progress = self.ray.get(ref)
        except Exception:
            return False  # the worker is gone: its run's reference says how
        self.outcome.streams[worker].apply(progress)
        if progress.stuck and worker in self.pending.values():
            self._kill_stuck(worker, progress.stuck)
        return False

    def _kill_stuck(self, worker: int, stuck: str) -> None:
        """The worker's issue watch fired: its SUT call may never return, so it is killed now."""
        self.pending = {ref: w for ref, w in self.pending.items() if w != worker}
        self.ray.kill(self.handles[worker])
        self.outcome.keep_streamed(worker, f"aborted: {stuck}")
        _fail(self.outcome, SampleTimeout, f"worker {_who(worker, self.facts)}: {stuck}; it was killed, "
              "its part kept as streamed")

    def _ask(self, now: float) -> None:
        """Every PROGRESS_INTERVAL_S, ask each running worker (not still answering) for its progress."""
        if now - self.asked_at < PROGRESS_INTERVAL_S:
            return
        self.asked_at = now
        asked = set(self.asking.values())
        for worker in self.pending.values():
            if worker not in asked:
                self.asking[self.handles[worker].progress.remote(self.outcome.streams[worker].low)] = worker


def _receive(ray: ModuleType, ref: Any, worker: int, outcome: _Outcome, facts: list[Any]) -> None:
    try:
        record: PartRecord = ray.get(ref)
    except ray.exceptions.RayActorError as exc:  # the worker's process died: its part as last streamed
        outcome.keep_streamed(worker, "aborted: the worker died")
        _fail(outcome, RunAborted, f"worker {_who(worker, facts)} died: {_cause(exc)}; its part is kept as "
              f"it streamed it (up to {PROGRESS_INTERVAL_S:g} s before it died)")
        return
    except Exception as exc:  # a harness error inside the worker
        outcome.keep_streamed(worker, "aborted: the worker failed")
        _fail(outcome, RunAborted, f"worker {_who(worker, facts)} failed: {_cause(exc)}")
        return
    outcome.records[worker] = record
    if record.error is not None and record.error_kind != "stopped":
        _fail(outcome, _KINDS.get(record.error_kind, RunAborted), f"worker {_who(worker, facts)}: {record.error}")


def _who(worker: int, facts: list[Any]) -> str:
    fact = facts[worker]
    return f"{worker} (pid {fact['pid']} on {fact['host']})"


def _cause(exc: BaseException) -> str:
    """The first line of an exception, Ray's long tracebacks left out."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text}"[:300]


def _common_stop(stops: dict[int, str]) -> str:
    reasons = set(stops.values())
    if len(reasons) == 1:
        return reasons.pop()
    return "; ".join(f"worker {w}: {reason}" for w, reason in sorted(stops.items()))


def _distributed_facts(
    facts: list[dict[str, Any]],
    offsets: list[ClockOffset],
    parts: list[Any],
    outcome: _Outcome,
    settings: TestSettings,
    duration_ns: int,
) -> dict[str, Any]:
    """result.json's `distributed` block: the split, each worker, and the clocks' error bound."""
    per_worker = []
    for w, (fact, offset, part) in enumerate(zip(facts, offsets, parts, strict=True)):
        record = outcome.records.get(w)
        per_worker.append(
            {
                **{k: fact[k] for k in ("worker", "pid", "host", "sut_name")},
                "queries_assigned": part.schedule.n_queries,
                "samples_assigned": part.schedule.n_samples,
                "queries_issued": record.trace.n_queries if record else None,
                "part_returned": record is not None and w not in outcome.streamed,
                "part_streamed": w in outcome.streamed,
                "progress_answers": outcome.streams[w].answers,
                "stop_reason": record.stop_reason if record else "no part returned",
                "start_late_ns": record.shift_ns if record else None,
                "clock": offset.model_dump(),
            }
        )
    return {
        "workers": len(facts),
        "split": "round-robin by query" if settings.scenario is Scenario.Server else "contiguous sample slices",
        "clock_error_bound_ns": max(o.error_bound_ns for o in offsets),
        "clock_error_limit_ns": clock_error_limit_ns(settings, duration_ns),
        "progress_interval_s": PROGRESS_INTERVAL_S,
        "failures": list(outcome.failures),
        "per_worker": per_worker,
    }
