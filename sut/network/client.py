"""A SUT that sends each sample over HTTP, from an asyncio loop in a thread of its own.

`issue_query` hands the batch to the loop and returns at once, so the harness's issue
loop is never blocked and Server stays open loop. Requests go out over at most
`max_in_flight` pooled keep-alive connections (`sut.network.http1`, a lean HTTP/1.1
client: each request is framed when its sample is loaded and costs one write and one
parse), first come, first served; samples beyond the cap wait in the client, and that
wait counts in their latency, as it should. Every sample is answered: completed, or
failed with a short reason (connection refused, timeout, HTTP 503, invalid JSON, ...)
through `SampleBatch.fail`, so a server that dies mid-run is reported within `timeout_s`
and never hangs the harness. Before anything is timed the server must take a connection
and answer one real sample request without an HTTP error.

Headers may carry an API key read from an environment variable; it is sent, never
stored in the SUT's name or in any message, so result.json and the logs never hold it.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import http
import os
import ssl
import threading
import urllib.parse
import weakref
from collections.abc import Coroutine
from typing import Any

from loadgen.engine.query import SampleBatch
from loadgen.errors import SutLoadError
from sut.network.http1 import Pool, frame_request
from sut.network.protocols import OpenAIProtocol, SampleFailedError, SseReader, WireProtocol
from sut.network.samples import RequestQSL

PROBE_TIMEOUT_S = 5.0
"""How long the start-up check waits for a TCP connection to the server."""

PROBE_ANSWER_S = 2.0
"""How long the start-up check waits for the status of its sample request; a server slower
than that is not refused (its answers are timed and counted like any other)."""

PROBE_EXCERPT_CHARS = 200
"""How much of an error answer's body the refusal quotes."""

ROUTE_HINT = (
    "sut.serve answers POST / and /infer (generic JSON), /v2/models/NAME/infer (KServe v2), "
    "/v1/completions and /v1/chat/completions (OpenAI-compatible)"
)
USER_AGENT = "tinyperf-loadgen sut.network"


def redacted(url: str) -> str:
    """The URL without user info or query string, which may hold credentials."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class Target:
    """Where requests go: host, port, TLS, and the request's bytes for a body."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SutLoadError(f"url {redacted(url)!r}: expected http://host:port/path or https://...")
        try:
            port = parts.port
        except ValueError:
            raise SutLoadError(f"url {redacted(url)!r}: the port is not a number from 0 to 65535") from None
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        default = 443 if self.tls else 80
        self.port = port or default
        name = f"[{self.host}]" if ":" in self.host else self.host
        host_header = name if self.port == default else f"{name}:{self.port}"
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for key, value in headers.items():
            if any(c in f"{key}{value}" for c in "\r\n") or not key.strip() or ":" in key:
                raise SutLoadError(f"header {key!r}: names and values must be one line, names without ':'")
        self.headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json", **headers}
        self.host_header = host_header

    def frame(self, body: bytes) -> bytes:
        """One POST of `body` to the URL, as bytes."""
        return frame_request("POST", self.target, self.host_header, self.headers, body)


class SampleExchange:
    """One sample's request and its answer, read as it arrives: completed or failed exactly once."""

    __slots__ = ("batch", "chunks", "client", "failed", "request", "sample_id", "status", "stream")

    def __init__(self, client: HttpClientSUT, batch: SampleBatch, sample_id: int, request: bytes) -> None:
        self.client = client
        self.batch = batch
        self.sample_id = sample_id
        self.request = request
        self.status = 0
        self.failed = False
        self.chunks: list[bytes] = []
        self.stream: SseReader | None = None

    def head(self, status: int) -> None:
        self.status = status
        protocol = self.client.protocol
        if status < 400 and isinstance(protocol, OpenAIProtocol) and protocol.stream:
            batch, sample_id = self.batch, self.sample_id
            self.stream = protocol.stream_reader(lambda: batch.first_token(sample_id))

    def body(self, data: bytes) -> None:
        if self.failed or self.status >= 400:
            return  # read, so the connection is reused, and thrown away
        if self.stream is None:
            self.chunks.append(data)
            return
        try:
            self.stream.feed(data)
        except SampleFailedError as broken:
            self.fail(broken.reason)

    def end(self) -> None:
        if self.failed:
            return
        if self.status >= 400:
            self.fail(f"HTTP {self.status}")
            return
        batch = self.batch
        keep = batch.keeps_responses
        try:
            if self.stream is not None:
                answer = self.stream.finish()
            else:
                answer = self.client.protocol.read_body(b"".join(self.chunks), keep)
        except SampleFailedError as broken:
            self.fail(broken.reason)
            return
        response = answer.response if keep else None
        batch.complete(self.sample_id, response_sizes=answer.size, responses=response, n_tokens=answer.n_tokens)

    def fail(self, reason: str) -> None:
        if not self.failed:
            self.failed = True
            self.batch.fail(self.sample_id, reason)


class ProbeExchange:
    """The start-up check's request: its status (and, for an error, the start of its body)."""

    def __init__(self, request: bytes, answered: asyncio.Future[tuple[int, bytes] | None]) -> None:
        self.request = request
        self.answered = answered
        self.status = 0
        self.data = b""
        self.failure = ""

    def _settle(self, value: tuple[int, bytes] | None) -> None:
        if not self.answered.done():
            self.answered.set_result(value)

    def head(self, status: int) -> None:
        self.status = status
        if status < 400:
            self._settle((status, b""))

    def body(self, data: bytes) -> None:
        if self.status >= 400 and len(self.data) < PROBE_EXCERPT_CHARS * 4:
            self.data += data

    def end(self) -> None:
        self._settle((self.status, self.data))

    def fail(self, reason: str) -> None:
        self.failure = reason
        self._settle(None)


class HttpClientSUT:
    """POSTs every sample's request (from its QSL, framed at load) to `target` and reads the
    answer with `protocol`."""

    def __init__(
        self,
        target: Target,
        protocol: WireProtocol,
        qsl: RequestQSL,
        timeout_s: float = 5.0,
        max_in_flight: int = 128,
        name: str | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        if timeout_s <= 0:
            raise SutLoadError(f"timeout_s must be > 0, got {timeout_s}")
        if max_in_flight < 1:
            raise SutLoadError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self.target = target
        self.url = target.url
        self.protocol = protocol
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self.name = name or f"HTTP {protocol.name} {redacted(target.url)}"
        self.qsl = qsl
        self._secrets = [value for value in secrets if len(value) >= 4]
        self._incoming: collections.deque[SampleBatch] = collections.deque()
        self._drain_due = False
        self._pool: Pool | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="http-client-loop", daemon=True)
        self._thread.start()
        try:
            self._call(self._open())
        except BaseException:
            self.close()
            raise
        atexit.register(_close_at_exit, weakref.ref(self))  # no half-closed sockets at interpreter exit

    def _call(self, coroutine: Coroutine[Any, Any, Any], timeout_s: float | None = None) -> Any:
        """Run a coroutine on the client's loop and wait for it (set-up and shutdown only)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    async def _open(self) -> None:
        await self.probe()
        tls = ssl.create_default_context() if self.target.tls else None
        self._pool = Pool(self._loop, self.target.host, self.target.port, self.max_in_flight, self.timeout_s, tls)
        await self.probe_request()

    async def probe(self) -> None:
        """Refuse a server that takes no TCP connection, before anything is timed."""
        where = f"{self.target.host}:{self.target.port}"
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self.target.host, self.target.port), min(self.timeout_s, PROBE_TIMEOUT_S)
            )
        except TimeoutError:
            raise SutLoadError(f"{redacted(self.url)}: no answer from {where} within {PROBE_TIMEOUT_S:g} s") from None
        except OSError as exc:
            reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else exc.strerror or str(exc)
            raise SutLoadError(
                f"{redacted(self.url)}: cannot connect to {where} ({reason}); is the server running?"
            ) from None
        writer.close()

    async def probe_request(self) -> None:
        """Refuse a server that answers a real sample request with an HTTP error (a wrong path,
        missing credentials, a body it rejects), before anything is timed: otherwise every
        sample of the run would fail the same way. Slow or malformed answers are not refused
        here; once timed they are counted like any other."""
        pool = self._pool
        assert pool is not None
        answered: asyncio.Future[tuple[int, bytes] | None] = self._loop.create_future()
        exchange = ProbeExchange(self.qsl.probe_request(), answered)
        pool.submit(exchange)
        pool.pump()
        try:
            async with asyncio.timeout(min(self.timeout_s, PROBE_ANSWER_S)):
                answer = await answered
        except TimeoutError:
            answer = None
        finally:  # a long answer (a streamed generation) is not read to its end: the timed run starts now
            pool.abort(exchange)
        if answer is None and exchange.failure.startswith("TLS error"):
            raise SutLoadError(f"{redacted(self.url)}: {exchange.failure}; a server with a certificate of its own "
                               "needs it trusted: SSL_CERT_FILE=its-cert.pem")
        if answer is None or answer[0] < 400:
            return
        status, body = answer
        raise SutLoadError(f"{redacted(self.url)}: a sample request was answered HTTP {status} {_phrase(status)}"
                           f"{self._excerpt(body)}; {probe_hint(status, self.protocol.name)}")

    def _excerpt(self, body: bytes) -> str:
        """The start of an error answer, on one line, with the values of the given headers masked
        (a server may echo an API key back)."""
        text = " ".join(body.decode("utf-8", errors="replace").split())
        for value in self._secrets:
            text = text.replace(value, "***")
        text = text[:PROBE_EXCERPT_CHARS]
        return f" ({text})" if text else ""

    def issue_query(self, samples: SampleBatch) -> None:
        """Hand the batch to the client's loop; returns at once. Batches issued while the loop
        is busy share one wake-up, so a fast issue loop pays one self-pipe write per burst."""
        self._incoming.append(samples)
        if not self._drain_due:
            self._drain_due = True
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._drain_due = False  # before draining: a batch appended from now on schedules another drain
        pool, incoming, request = self._pool, self._incoming, self.qsl.request
        assert pool is not None
        while incoming:
            batch = incoming.popleft()
            for sample_id, index in zip(batch.ids.tolist(), batch.indices.tolist(), strict=True):
                pool.submit(SampleExchange(self, batch, sample_id, request(index)))
        pool.pump()

    def flush_queries(self) -> None:
        """Every sample is sent as soon as a connection is free; nothing is held back."""

    def close(self) -> None:
        """Close the connections and stop the loop's thread."""
        if not self._loop.is_running():
            return
        try:
            self._call(self._shutdown(), timeout_s=5.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5.0)
            if not self._thread.is_alive():
                self._loop.close()

    async def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.close()
        await asyncio.sleep(0)  # the transports' close callbacks run

    def __enter__(self) -> HttpClientSUT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _close_at_exit(ref: weakref.ref[HttpClientSUT]) -> None:
    sut = ref()
    if sut is not None:
        sut.close()


def probe_hint(status: int, protocol: str) -> str:
    """What to check when the start-up request is answered with an HTTP error."""
    if status in (404, 405):
        return f"is the path right? {ROUTE_HINT}"
    if status in (401, 403):
        return "the server wants credentials: give api_key_env=VARIABLE or headers={...}"
    if status in (400, 415, 422):
        return f"the server rejects a {protocol} request body: check protocol=, model= and dataset="
    if status >= 500:
        return "the server failed that request: see its log (is it still loading?)"
    return "see the server's documentation for that status"


def api_key_header(env_name: str | None) -> dict[str, str]:
    """`Authorization: Bearer <key>` from the named environment variable (none when unnamed)."""
    if env_name is None:
        return {}
    key = os.environ.get(env_name)
    if not key:
        raise SutLoadError(f"api_key_env={env_name}: that environment variable is not set")
    return {"Authorization": f"Bearer {key}"}
