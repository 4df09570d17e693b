"""One benchmark from start to finish: load, pilot, warm-up, schedule, timed run, figures.

Whatever happens after the settings are accepted, a RunResult comes back with everything
recorded so far; only a SettingsError (nothing ran) propagates.
"""

from __future__ import annotations

import datetime as dt
import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from loadgen.engine.accuracy import AccuracyRecord, run_accuracy
from loadgen.engine.clock import Clock
from loadgen.engine.context import Observer, RunContext
from loadgen.engine.loops import Engine, RunRecord
from loadgen.engine.pilot import fill_by_pilot, warm_up
from loadgen.engine.query import QuerySampleLibrary, SystemUnderTest
from loadgen.engine.schedule import build_schedule, schedule_problems, select_loaded_samples
from loadgen.engine.trace import Trace
from loadgen.errors import RunAborted, SettingsError, SutError
from loadgen.machine.fingerprint import collect_fingerprint, load_average
from loadgen.machine.memory import peak_rss
from loadgen.machine.noise import noise_warnings, sample_noise
from loadgen.metrics.accuracy import accuracy_problems, score
from loadgen.metrics.figures import compute_metrics
from loadgen.metrics.result import RunResult
from loadgen.metrics.verdict import judge
from loadgen.settings.effective import EffectiveSettings
from loadgen.settings.model import TRACE_SAMPLE_LIMIT, Mode, Scenario, TestSettings

__all__ = ["Benchmark", "Observer", "performance_sample_count", "run_benchmark", "timed_run_policy"]

SWITCH_INTERVAL_S = 0.0002
"""The interpreter's thread switch interval during the timed run (Python's default is 5 ms): a
SUT thread holding the GIL delays the issuing thread by up to this much (docs/latency.md)."""

GC_THRESHOLDS = (700, 10, 1000)
"""The collector's thresholds during the timed run: young collections as Python's default (700,
10), so cycles a SUT makes per query are collected as it runs; full collections, each a scan
of every live object, every ~7 M allocations instead of every ~70 k."""


@dataclass
class Benchmark:
    """A finished run: its result and the issued rows of its trace."""

    result: RunResult
    trace: Trace
    error: RunAborted | None
    accuracy: AccuracyRecord | None = None


def tool_version() -> str:
    try:
        return f"tinyperf-loadgen {metadata.version('tinyperf-loadgen')}"
    except metadata.PackageNotFoundError:
        return "tinyperf-loadgen (not installed)"


def performance_sample_count(settings: TestSettings, qsl: QuerySampleLibrary) -> int:
    """The loaded set's size; impossible combinations are settings errors, before anything runs."""
    total = qsl.total_sample_count
    count = settings.performance_sample_count_override or min(qsl.performance_sample_count, total)
    problems = []
    if total < 1:
        problems.append(f"the QSL {qsl.name!r} has no samples (total_sample_count = {total})")
    if total > TRACE_SAMPLE_LIMIT:
        problems.append(
            f"the QSL {qsl.name!r} has {total:,} samples (total_sample_count); allowed: 1 to {TRACE_SAMPLE_LIMIT:,}"
        )
    if count > total:
        problems.append(
            f"performance_sample_count_override = {count} exceeds the QSL's {total} samples; allowed: 1 to {total}"
        )
    per_query = settings.multi_stream_samples_per_query
    if settings.scenario is Scenario.MultiStream and per_query > count:
        problems.append(
            f"multi_stream_samples_per_query = {per_query} exceeds the {count} loaded samples; allowed: 1 to {count}"
        )
    if problems:
        raise SettingsError(problems)
    return count


@contextmanager
def timed_run_policy() -> Iterator[dict[str, Any]]:
    """The interpreter as the timed run needs it (and the warm-up and pilot, which measure the SUT
    for it), restored after, whatever happens (errors, Ctrl-C).

    Garbage collection: every object the setup made (modules, settings, schedule) is frozen
    out of the collector's scans (`gc.freeze`), and full collections run a hundred times more
    rarely (GC_THRESHOLDS), so a million live responses or QuerySample objects no longer set
    off a string of full collections, each scanning the whole heap. The collector stays ON and
    young collections keep Python's pace: a SUT that makes reference cycles on every query has
    them collected as it runs. Threads: the switch interval is SWITCH_INTERVAL_S, so a SUT's
    own Python thread (an asyncio loop, a worker pool) hands the GIL back to the issuing thread
    within that, not within Python's 5 ms. Yields what was set, for result.json's `run_policy`."""
    interval, thresholds, frozen_before = sys.getswitchinterval(), gc.get_threshold(), gc.get_freeze_count()
    gc.freeze()
    policy: dict[str, Any] = {
        "switch_interval_s": SWITCH_INTERVAL_S,
        "gc_enabled": gc.isenabled(),
        "gc_thresholds": list(GC_THRESHOLDS),
        "gc_frozen_objects": gc.get_freeze_count(),
    }
    gc.set_threshold(*policy["gc_thresholds"])
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        yield policy
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
        if not frozen_before:  # a harness that froze its own objects keeps them frozen
            gc.unfreeze()


def _qsl_call(action: Callable[[np.ndarray], None], name: str, indices: np.ndarray) -> None:
    try:
        action(indices)
    except Exception as exc:
        raise SutError(f"the QSL raised {type(exc).__name__} in {name}: {exc}") from exc


def _empty_record(stop_reason: str) -> RunRecord:
    return RunRecord(trace=Trace.allocate(np.zeros(1, dtype=np.int64), np.zeros(0)), stop_reason=stop_reason)


def _performance(
    sut: SystemUnderTest,
    qsl: QuerySampleLibrary,
    requested: EffectiveSettings,
    loaded: np.ndarray,
    context: RunContext,
) -> tuple[EffectiveSettings, dict[str, str], int, RunRecord]:
    """Load, warm up, pilot and run timed; returns effective settings, pilot notes, warm-up count."""
    effective, chosen = requested, dict[str, str]()
    warmup_queries = 0
    record = _empty_record("not started")
    try:
        _qsl_call(qsl.load_samples, "load_samples", loaded)
        try:
            with timed_run_policy() as policy:  # the pilot measures the SUT as the timed run will run it
                warmup_queries = warm_up(sut, loaded, requested, context)  # before the pilot: it measures a warm SUT
                effective, chosen = fill_by_pilot(sut, loaded, requested, context)
                record = Engine(sut, build_schedule(effective, loaded), effective, context).run()
            record.run_policy = policy
        finally:
            _qsl_call(qsl.unload_samples, "unload_samples", loaded)
    except RunAborted as exc:
        record.error, record.stop_reason = exc, f"aborted before timing: {exc}"
    except KeyboardInterrupt:
        stopped = context.interruption("before timing started")
        record.error, record.stop_reason = stopped, f"aborted: {stopped}"
    return effective, chosen, warmup_queries, record


def _accuracy(
    sut: SystemUnderTest, qsl: QuerySampleLibrary, requested: EffectiveSettings, loaded_count: int, context: RunContext
) -> AccuracyRecord:
    try:
        return run_accuracy(sut, qsl, requested, loaded_count, context, _qsl_call)
    except KeyboardInterrupt:
        error = context.interruption("during the accuracy run")
        return AccuracyRecord(sample_index=np.zeros(0, dtype=np.int32), completed=0, responses={}, error=error)


def _phases(
    sut: SystemUnderTest, qsl: QuerySampleLibrary, requested: EffectiveSettings, loaded_count: int, context: RunContext
) -> tuple[EffectiveSettings, dict[str, str], int, RunRecord, AccuracyRecord | None]:
    """The run's phases in the mode's order; then, at the very end, any breach recorded in any
    phase up to now (a duplicate completion or a SUT thread's exception after the final wait)
    makes the run aborted with that reason."""
    mode, effective, chosen, warmup_queries = requested.mode, requested, dict[str, str](), 0
    accuracy = None
    record = _empty_record("not run")
    if mode in (Mode.AccuracyOnly, Mode.SubmissionRun):
        accuracy = _accuracy(sut, qsl, requested, loaded_count, context)
        record.error = accuracy.error
        record.stop_reason = "accuracy run " + ("aborted" if accuracy.error else "complete")
    if mode is not Mode.AccuracyOnly and record.error is None:
        loaded = select_loaded_samples(qsl.total_sample_count, loaded_count, requested.settings.qsl_rng_seed)
        effective, chosen, warmup_queries, record = _performance(sut, qsl, requested, loaded, context)
    try:
        breach = context.close()
    except KeyboardInterrupt:
        breach = context.interruption("at the end of the run")
    if record.error is None and breach is not None:
        record.error, record.stop_reason = breach, f"aborted at the end: {breach}"
    return effective, chosen, warmup_queries, record, accuracy


def run_benchmark(
    sut: SystemUnderTest,
    qsl: QuerySampleLibrary,
    settings: TestSettings,
    clock: Clock | Callable[[], int] | None = None,
    observer: Observer | None = None,
    fingerprint: dict[str, Any] | None = None,
    trace_folder: Path | None = None,
) -> Benchmark:
    """Run one benchmark in the settings' mode; the result says VALID or INVALID and why.

    `trace_folder`: the timed run's trace columns live there as files from the start, so a
    supervisor can rebuild the result if this process dies (loadgen.results.recovery).

    Bad settings (including a schedule that cannot run, with its numbers) raise SettingsError
    before anything runs; everything after that ends in a result."""
    requested = EffectiveSettings.derive(settings)
    loaded_count = performance_sample_count(settings, qsl)
    problems = schedule_problems(requested) if settings.mode is not Mode.AccuracyOnly else []
    if problems:
        raise SettingsError(problems)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    fingerprint = collect_fingerprint() if fingerprint is None else fingerprint
    observers = [observer] if observer else []
    context = RunContext(requested.sample_timeout_ns, Clock.of(clock), observers=observers, trace_folder=trace_folder)
    with peak_rss() as memory, sample_noise(clock=context.clock) as noise, context.active():
        effective, chosen, warmup_queries, record, accuracy = _phases(sut, qsl, requested, loaded_count, context)
    mode = settings.mode
    error_text = str(record.error) if record.error else None
    metrics = compute_metrics(record.trace, effective.settings) if mode is not Mode.AccuracyOnly else None
    found = accuracy_problems(accuracy) if accuracy else None
    validity = judge(metrics, effective, error_text, found, record.failed_samples)
    result = RunResult(
        tool=tool_version(),
        started_at=started_at,
        scenario=settings.scenario.value,
        mode=mode.value,
        sut_name=str(getattr(sut, "name", type(sut).__name__)),
        qsl_name=str(qsl.name),
        valid=validity.valid,
        invalid_reasons=validity.reasons,
        checks=validity.checks,
        stop_reason=record.stop_reason,
        error=error_text,
        failed_samples=record.failed_samples,
        metrics=metrics,
        accuracy=score(accuracy, qsl) if accuracy else None,
        model=model_facts(sut),
        memory=memory,
        run_policy=record.run_policy,
        settings_requested=settings.model_dump(mode="json"),
        settings_effective=effective.settings.model_dump(mode="json"),
        chosen_by_pilot=chosen,
        warmup_queries=warmup_queries,
        total_sample_count=qsl.total_sample_count,
        performance_sample_count=loaded_count,
        fingerprint=fingerprint,
        load_average_end=load_average(),
        warnings=record.notes + noise_warnings(fingerprint, noise),
    )
    if accuracy is None and record.logged_responses is not None:
        accuracy = AccuracyRecord(
            sample_index=record.trace.sample_index,
            completed=len(record.logged_responses),
            responses=record.logged_responses,
            error=None,
        )
    return Benchmark(result=result, trace=record.trace, error=record.error, accuracy=accuracy)


def model_facts(sut: SystemUnderTest) -> dict[str, Any] | None:
    """The SUT's own model facts (parameter count, size in MiB) when it offers `model_facts()`."""
    facts = getattr(sut, "model_facts", None)
    if not callable(facts):
        return None
    try:
        return dict(facts())
    except Exception as exc:
        return {"error": f"model_facts() raised {type(exc).__name__}: {exc}"}
