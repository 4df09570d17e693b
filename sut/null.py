"""A SUT that completes every sample at once: what it measures is the harness itself."""

from __future__ import annotations

from loadgen.engine.query import SampleBatch


class NullSUT:
    """Completes each batch inside issue_query, with zero-byte responses."""

    name = "NullSUT"

    def issue_query(self, samples: SampleBatch) -> None:
        samples.complete()

    def flush_queries(self) -> None:
        """Nothing is ever pending."""


def make_sut() -> NullSUT:
    """Factory used by `--sut sut.null`."""
    return NullSUT()
