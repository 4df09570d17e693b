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
    """Chunks of a JSON list of {seq_id, qsl_idx, data (upper-case hex)}, in issue order; with
    token latencies also LoadGen's token_data (the first token) and token_count."""
    yield "["
    first_tokens, counts = record.first_tokens or {}, record.token_counts
    for position, row in enumerate(sorted(record.responses)):
        entry: dict[str, object] = {
            "seq_id": row,
            "qsl_idx": int(record.sample_index[row]),
            "data": response_bytes(record.responses[row]).hex().upper(),
        }
        if row in first_tokens:
            entry["token_data"] = first_tokens[row].hex().upper()
        if counts is not None:
            entry["token_count"] = counts.get(row, 0)
        yield ("\n" if position == 0 else ",\n") + json.dumps(entry)
    yield "\n]\n"
