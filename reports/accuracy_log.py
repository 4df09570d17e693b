"""mlperf_log_accuracy.json: every response of an accuracy run, as LoadGen logs it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np

from loadgen.engine.accuracy import AccuracyRecord


def response_bytes(response: object) -> bytes:
    """The bytes LoadGen would log: a numpy response's buffer, or the bytes given."""
    if isinstance(response, np.ndarray):
        return np.ascontiguousarray(response).tobytes()
    return bytes(response)  # type: ignore[call-overload]


def render_accuracy_log(record: AccuracyRecord) -> Iterator[str]:
    """Chunks of a JSON list of {seq_id, qsl_idx, data (upper-case hex)}, in issue order."""
    yield "["
    for position, row in enumerate(sorted(record.responses)):
        entry = {
            "seq_id": row,
            "qsl_idx": int(record.sample_index[row]),
            "data": response_bytes(record.responses[row]).hex().upper(),
        }
        yield ("\n" if position == 0 else ",\n") + json.dumps(entry)
    yield "\n]\n"
