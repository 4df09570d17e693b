"""A token-generating SUT with known rates: the stand-in for an LLM when measuring TTFT/TPOT.

Every sample, however many are in flight (a server batching without limit), gets its
first token `ttft_ms` after it is issued and then one token every `tpot_ms`, `output_tokens`
in all; the SUT reports the first token (`first_token`) and the completion with its
token count, so a run with use_token_latencies=true must find TTFT = ttft_ms and
TPOT = tpot_ms (plus the OS's wake-up overshoot, tens of microseconds).
"""

from __future__ import annotations

import heapq
import itertools
import threading

from loadgen.engine.clock import monotonic_ns, tight_timer_slack
from loadgen.engine.query import SampleBatch

_FIRST, _DONE = 0, 1


class TokenSUT:
    """One scheduler thread that fires each sample's first token and completion on time."""

    def __init__(self, ttft_ms: float = 20.0, tpot_ms: float = 5.0, output_tokens: int = 16) -> None:
        if ttft_ms < 0 or tpot_ms < 0:
            raise ValueError(f"ttft_ms and tpot_ms must be >= 0, got {ttft_ms} and {tpot_ms}")
        if output_tokens < 1:
            raise ValueError(f"output_tokens must be >= 1, got {output_tokens}")
        self.name = f"TokenSUT(ttft {ttft_ms:g} ms, tpot {tpot_ms:g} ms, {output_tokens} tokens)"
        self.ttft_ns = int(ttft_ms * 1e6)
        self.tpot_ns = int(tpot_ms * 1e6)
        self.output_tokens = output_tokens
        self._events: list[tuple[int, int, int, SampleBatch, int]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._serve, name="token-sut", daemon=True)
        self._thread.start()

    def issue_query(self, samples: SampleBatch) -> None:
        """Schedule each sample's first token; returns at once."""
        first = monotonic_ns() + self.ttft_ns
        with self._wake:
            for sample_id in samples.ids.tolist():
                heapq.heappush(self._events, (first, _FIRST, next(self._order), samples, sample_id))
            self._wake.notify()

    def flush_queries(self) -> None:
        """Samples run as they come."""

    def _serve(self) -> None:
        with tight_timer_slack():
            while True:
                kind, batch, sample_id = self._next_due()
                if kind == _FIRST:
                    batch.first_token(sample_id)
                    done = monotonic_ns() + (self.output_tokens - 1) * self.tpot_ns
                    with self._wake:
                        heapq.heappush(self._events, (done, _DONE, next(self._order), batch, sample_id))
                else:
                    batch.complete(sample_id, response_sizes=self.output_tokens, n_tokens=self.output_tokens)

    def _next_due(self) -> tuple[int, SampleBatch, int]:
        """Wait for the earliest event's time and take it off the heap."""
        with self._wake:
            while True:
                if self._events:
                    due = self._events[0][0] - monotonic_ns()
                    if due <= 0:
                        _, kind, _, batch, sample_id = heapq.heappop(self._events)
                        return kind, batch, sample_id
                    self._wake.wait(due / 1e9)
                else:
                    self._wake.wait()


def make_sut(ttft_ms: float = 20.0, tpot_ms: float = 5.0, output_tokens: int = 16) -> TokenSUT:
    """Factory for `--sut sut.tokens --sut-arg ttft_ms=20 --sut-arg tpot_ms=5 --sut-arg output_tokens=16`."""
    return TokenSUT(ttft_ms, tpot_ms, output_tokens)
