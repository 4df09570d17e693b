"""What a SUT receives: a batch of samples, and the protocols a SUT and a QSL satisfy.

No base class is needed: any object with these attributes works. A batch exposes numpy
arrays of ids and indices (the fast path), iterates as `(id, index)` pairs, and completes
samples from any thread, one id or an array of ids at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, overload, runtime_checkable

import numpy as np

from loadgen.errors import SutError

if TYPE_CHECKING:
    from loadgen.engine.recorder import Recorder


class _RowView:
    """A batch's rows of a column, sliced when read. Only `__get__`: a subclass that holds its own
    arrays (sut.serve's ServedBatch) sets the attribute on its instances, and that wins."""

    def __init__(self, column: Callable[[SampleBatch], np.ndarray]) -> None:
        self._column = column

    @overload
    def __get__(self, batch: None, owner: type) -> _RowView: ...

    @overload
    def __get__(self, batch: SampleBatch, owner: type) -> np.ndarray: ...

    def __get__(self, batch: SampleBatch | None, owner: type) -> np.ndarray | _RowView:
        if batch is None:
            return self
        return self._column(batch)[batch.first_row:batch.end_row]


class SampleBatch:
    """The samples of one issued query (or of several coalesced Server queries): rows [lo, hi)
    of its phase's trace, whose ids are rows + 1."""

    __slots__ = ("_source", "end_row", "first_row", "issued_at", "phase")

    def __init__(self, recorder: Recorder, sample_index: np.ndarray, first_row: int, end_row: int) -> None:
        """Rows [first_row, end_row) of the recorder's trace, their indices in `sample_index` (the
        trace's, or the schedule's it was made from). Nothing is sliced until a SUT asks for
        `ids` or `indices`: a SUT that reads the rows (the drop-in API) costs no numpy work."""
        self.phase = recorder
        """The phase this batch belongs to (pilot, warm-up, accuracy pass or timed run), as its
        recorder: ids restart in each phase, so per-phase state of an adapter is keyed by it."""
        self._source = sample_index
        self.first_row = first_row
        self.end_row = end_row
        """The batch's rows [first_row, end_row) in its phase's trace; the ids are first_row + 1 ..
        end_row. Plain attributes, not properties: the drop-in API reads them on every query."""
        self.issued_at = 0
        """The issue stamp (a reading of the phase's clock), set by the engine just before it calls
        the SUT; an adapter that does harness work before handing the samples on to user code
        (the drop-in API builds LoadGen's lists) takes it again just before that call, so the
        adapter's work is not counted in the SUT's latency (docs/latency.md)."""

    ids = _RowView(lambda batch: batch.phase.ids)
    """The samples' ids (int64, a view), to complete them with."""

    indices = _RowView(lambda batch: batch._source)
    """The samples' indices into the QSL (a view)."""

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self.ids.tolist(), self.indices.tolist(), strict=False)

    def __repr__(self) -> str:
        return f"SampleBatch({len(self)} samples, ids {self.first_row + 1}..)"

    @property
    def keeps_responses(self) -> bool:
        """True when this run logs responses (accuracy mode), so they are worth passing."""
        return self.phase.responses is not None

    def first_token(self, ids: int | Sequence[int] | np.ndarray | None = None) -> None:
        """Mark the first token of samples (all of this batch by default) produced now."""
        self.phase.first_token(self.ids if ids is None else ids)

    def breach(self, reason: str) -> None:
        """End the phase under way INVALID with this reason: the SUT (or an adapter in front of
        it, such as the drop-in API) broke the protocol in a way the harness cannot see itself."""
        self.phase.fail(SutError(reason))

    def complete(
        self,
        ids: int | Sequence[int] | np.ndarray | None = None,
        response_sizes: int | Sequence[int] | np.ndarray | None = None,
        responses: Any = None,
        n_tokens: int | Sequence[int] | np.ndarray | None = None,
    ) -> None:
        """Mark samples done now: all of this batch by default, else the ids given. Thread-safe.

        `responses` (one per id: a numpy array row per sample, or bytes) is what accuracy
        mode scores and logs; performance runs only take its size. `n_tokens` (per id) feeds
        time per output token when the run measures token latencies. (An adapter that stamps
        completions itself, on entry, calls `phase.complete(..., at_ns=)`: the drop-in API.)
        """
        if ids is None:
            self.phase.complete_block(self.first_row, self.end_row, response_sizes, responses, n_tokens)
        else:
            self.phase.complete(ids, response_sizes, responses, n_tokens)

    def fail(self, ids: int | Sequence[int] | np.ndarray | None = None, reason: str = "failed") -> None:
        """Mark samples failed now, with a short reason ("HTTP 503", "timeout"). Thread-safe.

        A failed sample is answered (the run waits for it no longer) but not completed: it has
        no latency, and the run ends INVALID with the count of failed samples per reason.
        """
        self.phase.fail_samples(self.ids if ids is None else ids, reason)


@runtime_checkable
class SystemUnderTest(Protocol):
    """LoadGen's SUT: issue_query may return at once and complete samples later."""

    name: str

    def issue_query(self, samples: SampleBatch) -> None: ...

    def flush_queries(self) -> None: ...


@runtime_checkable
class QuerySampleLibrary(Protocol):
    """LoadGen's QSL: loading and unloading are untimed."""

    name: str
    total_sample_count: int
    performance_sample_count: int

    def load_samples(self, indices: np.ndarray) -> None: ...

    def unload_samples(self, indices: np.ndarray) -> None: ...


class IndexQSL:
    """A QSL of bare indices, for SUTs that need no data (null, fixed-time)."""

    def __init__(self, total_sample_count: int = 1024, performance_sample_count: int | None = None) -> None:
        if total_sample_count < 1:
            raise ValueError(f"total_sample_count must be >= 1, got {total_sample_count}")
        self.name = f"IndexQSL({total_sample_count})"
        self.total_sample_count = total_sample_count
        self.performance_sample_count = performance_sample_count or total_sample_count

    def load_samples(self, indices: np.ndarray) -> None:
        """Nothing to load: the index is the sample."""

    def unload_samples(self, indices: np.ndarray) -> None:
        """Nothing to unload."""
