"""Accuracy mode: every sample of the accuracy set issued exactly once, every response kept.

As in LoadGen, the accuracy set ([0, total) unless overridden) is shuffled with the qsl
seed and loaded in sets of performance_sample_count; each set is issued in the scenario's
query shape (Offline: one query per set; MultiStream: samples_per_query a query; otherwise
one sample a query), one query outstanding, untimed. Top-1 accuracy is scored when the QSL
carries `labels` (one class per sample index).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from loadgen.clock import Clock
from loadgen.closed_loop import ClosedLoop
from loadgen.errors import RunAborted
from loadgen.query import QuerySampleLibrary, SystemUnderTest
from loadgen.settings import Scenario, TestSettings


class AccuracyResult(BaseModel):
    """What accuracy mode found: coverage of the accuracy set and, with labels, top-1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int
    completed: int
    top1: float | None
    note: str


@dataclass
class AccuracyRecord:
    """The responses in issue order: sample index and response of each completed row."""

    sample_index: np.ndarray
    completed: int
    responses: dict[int, object]
    error: RunAborted | None


def query_size(settings: TestSettings, loaded: int) -> int:
    """Samples per accuracy query: the scenario's query shape."""
    if settings.scenario is Scenario.Offline:
        return loaded
    if settings.scenario is Scenario.MultiStream:
        return settings.multi_stream_samples_per_query
    return 1


def run_accuracy(
    sut: SystemUnderTest,
    qsl: QuerySampleLibrary,
    settings: TestSettings,
    loaded_count: int,
    clock: Clock,
    qsl_call: Callable[[Callable[[np.ndarray], None], str, np.ndarray], None],
) -> AccuracyRecord:
    """Issue every sample once, loading the sets in turn; errors end the pass with the reason."""
    order = np.random.default_rng(settings.qsl_rng_seed).permutation(qsl.total_sample_count).astype(np.int32)
    loop = ClosedLoop(sut, order, settings.sample_timeout_ms * 1_000_000, clock, keep_responses=True)
    error: RunAborted | None = None
    try:
        for start in range(0, len(order), loaded_count):
            chunk = order[start : start + loaded_count]
            qsl_call(qsl.load_samples, "load_samples", chunk)
            try:
                size = query_size(settings, len(chunk))
                while loop.samples < start + len(chunk):
                    loop.query(min(size, start + len(chunk) - loop.samples))
            finally:
                qsl_call(qsl.unload_samples, "unload_samples", chunk)
    except RunAborted as exc:
        error = exc
    responses = loop.recorder.responses
    assert responses is not None
    return AccuracyRecord(sample_index=order, completed=loop.recorder.completed, responses=responses, error=error)


def predicted_class(response: object) -> int | None:
    """A response's class: argmax of a logit row, or the value of a one-element answer."""
    if not isinstance(response, np.ndarray) or response.size == 0:
        return None
    return int(response.reshape(-1).argmax()) if response.size > 1 else int(response.reshape(-1)[0])


def score(record: AccuracyRecord, qsl: QuerySampleLibrary) -> AccuracyResult:
    """Coverage, and top-1 against the QSL's labels when it has them and responses are arrays."""
    samples, completed = len(record.sample_index), record.completed
    labels = getattr(qsl, "labels", None)
    if labels is None:
        return AccuracyResult(samples=samples, completed=completed, top1=None, note="the QSL has no labels")
    predictions = {row: predicted_class(response) for row, response in record.responses.items()}
    if len(predictions) < samples or any(value is None for value in predictions.values()):
        note = "not scored: some samples were completed without a numpy response (samples.complete(ids, responses=...))"
        return AccuracyResult(samples=samples, completed=completed, top1=None, note=note)
    labels = np.asarray(labels)
    hits = sum(predictions[row] == int(labels[record.sample_index[row]]) for row in predictions)
    return AccuracyResult(
        samples=samples, completed=completed, top1=hits / samples, note="top-1 over every sample of the accuracy set"
    )


def accuracy_problems(record: AccuracyRecord) -> list[str]:
    """Why an accuracy pass is not valid: it ended early, so some samples were never answered."""
    return [f"the accuracy run did not complete: {record.error}"] if record.error else []

