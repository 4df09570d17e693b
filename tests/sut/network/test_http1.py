"""The lean HTTP/1.1 client's response parser: every framing a server may use, split at any
byte, gives the status and body it carries; bytes that are not HTTP fail with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sut.network.http1 import MAX_HEAD_BYTES, HttpResponseError, ResponseParser, frame_request


class Recorded:
    """A sink that keeps what the parser delivered."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.data = b""
        self.ended = 0

    def head(self, status: int) -> None:
        self.status = status

    def body(self, data: bytes) -> None:
        assert self.ended == 0
        self.data += data

    def end(self) -> None:
        self.ended += 1


def response(status: int, body: bytes, framing: str, chunks: list[int], interim: bool, upper: bool) -> bytes:
    """A response's bytes: Content-Length, chunked (cut into `chunks` sizes) or until close."""
    name = (lambda text: text.upper()) if upper else (lambda text: text)
    head = (b"HTTP/1.1 100 Continue\r\n\r\n" if interim else b"") + f"HTTP/1.1 {status} Whatever\r\n".encode()
    head += name("Content-Type").encode() + b": application/json\r\n"
    if framing == "length":
        return head + name("Content-Length").encode() + f":  {len(body)} \r\n\r\n".encode() + body
    if framing == "close":
        return head + b"Connection: close\r\n\r\n" + body
    coded, pos = b"", 0
    for size in chunks:
        piece = body[pos : pos + size]
        if piece:
            coded += f"{len(piece):x};ext=1\r\n".encode() + piece + b"\r\n"
        pos += size
    if pos < len(body):
        coded += f"{len(body) - pos:X}\r\n".encode() + body[pos:] + b"\r\n"
    return head + name("Transfer-Encoding").encode() + b": chunked\r\n\r\n" + coded + b"0\r\nX-Trailer: t\r\n\r\n"


def feed_in_pieces(parser: ResponseParser, data: bytes, cuts: list[int]) -> None:
    pos = 0
    for cut in cuts:
        parser.feed(data[pos : pos + cut])
        pos += cut
    parser.feed(data[pos:])


@given(
    status=st.integers(min_value=200, max_value=599).filter(lambda s: s not in (204, 304)),
    body=st.binary(max_size=300),
    framing=st.sampled_from(["length", "chunked", "close"]),
    chunks=st.lists(st.integers(min_value=1, max_value=64), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=12),
    interim=st.booleans(),
    upper=st.booleans(),
)
def test_any_framing_split_anywhere_gives_its_status_and_body(
    status: int, body: bytes, framing: str, chunks: list[int], cuts: list[int], interim: bool, upper: bool
) -> None:
    sink = Recorded()
    parser = ResponseParser(sink)
    feed_in_pieces(parser, response(status, body, framing, chunks, interim, upper), cuts)
    if framing == "close":
        assert sink.ended == 0 and parser.eof()
    assert (sink.status, sink.data, sink.ended) == (status, body, 1)
    assert parser.keep_alive is (framing != "close")


@given(bodies=st.lists(st.binary(max_size=50), min_size=2, max_size=5), chunked=st.booleans())
def test_a_keep_alive_connection_reads_one_response_after_another(bodies: list[bytes], chunked: bool) -> None:
    parser = ResponseParser(Recorded())
    for body in bodies:
        sink = Recorded()
        parser.expect(sink)
        parser.feed(response(200, body, "chunked" if chunked else "length", [7], False, False))
        assert (sink.status, sink.data, sink.ended) == (200, body, 1) and parser.keep_alive


def test_answers_without_a_body_end_at_their_head() -> None:
    for status in (204, 304):
        sink = Recorded()
        ResponseParser(sink).feed(f"HTTP/1.1 {status} No\r\nContent-Length: 10\r\n\r\n".encode())
        assert (sink.status, sink.data, sink.ended) == (status, b"", 1)


def test_http_1_0_closes_unless_asked_to_keep_alive() -> None:
    sink = Recorded()
    parser = ResponseParser(sink)
    parser.feed(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert sink.ended == 1 and not parser.keep_alive
    again = Recorded()
    parser.expect(again)
    parser.feed(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n{}")
    assert again.ended == 1 and again.data == b"{}" and parser.keep_alive


BROKEN = [
    (b"<html>hello</html>\r\n\r\n", "no status line"),
    (b"HTTP/1.1 2x0 OK\r\n\r\n", "no status line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", "a bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", "a bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "a bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "a chunk longer than its size"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra", "bytes after the response"),
]


@pytest.mark.parametrize(("data", "reason"), BROKEN, ids=[reason for _, reason in BROKEN])
def test_bytes_that_are_not_http_fail_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(HttpResponseError, match=f"^invalid HTTP response \\({reason}\\)$"):
        ResponseParser(Recorded()).feed(data)


def test_a_head_that_never_ends_is_refused_past_its_limit() -> None:
    parser = ResponseParser(Recorded())
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(HttpResponseError, match="a head over 64 KiB"):
        for _ in range(MAX_HEAD_BYTES // 1000 + 1):
            parser.feed(b"X-Filler: " + b"x" * 990 + b"\r\n")


@given(st.lists(st.binary(max_size=80), max_size=6))
def test_any_bytes_parse_or_fail_with_a_reason(pieces: list[bytes]) -> None:
    parser = ResponseParser(Recorded())
    try:
        for piece in pieces:
            parser.feed(piece)
        parser.eof()
    except HttpResponseError as broken:
        assert broken.reason.startswith("invalid HTTP response (")


def test_a_request_is_framed_with_its_length() -> None:
    framed = frame_request("POST", "/infer?x=1", "127.0.0.1:8100", {"Content-Type": "application/json"}, b'{"i":1}')
    assert framed == (b"POST /infer?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8100\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 7\r\n\r\n{\"i\":1}")
