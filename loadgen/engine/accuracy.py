"""Accuracy mode: every sample of the accuracy set issued exactly once, every response kept.

As in LoadGen, the accuracy set ([0, total) unless overridden) is shuffled with the qsl
seed and loaded in sets of performance_sample_count; each set is issued in the scenario's
query shape (Offline: one query per set; MultiStream: samples_per_query a query; otherwise
one sample a query), one query outstanding, untimed. Top-1 accuracy is scored when the QSL
carries `labels` (one class per sample index).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from loadgen.engine.closed_loop import ClosedLoop
from loadgen.engine.context import RunContext
from loadgen.engine.query import QuerySampleLibrary, SystemUnderTest
from loadgen.errors import RunAborted
from loadgen.settings.effective import EffectiveSettings
from loadgen.settings.model import Scenario


@dataclass
class AccuracyRecord:
    """The responses in issue order: sample index and response of each completed row."""

    sample_index: np.ndarray
    completed: int
    responses: dict[int, object]
    error: RunAborted | None
    token_counts: dict[int, int] | None = None
    """With token latencies: each logged row's token count (LoadGen's token_count)."""
    first_tokens: dict[int, bytes] | None = None
    """With token latencies: each logged row's first token as reported (LoadGen's token_data)."""
    failed_samples: dict[str, int] = field(default_factory=dict)
    """Samples the SUT reported failed (SampleBatch.fail), per reason; not in `completed`."""


def query_size(effective: EffectiveSettings, loaded: int) -> int:
    """Samples per accuracy query: the scenario's query shape (Offline: the whole loaded set)."""
    return loaded if effective.scenario is Scenario.Offline else effective.samples_per_query


def run_accuracy(
    sut: SystemUnderTest,
    qsl: QuerySampleLibrary,
    effective: EffectiveSettings,
    loaded_count: int,
    context: RunContext,
    qsl_call: Callable[[Callable[[np.ndarray], None], str, np.ndarray], None],
) -> AccuracyRecord:
    """Issue every sample once, loading the sets in turn; errors end the pass with the reason."""
    seed = effective.settings.qsl_rng_seed
    order = np.random.default_rng(seed).permutation(qsl.total_sample_count).astype(np.int32)
    loop = ClosedLoop(sut, order, context, keep_responses=True)
    error: RunAborted | None = None
    try:
        for start in range(0, len(order), loaded_count):
            chunk = order[start : start + loaded_count]
            qsl_call(qsl.load_samples, "load_samples", chunk)
            try:
                size = query_size(effective, len(chunk))
                while loop.samples < start + len(chunk):
                    loop.query(min(size, start + len(chunk) - loop.samples))
            finally:
                qsl_call(qsl.unload_samples, "unload_samples", chunk)
    except RunAborted as exc:
        error = exc
    responses = loop.recorder.responses
    assert responses is not None
    failures = dict(loop.recorder.failures)
    completed = loop.recorder.completed - sum(failures.values())  # the recorder counts failures as answered
    return AccuracyRecord(
        sample_index=order, completed=completed, responses=responses, error=error, failed_samples=failures
    )
