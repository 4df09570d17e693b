"""A SUT that sends each sample over HTTP, from an asyncio loop in a thread of its own.

`issue_query` hands the batch to the loop and returns at once, so the harness's issue
loop is never blocked and Server stays open loop. A fixed pool of `max_in_flight` worker
coroutines takes samples first come, first served, over pooled keep-alive connections;
samples beyond the cap wait in the client, and that wait counts in their latency, as it
should. Every sample is answered: completed, or failed with a short reason (connection
refused, timeout, HTTP 503, invalid JSON, ...) through `SampleBatch.fail`, so a server
that dies mid-run is reported within `timeout_s` and never hangs the harness. An
unreachable server is refused in the constructor, before anything is timed.

Headers may carry an API key read from an environment variable; it is sent, never
stored in the SUT's name or in any message, so result.json and the logs never hold it.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import urllib.parse
import weakref
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import aiohttp

from loadgen.engine.query import SampleBatch
from loadgen.errors import SutLoadError
from sut.network.protocols import Answer, OpenAIProtocol, SampleFailedError, WireProtocol
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

ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an HTTP error answer that are read (and thrown away) so the connection is reused."""


def redacted(url: str) -> str:
    """The URL without user info or query string, which may hold credentials."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def failure_reason(exc: BaseException, timeout_s: float) -> str:
    """The short reason a request that raised is counted under."""
    if isinstance(exc, TimeoutError):
        return f"timeout (> {timeout_s:g} s)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        return "connection refused" if refused else "connection error"
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError)):
        return "connection lost"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"invalid HTTP response ({exc.message})"
    return f"client error ({type(exc).__name__})"


class HttpClientSUT:
    """POSTs every sample's request body (from its QSL, encoded at load) to `url` and reads
    the answer with `protocol`."""

    def __init__(
        self,
        url: str,
        protocol: WireProtocol,
        qsl: RequestQSL,
        headers: dict[str, str] | None = None,
        timeout_s: float = 5.0,
        max_in_flight: int = 128,
        name: str | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise SutLoadError(f"timeout_s must be > 0, got {timeout_s}")
        if max_in_flight < 1:
            raise SutLoadError(f"max_in_flight must be >= 1, got {max_in_flight}")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SutLoadError(f"url {redacted(url)!r}: expected http://host:port/path or https://...")
        self.url = url
        self.protocol = protocol
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self.name = name or f"HTTP {protocol.name} {redacted(url)}"
        self.qsl = qsl
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._masked = [value for value in (headers or {}).values() if len(value) >= 4]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="http-client-loop", daemon=True)
        self._thread.start()
        self._queue: asyncio.Queue[tuple[SampleBatch, int, int]] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task[None]] = []
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
        connector = aiohttp.TCPConnector(limit=self.max_in_flight, limit_per_host=self.max_in_flight)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            auto_decompress=False,
        )
        await self.probe_request()
        self._queue = asyncio.Queue()
        self._workers = [asyncio.ensure_future(self._work()) for _ in range(self.max_in_flight)]

    async def probe(self) -> None:
        """Refuse a server that takes no TCP connection, before anything is timed."""
        parts = urllib.parse.urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        where = f"{parts.hostname}:{port}"
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname, port), min(self.timeout_s, PROBE_TIMEOUT_S)
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
        session = self._session
        assert session is not None
        try:
            async with asyncio.timeout(min(self.timeout_s, PROBE_ANSWER_S)):
                async with session.post(self.url, data=self.qsl.probe_body()) as response:
                    if response.status < 400:
                        return
                    status, reason = response.status, response.reason or ""
                    body = await response.content.read(PROBE_EXCERPT_CHARS * 4)
        except (TimeoutError, aiohttp.ClientError):
            return
        raise SutLoadError(f"{redacted(self.url)}: a sample request was answered HTTP {status} {reason}"
                           f"{self._excerpt(body)}; {probe_hint(status, self.protocol.name)}")

    def _excerpt(self, body: bytes) -> str:
        """The start of an error answer, on one line, with the values of the given headers masked
        (a server may echo an API key back)."""
        text = " ".join(body.decode("utf-8", errors="replace").split())
        for value in self._masked:
            text = text.replace(value, "***")
        text = text[:PROBE_EXCERPT_CHARS]
        return f" ({text})" if text else ""

    def issue_query(self, samples: SampleBatch) -> None:
        """Queue the batch's samples on the client's loop; returns at once."""
        self._loop.call_soon_threadsafe(self._enqueue, samples)

    def _enqueue(self, samples: SampleBatch) -> None:
        queue = self._queue
        assert queue is not None
        for sample_id, index in zip(samples.ids.tolist(), samples.indices.tolist(), strict=True):
            queue.put_nowait((samples, sample_id, index))

    def flush_queries(self) -> None:
        """Every sample is sent as soon as a worker is free; nothing is held back."""

    async def _work(self) -> None:
        queue = self._queue
        assert queue is not None
        while True:
            batch, sample_id, index = await queue.get()
            try:
                answer = await self._send(batch, sample_id, index)
            except SampleFailedError as failed:
                batch.fail(sample_id, failed.reason)
            except Exception as exc:  # every sample is answered, whatever the server did
                batch.fail(sample_id, failure_reason(exc, self.timeout_s))
            else:
                response = answer.response if batch.keeps_responses else None
                batch.complete(sample_id, response_sizes=answer.size, responses=response, n_tokens=answer.n_tokens)

    async def _send(self, batch: SampleBatch, sample_id: int, index: int) -> Answer:
        session = self._session
        assert session is not None
        async with session.post(self.url, data=self.qsl.body(index)) as response:
            if response.status >= 400:
                await response.content.read(ERROR_BODY_LIMIT)
                raise SampleFailedError(f"HTTP {response.status}")
            if isinstance(self.protocol, OpenAIProtocol) and self.protocol.stream:
                return await self.protocol.read_stream(_lines(response.content), lambda: batch.first_token(sample_id))
            return self.protocol.read_body(await response.read())

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
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def __enter__(self) -> HttpClientSUT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_at_exit(ref: weakref.ref[HttpClientSUT]) -> None:
    sut = ref()
    if sut is not None:
        sut.close()


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    async for line in content:
        yield line


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
