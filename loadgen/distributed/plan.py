"""Splitting one schedule across workers, and merging their trace parts back into one trace.

Both are pure functions over Schedule and Trace objects, so the merged trace of N workers
holds the very schedule one process would have run: Server queries are dealt round-robin
(query q goes to worker q mod N, keeping its scheduled time), Offline's one query is cut
into N contiguous slices of its samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from loadgen.engine.schedule import Schedule
from loadgen.engine.trace import NOT_YET, Trace
from loadgen.errors import SettingsError
from loadgen.settings.model import Scenario

DISTRIBUTED_SCENARIOS = (Scenario.Server, Scenario.Offline)
"""SingleStream and MultiStream keep one query outstanding: one stream, one issuer, by definition."""


@dataclass(frozen=True)
class Part:
    """One worker's share: its own schedule (queries numbered from 0) and where each of its
    queries and sample rows sits in the whole schedule."""

    worker: int
    schedule: Schedule
    queries: np.ndarray
    rows: np.ndarray


@dataclass(frozen=True)
class PartTrace:
    """What a worker recorded: the issued part of its trace, with times from its own start,
    and `shift_ns`, how far that start lay after the common start instant."""

    part: Part
    trace: Trace
    shift_ns: int


def query_rows(offsets: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The sample rows of the given queries, in their order."""
    starts, ends = offsets[queries], offsets[queries + 1]
    sizes = ends - starts
    if not sizes.size:
        return np.zeros(0, dtype=np.int64)
    first = np.repeat(starts - np.r_[0, np.cumsum(sizes)[:-1]], sizes)
    return (first + np.arange(int(sizes.sum()))).astype(np.int64)


def split_schedule(schedule: Schedule, workers: int) -> list[Part]:
    """Deal the schedule to `workers` parts: Server round-robin by query, Offline in contiguous slices."""
    if schedule.scenario not in DISTRIBUTED_SCENARIOS:
        raise SettingsError(
            [
                f"--workers: the {schedule.scenario.value} scenario keeps one query outstanding, a single "
                "stream by definition, so it cannot be split across workers; allowed: Server, Offline"
            ]
        )
    units = schedule.n_queries if schedule.scenario is Scenario.Server else schedule.n_samples
    if not 1 <= workers <= units:
        what = "queries" if schedule.scenario is Scenario.Server else "samples"
        raise SettingsError([f"--workers {workers}: allowed: 1 to {units} (the schedule holds {units} {what})"])
    if schedule.scenario is Scenario.Server:
        return [_server_part(schedule, worker, workers) for worker in range(workers)]
    bounds = schedule.n_samples * np.arange(workers + 1, dtype=np.int64) // workers
    return [_offline_part(schedule, worker, int(bounds[worker]), int(bounds[worker + 1])) for worker in range(workers)]


def _server_part(schedule: Schedule, worker: int, workers: int) -> Part:
    assert schedule.scheduled_ns is not None
    queries = np.arange(worker, schedule.n_queries, workers, dtype=np.int64)
    rows = query_rows(schedule.query_offsets, queries)
    sizes = np.diff(schedule.query_offsets)[queries]
    own = Schedule(
        scenario=schedule.scenario,
        loaded_indices=schedule.loaded_indices,
        query_offsets=np.r_[0, np.cumsum(sizes)].astype(np.int64),
        sample_index=schedule.sample_index[rows],
        scheduled_ns=schedule.scheduled_ns[queries],
    )
    return Part(worker=worker, schedule=own, queries=queries, rows=rows)


def _offline_part(schedule: Schedule, worker: int, lo: int, hi: int) -> Part:
    own = Schedule(
        scenario=schedule.scenario,
        loaded_indices=schedule.loaded_indices,
        query_offsets=np.array([0, hi - lo], dtype=np.int64),
        sample_index=schedule.sample_index[lo:hi],
        scheduled_ns=None,
    )
    return Part(worker=worker, schedule=own, queries=np.zeros(1, dtype=np.int64), rows=np.arange(lo, hi))


def _shifted(times: np.ndarray, shift_ns: int) -> np.ndarray:
    """Times from a worker's start, made times from the common start; NOT_YET stays NOT_YET."""
    return np.where(times != NOT_YET, times + shift_ns, NOT_YET)


def merge_parts(schedule: Schedule, parts: Sequence[PartTrace]) -> Trace:
    """One trace of the whole run from the workers' parts, every time from the common start.

    Queries no worker issued (a worker that died, a run stopped early) are left out, so the
    result holds exactly the issued queries, in schedule order, as one process would record."""
    tokens = any(p.trace.has_tokens for p in parts)
    merged = Trace.allocate(schedule.query_offsets, schedule.sample_index, tokens)
    if schedule.scheduled_ns is not None:
        merged.scheduled_ns[:] = schedule.scheduled_ns
    for p in parts:
        trace, shift = p.trace, p.shift_ns
        rows = p.part.rows[: len(trace)]
        merged.completed_ns[rows] = _shifted(trace.completed_ns, shift)
        merged.response_size[rows] = trace.response_size
        if trace.has_tokens:
            merged.first_token_ns[rows] = _shifted(trace.first_token_ns, shift)
            merged.token_count[rows] = trace.token_count
        if schedule.scenario is Scenario.Server:
            merged.issued_ns[p.part.queries[: trace.n_queries]] = _shifted(trace.issued_ns, shift)
    if schedule.scenario is Scenario.Offline:
        _merge_offline_issue(merged, parts)
    return issued_queries(merged)


def _merge_offline_issue(merged: Trace, parts: Sequence[PartTrace]) -> None:
    """Offline's one query counts as issued when the first worker issued its slice."""
    issued = [int(p.trace.issued_ns[0]) + p.shift_ns for p in parts if p.trace.n_queries and p.trace.issued_ns[0] >= 0]
    if issued:
        merged.issued_ns[0] = merged.scheduled_ns[0] = min(issued)


def issued_queries(trace: Trace) -> Trace:
    """The trace of the issued queries only, wherever they sit (unlike Trace.issued_part, a prefix)."""
    keep = np.flatnonzero(trace.issued_ns != NOT_YET)
    if keep.size == trace.n_queries:
        return trace
    rows = query_rows(trace.query_offsets, keep)
    sizes = np.diff(trace.query_offsets)[keep]
    return Trace(
        query_offsets=np.r_[0, np.cumsum(sizes)].astype(np.int64),
        scheduled_ns=trace.scheduled_ns[keep],
        issued_ns=trace.issued_ns[keep],
        sample_index=trace.sample_index[rows],
        completed_ns=trace.completed_ns[rows],
        response_size=trace.response_size[rows],
        first_token_ns=trace.first_token_ns[rows] if trace.has_tokens else trace.first_token_ns,
        token_count=trace.token_count[rows] if trace.has_tokens else trace.token_count,
    )
