"""trace.json: the per-sample trace as Chrome trace events, for Perfetto or chrome://tracing.

LoadGen's own mlperf_log_trace.json is not valid JSON (a trailing entry, unescaped
names); this one is, so `json.load` and every viewer read it. A run can hold millions of
samples, so the document is yielded in chunks formatted from numpy columns, never held
as one list of dicts or one string.

Lanes (the `tid` of each event): a viewer stacks complete events on one thread only
when they nest, and garbles or drops ones that overlap without nesting; a fixed
`query % lanes` would still overlap once more queries are in flight than there are
lanes. So each query, in issue order, takes a lane whose previous query had ended by
then, or opens a new one (greedy interval partitioning): queries in one lane never
overlap, and the number of lanes is the run's peak number of outstanding queries (one
for SingleStream and MultiStream, as many as were in flight for Server). The samples of
one query share its lane; they are issued together, so they nest.

Ids: the process is pid 1 and lane n is tid n + 1. Perfetto's maintainers advise
against pid 0 in synthesised traces (google/perfetto#394): it is the kernel's swapper,
which trace processor handles specially, and renames its threads (#560).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator

import numpy as np

from loadgen.engine.trace import NOT_YET, Trace

CHUNK_ROWS = 10_000
"""Samples formatted per yielded chunk."""
PID = 1
"""The one process, named after the SUT."""

_COMPLETE = (
    '{"name":"sample","ph":"X","pid":' + str(PID) + ',"tid":%d,"ts":%.3f,"dur":%.3f,'
    '"args":{"id":%d,"query":%d,"index":%d,"scheduled_us":%.3f,"response_size":%d}}'
)
_INCOMPLETE = (
    '{"name":"sample","ph":"i","s":"t","pid":' + str(PID) + ',"tid":%d,"ts":%.3f,'
    '"args":{"id":%d,"query":%d,"index":%d,"scheduled_us":%.3f,"incomplete":true}}'
)


EXPORT_LIMIT = 1_000_000
"""Samples exported by default: about 160 MB of JSON; viewers struggle with more."""


def render_chrome_trace(trace: Trace, sut_name: str, max_samples: int | None = EXPORT_LIMIT) -> Iterator[str]:
    """Chunks of one JSON document: a complete event per completed sample, an instant
    event at issue for each sample that never completed, and the SUT as process name.
    Past `max_samples` issued samples the export stops, and `otherData` says so (trace.npz
    always keeps every sample)."""
    process = {"name": "process_name", "ph": "M", "pid": PID, "args": {"name": sut_name}}
    yield '{"traceEvents":[\n' + json.dumps(process, separators=(",", ":"))
    query = trace.sample_query()
    issued = trace.per_sample(trace.issued_ns)
    rows = np.flatnonzero(issued != NOT_YET)
    issued_samples = int(rows.size)
    rows = rows[:max_samples]
    lanes = _sample_lanes(trace, query, issued, rows)
    for lo in range(0, rows.size, CHUNK_ROWS):
        part = rows[lo : lo + CHUNK_ROWS]
        yield _format_chunk(trace, part, query[part], issued[part], lanes[lo : lo + CHUNK_ROWS])
    other = {"samples_issued": issued_samples, "samples_exported": int(rows.size)}
    yield '\n],"displayTimeUnit":"ms","otherData":' + json.dumps(other) + "}\n"


def _sample_lanes(trace: Trace, query: np.ndarray, issued: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The lane of each issued row: its query's lane, from greedy interval partitioning."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    query = query[rows]
    starts_at = np.flatnonzero(np.r_[True, query[1:] != query[:-1]])
    issued = issued[rows]
    begin = np.minimum.reduceat(issued, starts_at)
    end = np.maximum.reduceat(np.maximum(issued, trace.completed_ns[rows]), starts_at)
    query_lanes = _partition(begin, end)
    return np.repeat(query_lanes, np.diff(np.r_[starts_at, rows.size]))


def _partition(begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Lane per interval such that intervals in one lane never overlap (touching is fine)."""
    order = np.argsort(begin, kind="stable")
    lanes = np.empty(begin.size, dtype=np.int64)
    free_at: list[tuple[int, int]] = []  # (end of the lane's last interval, lane), a min-heap
    for index, start, stop in zip(order.tolist(), begin[order].tolist(), end[order].tolist(), strict=False):
        if free_at and free_at[0][0] <= start:
            lane = free_at[0][1]
            heapq.heapreplace(free_at, (stop, lane))
        else:
            lane = len(free_at)
            heapq.heappush(free_at, (stop, lane))
        lanes[index] = lane
    return lanes


def _format_chunk(
    trace: Trace, rows: np.ndarray, query: np.ndarray, issued: np.ndarray, lanes: np.ndarray
) -> str:
    """Events of some issued rows, led by the comma that joins them to the previous event."""
    completed = trace.completed_ns[rows]
    done = completed != NOT_YET
    ts_us = issued / 1000.0
    ids = rows + 1
    index = trace.sample_index[rows]
    scheduled_us = trace.scheduled_ns[query] / 1000.0
    dur_us = (completed - issued) / 1000.0
    size = trace.response_size[rows]
    tid = lanes + 1
    complete = (tid, ts_us, dur_us, ids, query, index, scheduled_us, size)
    incomplete = (tid, ts_us, ids, query, index, scheduled_us)
    events = [_COMPLETE % values for values in zip(*(column[done].tolist() for column in complete), strict=False)]
    events += [_INCOMPLETE % values for values in zip(*(column[~done].tolist() for column in incomplete), strict=False)]
    return ",\n" + ",\n".join(events)
