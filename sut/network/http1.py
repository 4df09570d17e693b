"""A lean HTTP/1.1 keep-alive client on asyncio protocols: what the network SUT sends with.

A benchmark client must cost far less per request than the server it measures, and hold
the GIL as briefly as it can, since the harness's issue loop shares the process with it.
A general client library spends most of a small request in its own machinery (about
200 us of CPU per request for aiohttp on the project's 2-core machine, four times this
client's), so requests go out from here: each one is framed once, when its sample is
loaded (`frame_request`), written with one `transport.write`, and its answer parsed
incrementally (`ResponseParser`: Content-Length, chunked transfer coding, bodies ended by
the connection's close, 1xx interim answers, `Connection: close`) straight into the
exchange waiting for it, with no task or future per request. `Pool` keeps up to `size`
keep-alive connections to one server and queues the exchanges beyond them, first come,
first served; a request that outlasts the timeout fails as one and its connection is
dropped.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Protocol

MAX_HEAD_BYTES = 64 * 1024
"""An answer whose status line and headers exceed this is not HTTP worth reading."""

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE, _DONE = range(8)


class HttpResponseError(Exception):
    """The bytes on a connection are not an HTTP/1.x response; `reason` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ResponseSink(Protocol):
    """Where a parser delivers a response: its status, its body in pieces, its end."""

    def head(self, status: int) -> None: ...

    def body(self, data: bytes) -> None: ...

    def end(self) -> None: ...


class ResponseParser:
    """Reads HTTP/1.x responses from a connection's bytes, fed in pieces of any size.

    `feed` delivers to `sink`; after a response ends, `keep_alive` says whether the
    connection may carry another request. Bytes that break HTTP raise HttpResponseError."""

    def __init__(self, sink: ResponseSink) -> None:
        self.sink = sink
        self.keep_alive = True
        self._state = _HEAD
        self._buffer = b""
        self._remaining = 0
        self._steps = (  # by state; _DONE has none
            self._head, self._length, self._chunk_size, self._length, self._chunk_end, self._trailers,
            self._until_close,
        )

    def expect(self, sink: ResponseSink) -> None:
        """The next response goes to `sink`."""
        self.sink = sink
        self._state = _HEAD

    def feed(self, data: bytes) -> None:
        """Parse what arrived; the part of an unfinished line or head is kept for the next call.

        The sink's `end` comes last, once these bytes are parsed, so it may send the next request."""
        if self._state == _DONE:  # its end was delivered; nothing more may come before the next request
            if data:
                raise HttpResponseError("invalid HTTP response (bytes after the response)")
            return
        buffer = self._buffer + data if self._buffer else data
        pos, size, steps = 0, len(buffer), self._steps
        while pos < size and self._state != _DONE:
            moved = steps[self._state](buffer, pos)
            if moved < 0:
                break
            pos = moved
        self._buffer = buffer[pos:] if pos < size else b""
        if self._state == _DONE:
            if self._buffer:
                raise HttpResponseError("invalid HTTP response (bytes after the response)")
            self.sink.end()
        elif self._state == _HEAD and len(self._buffer) > MAX_HEAD_BYTES:
            raise HttpResponseError(f"invalid HTTP response (a head over {MAX_HEAD_BYTES // 1024} KiB)")

    def eof(self) -> bool:
        """The connection closed: True if that ended a response (a body read until close)."""
        if self._state == _UNTIL_CLOSE:
            self._state = _DONE
            self.sink.end()
            return True
        return False

    def _finish(self) -> None:
        self._state = _DONE

    def _head(self, buffer: bytes, pos: int) -> int:
        end = buffer.find(b"\r\n\r\n", pos)
        if end < 0:
            return -1
        head = buffer[pos:end]
        version, code = head[:8], head[9:12]
        if not version.startswith(b"HTTP/1.") or head[8:9] != b" " or not code.isdigit() or head[12:13] not in b" \r":
            raise HttpResponseError("invalid HTTP response (no status line)")
        status = int(code)
        length, chunked, keep_alive = _framing(head, version == b"HTTP/1.1")
        if 100 <= status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            return end + 4
        self.keep_alive = keep_alive
        self.sink.head(status)
        if status in (204, 304):
            self._finish()
        elif chunked:
            self._state = _CHUNK_SIZE
        elif length is not None:
            self._state, self._remaining = _LENGTH, length
            if length == 0:
                self._finish()
        else:
            self._state, self.keep_alive = _UNTIL_CLOSE, False
        return end + 4

    def _length(self, buffer: bytes, pos: int) -> int:
        """A Content-Length body, or one chunk's data."""
        take = min(self._remaining, len(buffer) - pos)
        if take:
            self.sink.body(buffer[pos : pos + take] if pos or take < len(buffer) else buffer)
            self._remaining -= take
        if self._remaining == 0:
            if self._state == _CHUNK_DATA:
                self._state = _CHUNK_END
            else:
                self._finish()
        return pos + take

    def _chunk_size(self, buffer: bytes, pos: int) -> int:
        end = buffer.find(b"\r\n", pos)
        if end < 0:
            return -1
        digits = buffer[pos:end].split(b";", 1)[0].strip()
        try:
            size = int(digits, 16)
        except ValueError:
            raise HttpResponseError("invalid HTTP response (a bad chunk size)") from None
        if size < 0 or digits.startswith((b"-", b"+", b"0x", b"0X")):
            raise HttpResponseError("invalid HTTP response (a bad chunk size)")
        self._state, self._remaining = (_TRAILERS, 0) if size == 0 else (_CHUNK_DATA, size)
        return end + 2

    def _chunk_end(self, buffer: bytes, pos: int) -> int:
        if len(buffer) - pos < 2:
            return -1
        if buffer[pos : pos + 2] != b"\r\n":
            raise HttpResponseError("invalid HTTP response (a chunk longer than its size)")
        self._state = _CHUNK_SIZE
        return pos + 2

    def _trailers(self, buffer: bytes, pos: int) -> int:
        end = buffer.find(b"\r\n", pos)
        if end < 0:
            return -1
        if end == pos:  # the blank line after the last chunk (and any trailer fields)
            self._finish()
        return end + 2

    def _until_close(self, buffer: bytes, pos: int) -> int:
        self.sink.body(buffer[pos:] if pos else buffer)
        return len(buffer)


def _framing(head: bytes, http11: bool) -> tuple[int | None, bool, bool]:
    """(Content-Length, chunked, keep-alive) from a response's head (its header names found by
    search in the lowercased head, not line by line: this runs for every response)."""
    lowered = head.lower()
    length: int | None = None
    for value in _values(lowered, b"\r\ncontent-length:"):
        value = value.strip()
        if not value.isdigit() or (length is not None and int(value) != length):
            raise HttpResponseError("invalid HTTP response (a bad Content-Length)")
        length = int(value)
    chunked = any(value.strip().endswith(b"chunked") for value in _values(lowered, b"\r\ntransfer-encoding:"))
    keep_alive = http11
    for value in _values(lowered, b"\r\nconnection:"):
        tokens = {token.strip() for token in value.split(b",")}
        keep_alive = b"close" not in tokens and (http11 or b"keep-alive" in tokens)
    return (None if chunked else length), chunked, keep_alive


def _values(lowered: bytes, name: bytes) -> list[bytes]:
    """The values of every header line `name` (b"\\r\\nname:") in a lowercased head."""
    values = []
    start = lowered.find(name)
    while start >= 0:
        begin = start + len(name)
        end = lowered.find(b"\r\n", begin)
        values.append(lowered[begin : end if end >= 0 else len(lowered)])
        start = lowered.find(name, begin)
    return values


def frame_request(method: str, target: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    """One request's bytes, head and body, ready for a single write."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Exchange(Protocol):
    """One request and what becomes of it: a ResponseSink that can also fail."""

    request: bytes

    def head(self, status: int) -> None: ...

    def body(self, data: bytes) -> None: ...

    def end(self) -> None: ...

    def fail(self, reason: str) -> None: ...


class Connection(asyncio.Protocol):
    """One keep-alive connection of a Pool, carrying one exchange at a time."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.exchange: Exchange | None = None
        self.deadline = 0.0
        self.transport: asyncio.Transport | None = None
        self.parser = ResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, exchange: Exchange, deadline: float) -> None:
        assert self.transport is not None
        self.exchange, self.deadline = exchange, deadline
        self.parser.expect(self)
        self.transport.write(exchange.request)

    def data_received(self, data: bytes) -> None:
        if self.exchange is None:  # nothing was asked: a server that talks out of turn loses the connection
            self.abort()
            return
        try:
            self.parser.feed(data)
        except HttpResponseError as exc:
            self.drop(exc.reason)

    def head(self, status: int) -> None:
        assert self.exchange is not None
        self.exchange.head(status)

    def body(self, data: bytes) -> None:
        assert self.exchange is not None
        self.exchange.body(data)

    def end(self) -> None:
        exchange, self.exchange = self.exchange, None
        assert exchange is not None
        if self.parser.keep_alive and self.transport is not None and not self.transport.is_closing():
            self.pool.release(self)
        else:
            self.abort()
        exchange.end()
        self.pool.pump()

    def drop(self, reason: str) -> None:
        """Fail the exchange in flight (if any) and close the connection."""
        exchange, self.exchange = self.exchange, None
        self.abort()
        if exchange is not None:
            exchange.fail(reason)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.forget(self)
        if self.exchange is not None and not self.parser.eof():
            self.drop("connection lost")


class Pool:
    """Up to `size` keep-alive connections to one server; exchanges beyond them wait, in order.

    Runs on its loop's thread only. A failed connect fails the oldest waiting exchange with
    the reason, so a server that is down fails every request at once, never hangs them."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, host: str, port: int, size: int, timeout_s: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.loop, self.host, self.port, self.size, self.timeout_s, self.tls = loop, host, port, size, timeout_s, tls
        self.waiting: collections.deque[Exchange] = collections.deque()
        self._idle: list[Connection] = []
        self._busy: set[Connection] = set()
        self._opening = 0
        self._closed = False
        self._sweeper = loop.call_later(self._tick, self._sweep)

    @property
    def _tick(self) -> float:
        """How often timeouts are checked: a request fails within 10% (at most 0.1 s) past timeout_s."""
        return min(0.1, self.timeout_s / 10)

    def submit(self, exchange: Exchange) -> None:
        self.waiting.append(exchange)

    def pump(self) -> None:
        """Send waiting exchanges on idle connections; open more, up to `size`, for the rest."""
        waiting, idle = self.waiting, self._idle
        if self._closed or not waiting:
            return
        if waiting and idle:
            deadline = self.loop.time() + self.timeout_s
            while waiting and idle:
                connection = idle.pop()  # the most recently used: the fewest connections stay warm
                self._busy.add(connection)
                connection.send(waiting.popleft(), deadline)
        wanted = min(len(waiting) - self._opening, self.size - len(self._busy) - len(idle) - self._opening)
        for _ in range(max(wanted, 0)):
            self._opening += 1
            self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                _, connection = await self.loop.create_connection(
                    lambda: Connection(self), self.host, self.port, ssl=self.tls,
                    server_hostname=self.host if self.tls else None,
                )
        except (OSError, TimeoutError) as exc:
            self._opening -= 1
            if self.waiting:
                self.waiting.popleft().fail(connect_failure(exc, self.timeout_s))
        else:
            self._opening -= 1
            if self._closed:
                connection.abort()
                return
            self._idle.append(connection)
        self.pump()

    def release(self, connection: Connection) -> None:
        """An exchange ended and its connection may carry another: it is idle again."""
        self._busy.discard(connection)
        self._idle.append(connection)

    def forget(self, connection: Connection) -> None:
        """A connection closed: it carries nothing more (another may be opened for what waits)."""
        self._busy.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)
        self.pump()

    def abort(self, exchange: Exchange) -> None:
        """Give up on an exchange: unsent, it is taken out of the queue; in flight, its connection
        is dropped and it fails as cancelled."""
        if exchange in self.waiting:
            self.waiting.remove(exchange)
        for connection in list(self._busy):
            if connection.exchange is exchange:
                connection.drop("cancelled")

    def _sweep(self) -> None:
        now = self.loop.time()
        for connection in [c for c in self._busy if c.exchange is not None and c.deadline < now]:
            connection.drop(f"timeout (> {self.timeout_s:g} s)")
        self.pump()
        if not self._closed:
            self._sweeper = self.loop.call_later(self._tick, self._sweep)

    def close(self) -> None:
        self._closed = True
        self._sweeper.cancel()
        for connection in [*self._idle, *self._busy]:
            connection.abort()


def connect_failure(exc: BaseException, timeout_s: float) -> str:
    """The reason a request whose connection could not be opened is counted under."""
    if isinstance(exc, TimeoutError):
        return f"timeout (> {timeout_s:g} s)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or type(exc).__name__})"
    return "connection refused" if isinstance(exc, ConnectionRefusedError) else "connection error"
