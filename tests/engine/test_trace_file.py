"""trace.npz round trips exactly in format 2, reads only what is asked, and format 1 files still read."""

from __future__ import annotations

import io
import zipfile
from dataclasses import fields
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.capstone.reading import read_npz, trace_from_arrays
from loadgen.engine import trace_file
from loadgen.engine.trace import NOT_YET, Trace

FIXTURE = Path(__file__).parents[1] / "fixtures" / "trace_format1.npz"
TIMES = st.one_of(
    st.just(NOT_YET),
    st.integers(0, 10**6),
    st.integers(-(2**62), 2**62),
    st.sampled_from([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0]),
)


@st.composite
def traces(draw: st.DrawFn) -> Trace:
    """Any trace the engine could hold: empty ones, NOT_YET anywhere, wild times and deltas, tokens or none."""
    sizes = draw(st.lists(st.integers(0, 4), max_size=12))
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    n_queries, n_samples = len(sizes), int(offsets[-1])

    def column(length: int, values: st.SearchStrategy[int], kind: type) -> np.ndarray:
        return np.array(draw(st.lists(values, min_size=length, max_size=length)), dtype=kind)

    int32 = st.integers(np.iinfo(np.int32).min, np.iinfo(np.int32).max)
    tokens = draw(st.booleans())
    return Trace(
        query_offsets=offsets,
        scheduled_ns=column(n_queries, TIMES, np.int64),
        issued_ns=column(n_queries, TIMES, np.int64),
        sample_index=column(n_samples, st.integers(0, np.iinfo(np.int32).max), np.int32),
        completed_ns=column(n_samples, TIMES, np.int64),
        response_size=column(n_samples, int32, np.int32),
        first_token_ns=column(n_samples if tokens else 0, TIMES, np.int64),
        token_count=column(n_samples if tokens else 0, int32, np.int32),
    )


def assert_same(got: Trace, want: Trace) -> None:
    for item in fields(Trace):
        a, b = getattr(got, item.name), getattr(want, item.name)
        assert a.dtype == b.dtype and a.tolist() == b.tolist(), item.name


@settings(max_examples=100, deadline=None)
@given(trace=traces(), chunk=st.sampled_from([3, 7, trace_file.CHUNK]))
def test_any_trace_reads_back_exactly(trace: Trace, chunk: int) -> None:
    """Through Trace.load and through the validator's bounded reader alike."""
    out = io.BytesIO()
    with mock.patch.object(trace_file, "CHUNK", chunk):  # small chunks: rows and queries cross chunk edges
        trace.save(out)
        assert_same(Trace.load(io.BytesIO(out.getvalue())), trace)
        assert_same(trace_from_arrays(read_npz(out.getvalue())), trace)


@settings(max_examples=40, deadline=None)
@given(trace=traces(), wanted=st.sets(st.sampled_from(list(trace_file.COLUMN_DTYPES)), max_size=3))
def test_only_the_asked_columns_are_read_and_the_rest_are_zero_views(trace: Trace, wanted: set[str]) -> None:
    out = io.BytesIO()
    trace.save(out)
    out.seek(0)
    got = Trace.load(out, columns=wanted)
    read = set(trace_file.needed_columns(wanted))
    for item in fields(Trace):
        column = getattr(got, item.name)
        if item.name in read:
            assert column.tolist() == getattr(trace, item.name).tolist()
        else:
            assert not column.flags.writeable and not column.any()
            assert len(column) == (len(getattr(trace, item.name)) if item.name not in trace_file.TOKEN_COLUMNS
                                   else 0)


def server_like(n: int, seed: int = 3) -> Trace:
    """A Server run's shape: Poisson arrivals, short issue delays, latencies of a few microseconds."""
    rng = np.random.default_rng(seed)
    scheduled = np.cumsum(rng.exponential(100_000, n)).astype(np.int64)
    issued = scheduled + rng.exponential(5_000, n).astype(np.int64)
    return Trace(
        query_offsets=np.arange(n + 1, dtype=np.int64), scheduled_ns=scheduled, issued_ns=issued,
        sample_index=rng.integers(0, 1024, n).astype(np.int32),
        completed_ns=issued + rng.lognormal(8, 1, n).astype(np.int64), response_size=np.full(n, 8, dtype=np.int32),
    )


def test_a_server_trace_is_smaller_than_in_format_1_and_times_go_narrow() -> None:
    trace = server_like(20_000)
    new, old = io.BytesIO(), io.BytesIO()
    trace.save(new)
    np.savez_compressed(old, format_version=np.int64(1), **{f.name: getattr(trace, f.name) for f in fields(Trace)})
    assert len(new.getvalue()) < 0.8 * len(old.getvalue())
    with np.load(io.BytesIO(new.getvalue()), allow_pickle=False) as data:  # still a plain .npz
        rows, width, _, _, relative = data["completed_ns.meta"].tolist()
        assert (rows, relative) == (20_000, 1) and width <= 4  # against the issue time: latencies, 4 bytes at most
        assert data["scheduled_ns.meta"].tolist()[2] == 1  # arrival times as differences
        assert all(data[name].dtype == np.uint8 for name in data.files if name[-1].isdigit())


def test_a_trace_written_by_format_1_still_reads() -> None:
    """The fixture was written by Trace.save of main at 1ea16bc (format 1), from server_like(300)."""
    assert_same(Trace.load(FIXTURE), server_like(300))
    got = Trace.load(FIXTURE, columns=["completed_ns"])
    assert got.completed_ns.tolist() == server_like(300).completed_ns.tolist() and not got.sample_index.any()


def test_a_format_1_trace_without_token_columns_reads_with_none(tmp_path: Path) -> None:
    trace = server_like(50)
    columns = {f.name: getattr(trace, f.name) for f in fields(Trace) if f.name not in trace_file.TOKEN_COLUMNS}
    np.savez_compressed(tmp_path / "t.npz", format_version=np.int64(1), **columns)
    assert_same(Trace.load(tmp_path / "t.npz"), trace)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"format_version": np.int64(3)}, "trace format version 3"),
        ({"completed_ns.meta": np.array([5, 3, 0, 0, 1])}, "width 3"),
        ({"completed_ns.1": None}, "lacks completed_ns.1"),
        ({"scheduled_ns.meta": None}, "lacks the column scheduled_ns"),
    ],
)
def test_a_damaged_trace_is_a_value_error_naming_the_member(tmp_path: Path, members: dict, message: str) -> None:
    out = io.BytesIO()
    server_like(5).save(out)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as original, zipfile.ZipFile(tmp_path / "t.npz", "w") as bad:
        for info in original.infolist():
            key = info.filename.removesuffix(".npy")
            if key in members and members[key] is None:
                continue
            if key in members:
                member = io.BytesIO()
                np.lib.format.write_array(member, np.asarray(members[key]))
                bad.writestr(info.filename, member.getvalue())
            else:
                bad.writestr(info, original.read(info))
    with pytest.raises(ValueError, match=message):
        Trace.load(tmp_path / "t.npz")


def test_unknown_columns_are_refused() -> None:
    out = io.BytesIO()
    server_like(5).save(out)
    out.seek(0)
    with pytest.raises(ValueError, match="unknown trace columns"):
        Trace.load(out, columns=["latency_ns"])
