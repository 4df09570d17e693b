"""The wire formats a network SUT speaks: request bodies out, answers read back.

Each protocol turns one sample into the bytes of a POST body (done when samples are
loaded, untimed) and reads one HTTP response into an `Answer`: its size in bytes, its
output tokens, and the response accuracy mode keeps. A response that breaks the format
raises `SampleFailedError` with a short reason ("invalid JSON", "invalid SSE"), which the
client reports as that sample's failure; it never raises anything else for bad input.

- json: `{"index": i, "features": [...]}`; any JSON answer; its body size is the response size.
- openai-completions / openai-chat: OpenAI's `/v1/completions` and `/v1/chat/completions`
  with `"stream": true`; the first content chunk is the first token; the token count
  comes from `usage.completion_tokens` when the server sends it, else from the chunks.
- kserve: the KServe v2 / Triton inference protocol (`POST /v2/models/{name}/infer`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

PROTOCOLS = ("json", "openai-completions", "openai-chat", "kserve")


class SampleFailedError(Exception):
    """This sample's answer broke the protocol; `reason` is what the run counts it under."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Answer(NamedTuple):
    """What one response gave: bytes received, output tokens (None: not a token protocol),
    and the response as accuracy mode logs it (a numpy row of outputs, or the raw body).
    A named tuple: one is made per request, and that is cheaper than a frozen dataclass."""

    size: int
    n_tokens: int | None
    response: Any


@dataclass(frozen=True)
class Sample:
    """What a request is built from: the sample's index and, when the QSL has them, its
    features (a numpy row) or its prompt (text, or chat messages)."""

    index: int
    features: np.ndarray | None = None
    prompt: str | list[dict[str, Any]] | None = None
    max_tokens: int | None = None


def protocol_for_url(path: str) -> str:
    """The protocol a URL's path names: OpenAI and KServe routes by their paths, else json."""
    path = path.rstrip("/")
    if path.endswith("/chat/completions"):
        return "openai-chat"
    if path.endswith("/completions"):
        return "openai-completions"
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        return "kserve"
    return "json"


def _dumps(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _json_body(body: bytes, what: str) -> Any:
    try:
        return json.loads(body.decode())  # a str skips json's guess at the encoding
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise SampleFailedError(f"invalid {what}") from None


def _output_row(data: Any) -> Any:
    """A numeric output list as a float32 row (what accuracy mode scores), else None."""
    if not isinstance(data, list):
        return None
    try:
        return np.asarray(data, dtype=np.float32).ravel()
    except (TypeError, ValueError):
        return None


class JsonProtocol:
    """Generic JSON: the sample's index (and features) out; any JSON document back."""

    name = "json"

    def body(self, sample: Sample) -> bytes:
        document: dict[str, Any] = {"index": sample.index}
        if sample.features is not None:
            document["features"] = sample.features.ravel().tolist()
        return _dumps(document)

    def read_body(self, body: bytes, keep: bool = True) -> Answer:
        """Any JSON document; with `keep`, its `output` list as a row (else the raw body)."""
        document = _json_body(body, "JSON")
        if not keep:
            return Answer(len(body), None, None)
        output = _output_row(document.get("output")) if isinstance(document, dict) else None
        return Answer(len(body), None, body if output is None else output)


class KServeProtocol:
    """KServe v2 / Triton HTTP: the features as an FP32 tensor (or the index as INT64), the
    sample index as the request id; the first output's data back."""

    name = "kserve"

    def __init__(self, input_name: str = "input") -> None:
        self.input_name = input_name

    def body(self, sample: Sample) -> bytes:
        if sample.features is not None:
            tensor = {
                "name": self.input_name,
                "shape": [1, *sample.features.shape],
                "datatype": "FP32",
                "data": sample.features.ravel().tolist(),
            }
        else:
            tensor = {"name": "index", "shape": [1], "datatype": "INT64", "data": [sample.index]}
        return _dumps({"id": str(sample.index), "inputs": [tensor]})

    def read_body(self, body: bytes, keep: bool = True) -> Answer:
        document = _json_body(body, "JSON")
        outputs = document.get("outputs") if isinstance(document, dict) else None
        if not isinstance(outputs, list) or not outputs or not isinstance(outputs[0], dict):
            raise SampleFailedError("invalid KServe response (no outputs)")
        if not keep:
            return Answer(len(body), None, None)
        output = _output_row(outputs[0].get("data"))
        return Answer(len(body), None, body if output is None else output)


class OpenAIProtocol:
    """OpenAI-compatible completions or chat completions, streamed as server-sent events."""

    def __init__(
        self, chat: bool, model: str, max_tokens: int, stream: bool = True, extra_body: dict[str, Any] | None = None
    ) -> None:
        self.chat = chat
        self.name = "openai-chat" if chat else "openai-completions"
        self.model = model
        self.max_tokens = max_tokens
        self.stream = stream
        self.extra_body = dict(extra_body or {})

    def body(self, sample: Sample) -> bytes:
        prompt = sample.prompt if sample.prompt is not None else f"sample {sample.index}"
        document: dict[str, Any] = {"model": self.model, "max_tokens": sample.max_tokens or self.max_tokens}
        if self.chat:
            document["messages"] = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        else:
            text = prompt if isinstance(prompt, str) else " ".join(str(m.get("content", "")) for m in prompt)
            document["prompt"] = text
        if self.stream:
            document["stream"] = True
            document["stream_options"] = {"include_usage": True}
        document.update(self.extra_body)
        return _dumps(document)

    def content(self, chunk: Any) -> str:
        """The text a chunk carries ('' for a role-only or usage-only chunk)."""
        if not isinstance(chunk, dict):
            raise SampleFailedError("invalid SSE (a chunk that is not a JSON object)")
        if "error" in chunk:
            raise SampleFailedError("error event in the stream")
        choices = chunk.get("choices") or []
        if not isinstance(choices, list) or (choices and not isinstance(choices[0], dict)):
            raise SampleFailedError("invalid SSE (choices is not a list of objects)")
        if not choices:
            return ""
        choice = choices[0]
        text = (choice.get("delta") or {}).get("content") if self.chat else choice.get("text")
        return text if isinstance(text, str) else ""

    def read_body(self, body: bytes, keep: bool = True) -> Answer:
        """A non-streamed completion: its usage says how many tokens (else one is counted)."""
        tokens = _usage_tokens(_json_body(body, "JSON"))
        return Answer(len(body), tokens if tokens is not None else 1, body)

    def stream_reader(self, first_token: Callable[[], None]) -> SseReader:
        """A reader of one streamed answer; first_token() is called at its first content chunk."""
        return SseReader(self, first_token)


class SseReader:
    """One streamed OpenAI answer, read as its bytes arrive: server-sent events, a JSON chunk
    per `data:` line, `[DONE]` last. `feed` raises SampleFailedError as soon as the stream
    breaks the format; `finish` gives the Answer once the body has ended."""

    def __init__(self, protocol: OpenAIProtocol, first_token: Callable[[], None]) -> None:
        self.protocol = protocol
        self.first_token = first_token
        self.size = 0
        self.content_chunks = 0
        self.usage: int | None = None
        self.done = False
        self._partial = b""

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        lines = (self._partial + data if self._partial else data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        payload = sse_data(line)
        if payload is None:
            return
        if self.done:
            raise SampleFailedError("invalid SSE (data after [DONE])")
        if payload == b"[DONE]":
            self.done = True
            return
        chunk = _json_body(payload, "SSE (a data line that is not JSON)")
        if self.protocol.content(chunk):
            if self.content_chunks == 0:
                self.first_token()
            self.content_chunks += 1
        if self.usage is None:
            self.usage = _usage_tokens(chunk)

    def finish(self) -> Answer:
        if self._partial:
            self._line(self._partial)
            self._partial = b""
        if not self.done:
            raise SampleFailedError("invalid SSE (the stream ended before [DONE])")
        if self.content_chunks == 0:
            raise SampleFailedError("no tokens streamed")
        return Answer(self.size, self.usage if self.usage is not None else self.content_chunks, None)


WireProtocol = JsonProtocol | KServeProtocol | OpenAIProtocol


def _usage_tokens(document: Any) -> int | None:
    usage = document.get("usage") if isinstance(document, dict) else None
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0 else None


_SSE_FIELDS = (b"event:", b"id:", b"retry:")


def sse_data(line: bytes) -> bytes | None:
    """The payload of an SSE `data:` line; None for blank lines, comments and other fields.

    Raises SampleFailedError for a line that is not server-sent events at all."""
    line = line.strip()
    if not line or line.startswith(b":") or line.startswith(_SSE_FIELDS):
        return None
    if line.startswith(b"data:"):
        return line[5:].strip()
    raise SampleFailedError("invalid SSE (a line that is not an event field)")
