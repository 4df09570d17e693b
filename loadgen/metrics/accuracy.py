"""Accuracy figures: coverage of the accuracy set and top-1 against the QSL's labels."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from loadgen.engine.accuracy import AccuracyRecord
from loadgen.engine.query import QuerySampleLibrary
from loadgen.metrics.verdict import describe_failures


class AccuracyResult(BaseModel):
    """What accuracy mode found: coverage of the accuracy set and, with labels, top-1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int
    completed: int
    top1: float | None
    note: str


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
    """Why an accuracy pass is not valid: it ended early, or the SUT failed samples."""
    problems = [f"the accuracy run did not complete: {record.error}"] if record.error else []
    if record.failed_samples:
        problems.append("accuracy run: " + describe_failures(record.failed_samples, len(record.sample_index)))
    return problems
