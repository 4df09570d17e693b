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
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from loadgen.benchmark.runner import Benchmark, performance_sample_count, tool_version
from loadgen.distributed.plan import PartTrace, merge_parts, split_schedule
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
from loadgen.engine.schedule import build_schedule, select_loaded_samples
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
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=True)
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

    records: dict[int, PartRecord] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    kind: type[RunAborted] | None = None


def run_distributed(
    make_sut: SutFactory,
    settings: TestSettings,
    workers: int,
    address: str | None = None,
    measure_clocks: bool = False,
) -> Benchmark:
    """Run the benchmark on `workers` Ray actors; `measure_clocks` applies measured offsets even on
    one node (as across machines). Settings problems raise SettingsError before anything starts."""
    check_distributable(settings, workers)
    with ray_session(address, workers) as ray:
        actor_class = ray.remote(num_cpus=0, max_concurrency=2)(PartWorker)
        handles = [actor_class.options(scheduling_strategy="SPREAD").remote(w, make_sut) for w in range(workers)]
        try:
            return _run(ray, handles, settings, measure_clocks)
        finally:
            for handle in handles:
                ray.kill(handle)


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
    """Every worker loads the sample set and warms up; a failure names the worker."""
    refs = [h.prepare.remote(loaded, settings) for h in handles]
    warmups = []
    for worker, ref in enumerate(refs):
        try:
            warmups.append(int(ray.get(ref, timeout=SETUP_TIMEOUT_S)))
        except Exception as exc:
            raise SutError(f"worker {_who(worker, facts)} failed before timing started: {_cause(exc)}") from exc
    return warmups


def _remote_clock(ray: ModuleType, handle: Any) -> int:
    return int(ray.get(handle.clock.remote()))


def _run(ray: ModuleType, handles: list[Any], settings: TestSettings, measure_clocks: bool) -> Benchmark:
    facts = _describe(ray, handles)
    qsl = IndexQSL(facts[0]["total_sample_count"], facts[0]["performance_sample_count"])
    loaded_count = performance_sample_count(settings, qsl)
    loaded = select_loaded_samples(qsl.total_sample_count, loaded_count, settings.qsl_rng_seed)
    schedule = build_schedule(settings, loaded)
    parts = split_schedule(schedule, len(handles))
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    fingerprint = collect_fingerprint()
    offsets = _clocks(ray, handles, facts, measure_clocks)
    outcome = _Outcome()
    warmups = [0] * len(handles)
    with peak_rss() as memory, sample_noise() as noise:  # the driver's machine, as in one-process runs
        try:
            warmups = _prepare(ray, handles, loaded, settings, facts)
            start = monotonic_ns() + START_LEAD_NS
            refs = {
                h.run.remote(part.schedule, settings, start + offsets[i].offset_ns): i
                for i, (h, part) in enumerate(zip(handles, parts, strict=True))
            }
            _collect(ray, handles, refs, outcome, facts, settings.sample_timeout_ms / 1000 + LAGGARD_GRACE_S)
        except KeyboardInterrupt:
            _fail(outcome, Interrupted, "interrupted by the user (Ctrl-C on the driver)")
        except SutError as exc:
            _fail(outcome, SutError, str(exc))
    merged = merge_parts(
        schedule, [PartTrace(parts[w], r.trace, r.shift_ns) for w, r in sorted(outcome.records.items())]
    )
    error = outcome.kind("; ".join(outcome.failures)) if outcome.kind else None
    metrics = compute_metrics(merged, settings)
    validity = judge(metrics, settings, str(error) if error else None)
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
        distributed=_distributed_facts(facts, offsets, parts, outcome, settings, metrics.duration_ns),
    )
    return Benchmark(result=result, trace=merged, error=error)


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


def _collect(
    ray: ModuleType, handles: list[Any], refs: dict[Any, int], outcome: _Outcome, facts: list[Any], laggard_s: float
) -> None:
    """Gather every part; on the first failure (or Ctrl-C) stop the other workers, which hand
    back what they recorded. A worker still running when another finished, longer than
    `laggard_s` and than the run had lasted by then, is stopped as stuck; one that never
    answers a stop is given up after STOP_GRACE_S."""
    started = monotonic_ns() / 1e9
    pending = dict(refs)
    give_up_at: float | None = None
    laggards_at: float | None = None
    while pending:
        try:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
        except KeyboardInterrupt:
            if give_up_at is not None and outcome.kind is Interrupted:
                break  # a second Ctrl-C: stop waiting for parts
            _fail(outcome, Interrupted, "interrupted by the user (Ctrl-C on the driver)")
            ready = []
        for ref in ready:
            _receive(ray, ref, pending.pop(ref), outcome, facts)
        now = monotonic_ns() / 1e9
        if ready and laggards_at is None:
            laggards_at = now + max(laggard_s, now - started)
        if pending and laggards_at is not None and now > laggards_at and not outcome.failures:
            stuck = ", ".join(_who(w, facts) for w in sorted(pending.values()))
            _fail(outcome, SampleTimeout, f"worker {stuck} still running long after another finished: stuck")
        if outcome.failures and give_up_at is None:
            reason = "stopped by the driver: " + outcome.failures[0]
            for worker in pending.values():
                handles[worker].stop.remote(reason)
            give_up_at = now + STOP_GRACE_S
        if give_up_at is not None and now > give_up_at:
            break
    for worker in sorted(pending.values()):
        _fail(outcome, RunAborted, f"worker {_who(worker, facts)} did not hand back its part")


def _receive(ray: ModuleType, ref: Any, worker: int, outcome: _Outcome, facts: list[Any]) -> None:
    try:
        record: PartRecord = ray.get(ref)
    except ray.exceptions.RayActorError as exc:  # the worker's process died, its part with it
        _fail(outcome, RunAborted, f"worker {_who(worker, facts)} died: {_cause(exc)}")
        return
    except Exception as exc:  # a harness error inside the worker
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
                "part_returned": record is not None,
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
        "failures": list(outcome.failures),
        "per_worker": per_worker,
    }
