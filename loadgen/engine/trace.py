"""The record of a run in preallocated numpy columns, saved losslessly as trace.npz.

Two tables, because LoadGen issues and schedules whole queries but completes samples:
per query, its scheduled and issued times (and, through `query_offsets`, its samples);
per sample, its index, completion time and response size. Every sample row is thus
(query, sample index, scheduled, issued, completed, response size) at 16 bytes plus
24 per query. A sample's id is its row + 1 (ids are never 0, as in LoadGen), so issue
and completion index the columns directly and allocate nothing per sample. Times are
nanoseconds from the start of timing; NOT_YET marks a time that has not happened.

Allocated into a folder, every column is a `.npy` file mapped into memory (MAP_SHARED):
the hot path writes plain ndarrays as before, and each write is in the kernel's page
cache at once, so a recorded completion survives a SIGKILL, a segfault or the OOM killer
(not a power cut: nothing is fsynced until the run ends). The files' blocks are reserved
up front, so a full disk is refused before timing instead of faulting during it.
"""

from __future__ import annotations

import errno
import mmap
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from loadgen.engine.trace_file import (
    COLUMN_DTYPES,
    FORMAT_VERSION,
    PER_QUERY,
    PER_SAMPLE,
    TOKEN_COLUMNS,
    read_trace_columns,
    write_trace,
)
from loadgen.errors import SettingsError

NOT_YET = -1
TRACE_FORMAT_VERSION = FORMAT_VERSION
UNBOUNDED = 1 << 62
"""No size limit on a trace this process wrote (the validator bounds submissions' traces)."""
MUTABLE_COLUMNS = ("issued_ns", "completed_ns", "response_size", "first_token_ns", "token_count")
"""Columns the run writes while SUT threads may still complete samples; the rest are the schedule's."""


def trace_bytes(n_queries: int, n_samples: int, token_latencies: bool = False) -> int:
    """Bytes of a trace's columns: 24 per query (offsets, scheduled, issued), 16 (28 with tokens) per sample."""
    return 24 * (n_queries + 1) + (28 if token_latencies else 16) * n_samples


def _mapped_column(folder: Path, name: str, length: int, dtype: type, fill: np.ndarray | int) -> np.ndarray:
    """A `.npy` file in `folder` mapped shared into memory, its blocks reserved, filled with `fill`."""
    kind = np.dtype(dtype)
    path = folder / f"{name}.npy"
    with path.open("w+b") as handle:
        npy_format.write_array_header_1_0(
            handle, {"descr": npy_format.dtype_to_descr(kind), "fortran_order": False, "shape": (length,)}
        )
        offset = handle.tell()
        size = offset + length * kind.itemsize
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # no reservation there: write as we go
                raise
        handle.truncate(size)
        mapping = mmap.mmap(handle.fileno(), size)
    column = np.ndarray((length,), dtype=kind, buffer=mapping, offset=offset)
    column[:] = fill
    return column


def _reserve_columns(folder: Path, columns: dict[str, tuple[int, type, np.ndarray | int]]) -> dict[str, np.ndarray]:
    """Every column in the folder, or a SettingsError naming the room needed (before timing starts)."""
    needed = sum(npy_format.ARRAY_ALIGN * 2 + length * np.dtype(kind).itemsize for length, kind, _ in columns.values())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        mapped = {name: _mapped_column(folder, name, *spec) for name, spec in columns.items()}
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise SettingsError(
            [f"{folder}: cannot hold the trace's {needed / 2**20:.1f} MiB of columns: {exc.strerror or exc}"]
        ) from exc
    if free < needed:  # trace.npz is written beside the columns at the end
        raise SettingsError(
            [f"{folder}: {free / 2**20:.1f} MiB free after reserving the trace; writing trace.npz needs up to "
             f"{needed / 2**20:.1f} MiB more: free space or choose another --output"]
        )
    return mapped


@dataclass
class Trace:
    """Query table (offsets, scheduled, issued) and sample table (index, completed, size)."""

    query_offsets: np.ndarray
    scheduled_ns: np.ndarray
    issued_ns: np.ndarray
    sample_index: np.ndarray
    completed_ns: np.ndarray
    response_size: np.ndarray
    first_token_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    token_count: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    @classmethod
    def allocate(
        cls,
        query_offsets: np.ndarray,
        sample_index: np.ndarray,
        token_latencies: bool = False,
        folder: Path | None = None,
    ) -> Trace:
        """Rows for every scheduled query and sample; times and sizes are filled in during the run.

        Token columns (first token time, output tokens) exist only when token latencies are
        measured; otherwise they are empty and cost nothing. With a folder, the columns are
        files there (see the module docstring), read back by `from_folder`."""
        n_queries = len(query_offsets) - 1
        n_samples = int(query_offsets[-1])
        n_token_rows = n_samples if token_latencies else 0
        columns: dict[str, tuple[int, type, np.ndarray | int]] = {
            "query_offsets": (n_queries + 1, np.int64, np.asarray(query_offsets)),
            "scheduled_ns": (n_queries, np.int64, NOT_YET),
            "issued_ns": (n_queries, np.int64, NOT_YET),
            "sample_index": (n_samples, np.int32, np.asarray(sample_index)),
            "completed_ns": (n_samples, np.int64, NOT_YET),
            "response_size": (n_samples, np.int32, 0),
            "first_token_ns": (n_token_rows, np.int64, NOT_YET),
            "token_count": (n_token_rows, np.int32, 0),
        }
        if folder is not None:
            return cls(**_reserve_columns(folder, columns))
        return cls(**{
            name: np.asarray(fill, dtype=kind) if isinstance(fill, np.ndarray) else np.full(length, fill, dtype=kind)
            for name, (length, kind, fill) in columns.items()
        })

    @classmethod
    def from_folder(cls, folder: Path) -> Trace:
        """The columns `allocate` mapped into a folder, as they were when its run stopped (copies)."""
        names = [item.name for item in fields(cls)]
        try:
            columns = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in names}
        except (OSError, ValueError) as exc:
            raise ValueError(f"{folder}: the live trace's columns cannot be read: {exc}") from exc
        trace = cls(**columns)
        n_queries, n_samples = len(trace.query_offsets) - 1, len(trace.completed_ns)
        lengths = {"scheduled_ns": n_queries, "issued_ns": n_queries, "sample_index": n_samples,
                   "response_size": n_samples}
        bad = [name for name, length in lengths.items() if len(columns[name]) != length]
        if n_queries < 0 or bad or int(trace.query_offsets[-1]) != n_samples:
            raise ValueError(f"{folder}: the live trace's columns disagree in length ({', '.join(bad) or 'offsets'})")
        return trace

    @property
    def has_tokens(self) -> bool:
        """Whether this run measured token latencies."""
        return self.first_token_ns.size > 0

    @classmethod
    def from_sample_rows(
        cls,
        query: np.ndarray,
        sample_index: np.ndarray,
        scheduled_ns: np.ndarray,
        issued_ns: np.ndarray,
        completed_ns: np.ndarray,
        response_size: np.ndarray,
    ) -> Trace:
        """Build a trace from one row per sample (as other tools log it); queries numbered 0, 1, ..."""
        query = np.asarray(query, dtype=np.int64)
        steps = np.diff(query)
        if query.size and (query[0] != 0 or np.any((steps != 0) & (steps != 1))):
            raise ValueError("sample rows must be grouped by query, numbered 0, 1, 2, ... in order")
        starts = np.flatnonzero(np.r_[True, steps != 0]) if query.size else np.zeros(0, dtype=np.int64)
        return cls(
            query_offsets=np.r_[starts, query.size].astype(np.int64),
            scheduled_ns=np.asarray(scheduled_ns, dtype=np.int64)[starts],
            issued_ns=np.asarray(issued_ns, dtype=np.int64)[starts],
            sample_index=np.asarray(sample_index, dtype=np.int32),
            completed_ns=np.asarray(completed_ns, dtype=np.int64),
            response_size=np.asarray(response_size, dtype=np.int32),
        )

    def __len__(self) -> int:
        return len(self.completed_ns)

    @property
    def n_queries(self) -> int:
        return len(self.query_offsets) - 1

    def per_sample(self, per_query: np.ndarray) -> np.ndarray:
        """Spread a per-query column over that query's samples."""
        return np.repeat(per_query, np.diff(self.query_offsets))

    def sample_query(self) -> np.ndarray:
        """The query number of every sample row."""
        return self.per_sample(np.arange(self.n_queries, dtype=np.int64))

    def issued_part(self) -> Trace:
        """The queries that were issued, and their samples (a run may stop early).

        The columns SUT threads may still write are copied, so that the figures and the
        saved trace.npz, both taken from this part, agree whatever completes afterwards."""
        n_queries = int(np.count_nonzero(self.issued_ns != NOT_YET))
        return self._first_queries(n_queries)

    def _first_queries(self, n_queries: int) -> Trace:
        n_samples = int(self.query_offsets[n_queries])
        cut = {
            "query_offsets": self.query_offsets[: n_queries + 1],
            "scheduled_ns": self.scheduled_ns[:n_queries],
            "issued_ns": self.issued_ns[:n_queries],
        }
        for name in ("sample_index", "completed_ns", "response_size", "first_token_ns", "token_count"):
            cut[name] = getattr(self, name)[:n_samples]
        return Trace(**{name: column.copy() if name in MUTABLE_COLUMNS else column for name, column in cut.items()})

    def recorded_part(self) -> Trace:
        """What a run recorded before it stopped, for recovery: the issued queries, plus a last
        query whose samples completed before its issue was stamped (the SUT completed inside
        issue_query and the process died there). Such a query is dated at the previous query's
        last completion, the earliest it could have been issued, so its latency errs long."""
        issued = self.issued_ns != NOT_YET
        done = self.completed_ns != NOT_YET
        last_row = int(np.flatnonzero(done)[-1]) if done.any() else -1
        last_done = int(np.searchsorted(self.query_offsets, last_row, side="right")) if last_row >= 0 else 0
        n_queries = max(int(np.count_nonzero(issued)), last_done)
        part = self._first_queries(n_queries)
        for query in np.flatnonzero(part.issued_ns == NOT_YET):
            earlier = part.completed_ns[: part.query_offsets[query]]
            start = int(earlier.max(initial=0))
            if part.scheduled_ns[query] == NOT_YET:
                part.scheduled_ns = part.scheduled_ns.copy()
                part.scheduled_ns[query] = start
            part.issued_ns[query] = max(start, int(part.scheduled_ns[query]))
        return part

    def save(self, target: Path | IO[bytes]) -> None:
        """Write every column losslessly (trace.npz, see loadgen.engine.trace_file) to a path or an open file."""
        write_trace(target, {item.name: getattr(self, item.name) for item in fields(self)})

    @classmethod
    def load(cls, path: Path | IO[bytes], columns: Iterable[str] | None = None) -> Trace:
        """Read a trace written by `save` (either format); refuses pickles, unknown versions, bad columns.

        With `columns`, only those (and the columns they are stored against) are read and
        decoded; every other column is a read-only zero view of the right length, costing nothing."""
        try:
            read, n_queries, n_samples = read_trace_columns(path, columns, UNBOUNDED)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        lengths = {"query_offsets": n_queries + 1, **dict.fromkeys(PER_QUERY, n_queries),
                   **dict.fromkeys(PER_SAMPLE, n_samples)}
        for name in TOKEN_COLUMNS:
            lengths[name] = n_samples if name in read and len(read[name]) else 0
        bad = [name for name, column in read.items() if len(column) != lengths[name]]
        if n_queries < 0 or n_samples < 0 or bad:
            raise ValueError(f"{path}: trace columns disagree in length ({', '.join(bad) or 'headers'})")
        return cls(**{
            name: read[name] if name in read else np.broadcast_to(np.zeros(1, dtype=kind), (lengths[name],))
            for name, kind in COLUMN_DTYPES.items()
        })
