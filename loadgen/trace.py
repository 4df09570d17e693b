"""One row per sample, in preallocated numpy columns, saved losslessly as trace.npz.

A sample's id is its row + 1 (ids are never 0, as in LoadGen), so issue and completion
index the columns directly and allocate nothing per sample. Times are nanoseconds from
the start of timing; NOT_YET marks a time that has not happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

NOT_YET = -1
TRACE_COLUMNS = ("query", "sample_index", "scheduled_ns", "issued_ns", "completed_ns", "response_size")
TRACE_FORMAT_VERSION = 1


@dataclass
class Trace:
    """The per-sample record of a run; the columns are filled in place during the run."""

    query: np.ndarray
    sample_index: np.ndarray
    scheduled_ns: np.ndarray
    issued_ns: np.ndarray
    completed_ns: np.ndarray
    response_size: np.ndarray

    @classmethod
    def allocate(cls, query_offsets: np.ndarray, sample_index: np.ndarray) -> "Trace":
        """Rows for every scheduled sample; only times and sizes are written during the run."""
        n_samples = int(query_offsets[-1])
        per_query = np.diff(query_offsets)
        return cls(
            query=np.repeat(np.arange(len(per_query), dtype=np.int32), per_query),
            sample_index=sample_index.astype(np.int32),
            scheduled_ns=np.full(n_samples, NOT_YET, dtype=np.int64),
            issued_ns=np.full(n_samples, NOT_YET, dtype=np.int64),
            completed_ns=np.full(n_samples, NOT_YET, dtype=np.int64),
            response_size=np.zeros(n_samples, dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.query)

    def issued_rows(self) -> "Trace":
        """The rows that were issued (a run may stop before its schedule ends)."""
        count = int(np.count_nonzero(self.issued_ns != NOT_YET))
        return Trace(*(getattr(self, name)[:count] for name in TRACE_COLUMNS))

    def save(self, path: Path) -> None:
        """Write every column losslessly (compressed npz)."""
        columns = {name: getattr(self, name) for name in TRACE_COLUMNS}
        np.savez_compressed(path, format_version=np.int64(TRACE_FORMAT_VERSION), **columns)

    @classmethod
    def load(cls, path: Path) -> "Trace":
        """Read a trace written by `save`; refuses pickled objects and unknown versions."""
        with np.load(path, allow_pickle=False) as data:
            version = int(data["format_version"]) if "format_version" in data else None
            if version != TRACE_FORMAT_VERSION:
                raise ValueError(f"{path}: trace format version {version}, expected {TRACE_FORMAT_VERSION}")
            missing = [name for name in TRACE_COLUMNS if name not in data]
            if missing:
                raise ValueError(f"{path}: trace lacks columns {missing}")
            return cls(*(data[name] for name in TRACE_COLUMNS))
