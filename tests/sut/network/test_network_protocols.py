"""The wire formats on their own: request bodies, answers read back, prompts, URL redaction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadgen.errors import SutLoadError
from sut.network.client import redacted
from sut.network.protocols import (
    JsonProtocol,
    KServeProtocol,
    OpenAIProtocol,
    Sample,
    SampleFailedError,
    protocol_for_url,
    sse_data,
)
from sut.network.samples import PromptQSL, read_prompts


def read_stream(protocol: OpenAIProtocol, lines: list[bytes]) -> tuple[int | None, int]:
    """(tokens, first-token calls) of a stream given as lines."""
    firsts = []
    reader = protocol.stream_reader(lambda: firsts.append(1))
    for line in lines:
        reader.feed(line)
    answer = reader.finish()
    return answer.n_tokens, len(firsts)


def chunk(text: str, chat: bool = False) -> bytes:
    choice = {"delta": {"content": text}} if chat else {"text": text}
    return b"data: " + json.dumps({"choices": [choice]}).encode() + b"\n"


def test_the_protocol_follows_the_url_path() -> None:
    assert protocol_for_url("/v1/completions") == "openai-completions"
    assert protocol_for_url("/v1/chat/completions/") == "openai-chat"
    assert protocol_for_url("/v2/models/resnet/infer") == "kserve"
    assert protocol_for_url("/predict") == "json"


def test_request_bodies_carry_index_features_and_prompt() -> None:
    features = np.arange(4, dtype=np.float32).reshape(2, 2)
    assert json.loads(JsonProtocol().body(Sample(3, features))) == {"index": 3, "features": [0.0, 1.0, 2.0, 3.0]}
    tensor = json.loads(KServeProtocol("x").body(Sample(3, features)))
    assert tensor == {"id": "3", "inputs": [{"name": "x", "shape": [1, 2, 2], "datatype": "FP32",
                                              "data": [0.0, 1.0, 2.0, 3.0]}]}
    chat = json.loads(OpenAIProtocol(True, "m", 16).body(Sample(0, prompt="hi", max_tokens=4)))
    assert chat["messages"] == [{"role": "user", "content": "hi"}] and chat["max_tokens"] == 4
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}


def test_a_stream_counts_usage_tokens_and_reports_the_first_content_chunk_once() -> None:
    protocol = OpenAIProtocol(False, "m", 16)
    role_only = b'data: {"choices":[{"text":""}]}\n'
    usage = b'data: {"choices":[],"usage":{"completion_tokens":7}}\n'
    lines = [b": keep-alive\n", role_only, chunk("a"), b"\n", chunk("b"), usage, b"data: [DONE]\n"]
    assert read_stream(protocol, lines) == (7, 1)
    assert read_stream(protocol, [chunk("a"), chunk("b"), b"data: [DONE]\n"]) == (2, 1)  # no usage: the chunks
    assert read_stream(OpenAIProtocol(True, "m", 16), [chunk("x", chat=True), b"data: [DONE]\n"]) == (1, 1)


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([b"<html>\n"], "invalid SSE (a line that is not an event field)"),
        ([b"data: {oops\n"], "invalid SSE (a data line that is not JSON)"),
        ([chunk("a")], "invalid SSE (the stream ended before [DONE])"),
        ([b"data: [DONE]\n"], "no tokens streamed"),
        ([b'data: {"error": {"message": "overloaded"}}\n'], "error event in the stream"),
        ([b"data: [DONE]\n", chunk("a")], "invalid SSE (data after [DONE])"),
    ],
)
def test_broken_streams_fail_with_their_reason(lines: list[bytes], reason: str) -> None:
    with pytest.raises(SampleFailedError) as failed:
        read_stream(OpenAIProtocol(False, "m", 16), lines)
    assert failed.value.reason == reason


@given(st.lists(st.binary(max_size=40), max_size=8))
def test_any_bytes_give_an_answer_or_a_reasoned_failure(lines: list[bytes]) -> None:
    try:
        read_stream(OpenAIProtocol(False, "m", 16), lines)
    except SampleFailedError as failed:
        assert failed.reason
    for body in lines:
        for protocol in (JsonProtocol(), KServeProtocol()):
            try:
                protocol.read_body(body)
            except SampleFailedError as failed:
                assert failed.reason.startswith("invalid")


@given(st.lists(st.integers(min_value=1, max_value=30), max_size=12))
def test_a_stream_reads_the_same_however_its_bytes_are_split(cuts: list[int]) -> None:
    stream = chunk("a") + b"\n" + chunk("b") + b": comment\n"
    stream += b'data: {"choices":[],"usage":{"completion_tokens":4}}\n\ndata: [DONE]\n\n'
    pieces, pos = [], 0
    for cut in cuts:
        pieces.append(stream[pos : pos + cut])
        pos += cut
    pieces.append(stream[pos:])
    assert read_stream(OpenAIProtocol(False, "m", 16), pieces) == (4, 1)


@given(st.binary(max_size=60))
def test_sse_lines_are_data_or_ignored_or_refused(line: bytes) -> None:
    try:
        payload = sse_data(line)
    except SampleFailedError:
        assert not line.strip().startswith((b"data:", b":", b"event:", b"id:", b"retry:"))
        return
    assert payload is None or line.strip().startswith(b"data:")


def test_kserve_answers_need_outputs() -> None:
    answer = KServeProtocol().read_body(b'{"outputs": [{"name": "o", "data": [1, 2]}]}')
    assert answer.response.tolist() == [1.0, 2.0] and answer.size == 44
    with pytest.raises(SampleFailedError, match="no outputs"):
        KServeProtocol().read_body(b'{"model_name": "m"}')


def test_prompts_come_from_jsonl_with_errors_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text('"plain"\n{"prompt": "p", "max_tokens": 5}\n\n{"messages": [{"role": "user", "content": "c"}]}\n')
    prompts, max_tokens = read_prompts(path)
    assert prompts == ["plain", "p", [{"role": "user", "content": "c"}]] and max_tokens == [None, 5, None]
    path.write_text('"ok"\n{"max_tokens": 3}\n')
    with pytest.raises(SutLoadError, match=f"{path}:2: no 'prompt', 'text' or 'messages'"):
        read_prompts(path)
    path.write_text("{broken\n")
    with pytest.raises(SutLoadError, match=f"{path}:1: not JSON"):
        read_prompts(path)


def test_generated_prompts_are_the_same_every_time() -> None:
    first, second = PromptQSL(samples=8, prompt_words=5), PromptQSL(samples=8, prompt_words=5)
    assert first.prompts == second.prompts and len(first.prompts[0].split()) == 5


def test_urls_lose_credentials_before_they_are_shown() -> None:
    assert redacted("http://user:secret@host:8000/v1/completions?key=abc") == "http://host:8000/v1/completions"
