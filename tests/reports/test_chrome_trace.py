"""trace.json: valid JSON, one event per issued sample, lanes that never overlap."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np

from loadgen.engine.trace import NOT_YET, Trace
from reports.chrome_trace import CHUNK_ROWS, render_chrome_trace


def make_trace(
    query: list[int], scheduled: list[int], issued: list[int], completed: list[int], size: int = 16
) -> Trace:
    n = len(query)
    return Trace.from_sample_rows(
        query=np.array(query, dtype=np.int32),
        sample_index=np.arange(100, 100 + n, dtype=np.int32),
        scheduled_ns=np.array(scheduled, dtype=np.int64),
        issued_ns=np.array(issued, dtype=np.int64),
        completed_ns=np.array(completed, dtype=np.int64),
        response_size=np.full(n, size, dtype=np.int64),
    )


def render(trace: Trace, sut_name: str = "SUT") -> dict[str, Any]:
    return json.loads("".join(render_chrome_trace(trace, sut_name)))


def samples(document: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    return [event for event in document["traceEvents"] if event["ph"] == phase]


def test_complete_and_instant_events() -> None:
    # Query 0 and 1 overlap; query 2 starts after both ended; row 3 never completed; row 4 never issued.
    trace = make_trace(
        query=[0, 1, 2, 3, 4],
        scheduled=[1_000, 2_000, 9_000, 9_500, 10_000],
        issued=[1_500, 2_250, 9_001, 9_600, NOT_YET],
        completed=[5_000, 8_123, 12_000, NOT_YET, NOT_YET],
    )
    document = render(trace)
    assert document["displayTimeUnit"] == "ms"
    complete = samples(document, "X")
    assert [(e["ts"], e["dur"]) for e in complete] == [(1.5, 3.5), (2.25, 5.873), (9.001, 2.999)]
    assert [e["tid"] for e in complete] == [1, 2, 1]  # lanes; pid and tid 0 are the kernel's swapper in Perfetto
    assert complete[1] == {
        "name": "sample",
        "ph": "X",
        "pid": 1,
        "tid": 2,
        "ts": 2.25,
        "dur": 5.873,
        "args": {"id": 2, "query": 1, "index": 101, "scheduled_us": 2.0, "response_size": 16},
    }
    (instant,) = samples(document, "i")
    assert instant["ts"] == 9.6
    assert instant["args"] == {"id": 4, "query": 3, "index": 103, "scheduled_us": 9.5, "incomplete": True}


def test_sut_name_is_escaped() -> None:
    name = 'my "fast" SUT \\ v2\n\u00e9'
    (process,) = samples(render(make_trace([], [], [], []), name), "M")
    assert process == {"name": "process_name", "ph": "M", "pid": 1, "args": {"name": name}}


def test_empty_trace_is_valid_json() -> None:
    document = render(make_trace([], [], [], []))
    assert [event["ph"] for event in document["traceEvents"]] == ["M"]


def test_samples_of_one_query_share_a_lane() -> None:
    trace = make_trace(
        query=[0, 0, 0, 1, 1, 1],
        scheduled=[0, 0, 0, 100, 100, 100],
        issued=[0, 0, 0, 100, 100, 100],
        completed=[30, 60, 90, 130, 160, 190],
    )
    assert {e["tid"] for e in samples(render(trace), "X")} == {1}


def test_lanes_never_overlap_and_chunks_join() -> None:
    rng = np.random.default_rng(7)
    n = 2 * CHUNK_ROWS + 123
    issued = np.cumsum(rng.integers(0, 2_000, n))
    completed = issued + rng.integers(1, 50_000, n)
    trace = make_trace(list(range(n)), issued.tolist(), issued.tolist(), completed.tolist())
    chunks = list(render_chrome_trace(trace, "SUT"))
    assert len(chunks) == 5  # header, three chunks of samples, footer
    events = samples(json.loads("".join(chunks)), "X")
    assert [e["args"]["id"] for e in events] == list(range(1, n + 1))
    by_lane: dict[int, list[tuple[float, float]]] = {}
    for event in events:
        by_lane.setdefault(event["tid"], []).append((event["ts"], event["ts"] + event["dur"]))
    assert len(by_lane) > 1
    for spans in by_lane.values():
        spans.sort()
        assert all(end <= next_start + 1e-6 for (_, end), (next_start, _) in itertools.pairwise(spans))


def test_export_stops_at_the_limit_and_says_so() -> None:
    n = 10
    trace = make_trace(query=list(range(n)), scheduled=[0] * n, issued=[0] * n, completed=[1_000] * n)
    document = json.loads("".join(render_chrome_trace(trace, "SUT", max_samples=4)))
    assert len(samples(document, "X")) == 4
    assert document["otherData"] == {"samples_issued": 10, "samples_exported": 4}
