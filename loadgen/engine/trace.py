"""The record of a run in preallocated numpy columns, saved losslessly as trace.npz.

Two tables, because LoadGen issues and schedules whole queries but completes samples:
per query, its scheduled and issued times (and, through `query_offsets`, its samples);
per sample, its index, completion time and response size. Every sample row is thus
(query, sample index, scheduled, issued, completed, response size) at 16 bytes plus
24 per query. A sample's id is its row + 1 (ids are never 0, as in LoadGen), so issue
and completion index the columns directly and allocate nothing per sample. Times are
nanoseconds from the start of timing; NOT_YET marks a time that has not happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

NOT_YET = -1
TRACE_FORMAT_VERSION = 1


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
    def allocate(cls, query_offsets: np.ndarray, sample_index: np.ndarray, token_latencies: bool = False) -> Trace:
        """Rows for every scheduled query and sample; times and sizes are filled in during the run.

        Token columns (first token time, output tokens) exist only when token latencies are
        measured; otherwise they are empty and cost nothing."""
        n_queries = len(query_offsets) - 1
        n_samples = int(query_offsets[-1])
        n_token_rows = n_samples if token_latencies else 0
        return cls(
            query_offsets=np.asarray(query_offsets, dtype=np.int64),
            scheduled_ns=np.full(n_queries, NOT_YET, dtype=np.int64),
            issued_ns=np.full(n_queries, NOT_YET, dtype=np.int64),
            sample_index=np.asarray(sample_index, dtype=np.int32),
            completed_ns=np.full(n_samples, NOT_YET, dtype=np.int64),
            response_size=np.zeros(n_samples, dtype=np.int32),
            first_token_ns=np.full(n_token_rows, NOT_YET, dtype=np.int64),
            token_count=np.zeros(n_token_rows, dtype=np.int32),
        )

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
        """The queries that were issued, and their samples (a run may stop early)."""
        n_queries = int(np.count_nonzero(self.issued_ns != NOT_YET))
        n_samples = int(self.query_offsets[n_queries])
        return Trace(
            query_offsets=self.query_offsets[: n_queries + 1],
            scheduled_ns=self.scheduled_ns[:n_queries],
            issued_ns=self.issued_ns[:n_queries],
            sample_index=self.sample_index[:n_samples],
            completed_ns=self.completed_ns[:n_samples],
            response_size=self.response_size[:n_samples],
            first_token_ns=self.first_token_ns[:n_samples],
            token_count=self.token_count[:n_samples],
        )

    def save(self, path: Path) -> None:
        """Write every column losslessly (compressed npz)."""
        columns = {field.name: getattr(self, field.name) for field in fields(self)}
        np.savez_compressed(path, format_version=np.int64(TRACE_FORMAT_VERSION), **columns)

    @classmethod
    def load(cls, path: Path) -> Trace:
        """Read a trace written by `save`; refuses pickled objects and unknown versions."""
        names = [field.name for field in fields(cls)]
        with np.load(path, allow_pickle=False) as data:
            version = int(data["format_version"]) if "format_version" in data else None
            if version != TRACE_FORMAT_VERSION:
                raise ValueError(f"{path}: trace format version {version}, expected {TRACE_FORMAT_VERSION}")
            missing = [name for name in names if name not in data]
            if missing:
                raise ValueError(f"{path}: trace lacks columns {missing}")
            return cls(*(data[name] for name in names))
