"""`python -m sut.serve`: serve any SUT over HTTP, as a model server would, for network benchmarks.

    python -m sut.serve                                   # DigitMLP on TinyDigits, port 8100
    python -m sut.serve --sut sut.tokens --sut-arg ttft_ms=20 --sut-arg tpot_ms=5 --port 8200
    python -m sut.serve --sut sut.fixed_time --max-batch 32 --max-wait-ms 2

Routes (aiohttp's server, bound to 127.0.0.1 unless --host says otherwise):
- `GET /health` (and KServe's `/v2/health/ready`): 200 once the SUT is loaded;
- `POST /` and `POST /infer`: generic JSON `{"index": i}` -> `{"index": i, "output": [...]}`
  (so a bare `url=http://127.0.0.1:8100` works as well as `.../infer`);
- `POST /v2/models/{name}/infer`: KServe v2 / Triton, the index as an `index` input or the id;
- `POST /v1/completions`, `/v1/chat/completions` (and `GET /v1/models`): OpenAI-compatible,
  streamed as server-sent events with `"stream": true`. The first chunk goes out when the
  SUT reports its first token, the rest when it completes with its token count (the SUT
  protocol reports no token in between), so a client measures the SUT's TTFT and TPOT.

Each request becomes a sample of the served SUT's own QSL (it reads its own data, as in
process: features sent along are not used; an index past the QSL's end wraps around);
with --max-batch N, requests that arrive within --max-wait-ms are issued as one batch of
up to N. The SUT is called on the server's loop (no thread hop), or with --issue-thread
from a thread of its own, so a SUT that computes long inside issue_query never stalls the
server; answers may come back from any thread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import queue
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from aiohttp import web

from loadgen.cli.sut_spec import build_sut, qsl_for
from loadgen.engine.query import QuerySampleLibrary, SampleBatch, SystemUnderTest
from loadgen.errors import LoadgenError
from loadgen.settings.layers import parse_assignment
from sut.tinytorch import looks_like_model, wrap_model_over_tinydigits

DEFAULT_SUT = "sut.digit_mlp"
DEFAULT_PORT = 8100
EXAMPLES = """\
examples:
  python -m sut.serve                                   # DigitMLP on TinyDigits, port 8100
  python -m sut.serve --sut sut.tokens --sut-arg ttft_ms=20 --sut-arg tpot_ms=5 --port 8200
  python -m sut.serve --sut sut.fixed_time --max-batch 32 --max-wait-ms 2
then, from another shell:
  python -m loadgen.run --scenario server --sut sut.network --sut-arg url=http://127.0.0.1:8100
"""


class SampleFailure(Exception):
    """The SUT failed a sample, or raised: the request answers 500 with the reason."""


class Pending:
    """One request waiting for its sample: its first token and its answer, as futures."""

    __slots__ = ("done", "first", "index")

    def __init__(self, loop: asyncio.AbstractEventLoop, index: int) -> None:
        self.index = index
        self.first: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[tuple[Any, int | None]] = loop.create_future()


def _settle(future: asyncio.Future[Any], value: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _pick(values: Any, position: int) -> Any:
    """The value for one sample of a per-sample argument (array, list) or a shared scalar."""
    if values is None or isinstance(values, (bytes, int, np.integer)):
        return values
    return values[position]


class ServedBatch(SampleBatch):
    """The samples of requests the server issues at once; completing them answers the requests.

    It is a SampleBatch to the SUT, but its samples belong to waiting requests, not to a
    recorder: every call is handed to the server's event loop."""

    def __init__(self, ids: np.ndarray, indices: np.ndarray, pending: list[Pending], loop: asyncio.AbstractEventLoop):
        self.ids = ids
        self.indices = indices
        self._pending = pending
        self._loop = loop
        self._loop_thread = threading.get_ident()  # batches are made on the loop's thread

    def _settle(self, future: asyncio.Future[Any], value: Any = None, error: BaseException | None = None) -> None:
        """Settle a request's future: at once on the loop's thread, else through the loop."""
        if threading.get_ident() == self._loop_thread:
            _settle(future, value, error)
        else:
            self._loop.call_soon_threadsafe(_settle, future, value, error)

    @property
    def keeps_responses(self) -> bool:
        """Always: the responses are what the server sends back."""
        return True

    def _positions(self, ids: Any) -> list[int]:
        first = int(self.ids[0])
        if ids is None:
            return list(range(len(self.ids)))
        chosen = np.atleast_1d(np.asarray(ids, dtype=np.int64)) - first
        if chosen.size and (chosen.min() < 0 or chosen.max() >= len(self.ids)):
            raise ValueError(f"sample ids {np.asarray(ids).tolist()} are not in this batch")
        return chosen.tolist()

    def first_token(self, ids: Any = None) -> None:
        for position in self._positions(ids):
            self._settle(self._pending[position].first)

    def complete(
        self, ids: Any = None, response_sizes: Any = None, responses: Any = None, n_tokens: Any = None
    ) -> None:
        for k, position in enumerate(self._positions(ids)):
            answer = (_pick(responses, k), _pick(n_tokens, k))
            self._settle(self._pending[position].done, answer)

    def fail(self, ids: Any = None, reason: str = "failed") -> None:
        for position in self._positions(ids):
            self._settle(self._pending[position].done, None, SampleFailure(reason))

    def breach(self, reason: str) -> None:
        """A protocol breach ends nothing here: the batch's requests answer 500 with the reason."""
        self.fail(reason=f"the SUT broke the protocol: {reason}")


class Batcher:
    """Collects requests into batches (up to max_batch, waiting at most max_wait_s for more)
    and issues them to the SUT: on the loop's thread (no thread hop: best for SUTs that
    answer quickly or from threads of their own), or from one issue thread of its own
    (`issue_thread`: for SUTs whose issue_query computes for long)."""

    def __init__(
        self, sut: SystemUnderTest, loop: asyncio.AbstractEventLoop, max_batch: int, max_wait_s: float,
        issue_thread: bool = False,
    ) -> None:
        self.sut = sut
        self.loop = loop
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._waiting: list[Pending] = []
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._ids = itertools.count(1)
        self._issues: queue.SimpleQueue[ServedBatch | None] | None = None
        if issue_thread:
            self._issues = queue.SimpleQueue()
            threading.Thread(target=self._issue_forever, name="serve-issue", daemon=True).start()

    def submit(self, index: int) -> Pending:
        """A request for sample `index`; it is issued with the batch it falls into."""
        pending = Pending(self.loop, index)
        self._waiting.append(pending)
        if len(self._waiting) >= self.max_batch:
            self.flush()
        elif self._timer is None:
            wait = self.max_wait_s
            self._timer = self.loop.call_later(wait, self.flush) if wait > 0 else self.loop.call_soon(self.flush)
        return pending

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, []
        if not waiting:
            return
        first = next(self._ids)
        for _ in range(len(waiting) - 1):
            next(self._ids)
        ids = np.arange(first, first + len(waiting), dtype=np.int64)
        indices = np.fromiter((p.index for p in waiting), dtype=np.int64, count=len(waiting))
        batch = ServedBatch(ids, indices, waiting, self.loop)
        if self._issues is None:
            self._issue(batch)
        else:
            self._issues.put(batch)

    def _issue(self, batch: ServedBatch) -> None:
        try:
            self.sut.issue_query(batch)
        except Exception as exc:  # a SUT that raises answers 500, the server goes on
            batch.fail(reason=f"the SUT raised {type(exc).__name__}: {exc}")

    def _issue_forever(self) -> None:
        assert self._issues is not None
        while (batch := self._issues.get()) is not None:
            self._issue(batch)

    def stop(self) -> None:
        if self._issues is not None:
            self._issues.put(None)


def _output(response: Any) -> Any:
    if isinstance(response, np.ndarray):
        return response.tolist()
    if isinstance(response, (bytes, bytearray)):
        return bytes(response).hex()
    return response


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "the body is not JSON"}), content_type="application/json"
        ) from None


class ModelServer:
    """The routes, around one SUT and its QSL."""

    def __init__(self, sut: SystemUnderTest, qsl: QuerySampleLibrary, model_name: str, batcher: Batcher) -> None:
        self.sut = sut
        self.qsl = qsl
        self.model_name = model_name
        self.batcher = batcher
        self._requests = itertools.count()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 2**20)
        app.add_routes(
            [
                web.get("/health", self.health),
                web.get("/v2/health/ready", self.health),
                web.get("/v2/models/{name}/ready", self.health),
                web.post("/", self.infer),
                web.post("/infer", self.infer),
                web.post("/v2/models/{name}/infer", self.kserve),
                web.get("/v1/models", self.models),
                web.post("/v1/completions", self.completions),
                web.post("/v1/chat/completions", self.completions),
            ]
        )
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ready", "sut": self.sut.name, "samples": self.qsl.total_sample_count})

    def _index(self, value: Any) -> int:
        """The served sample for a request's index: indices past the QSL wrap around, so a
        client with more samples than this SUT still gets answers."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise web.HTTPBadRequest(
                text=json.dumps({"error": f"sample index {value!r}: allowed: a whole number >= 0"}),
                content_type="application/json",
            )
        return value % self.qsl.total_sample_count

    async def _answer(self, index: int) -> tuple[Any, int | None]:
        return await self.batcher.submit(index).done

    async def infer(self, request: web.Request) -> web.Response:
        body = await _json(request)
        index = self._index(body.get("index") if isinstance(body, dict) else None)
        try:
            response, _ = await self._answer(index)
        except SampleFailure as exc:
            return _error(500, str(exc))
        return web.json_response({"index": index, "output": _output(response)})

    async def kserve(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name != self.model_name:
            return _error(404, f"unknown model {name!r}; this server serves {self.model_name!r}")
        body = await _json(request)
        index = self._index(kserve_index(body))
        try:
            response, _ = await self._answer(index)
        except SampleFailure as exc:
            return _error(500, str(exc))
        data = np.asarray(response if isinstance(response, np.ndarray) else [], dtype=np.float32).ravel()
        output = {"name": "output", "datatype": "FP32", "shape": [1, int(data.size)], "data": data.tolist()}
        return web.json_response({"model_name": name, "id": body.get("id", ""), "outputs": [output]})

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model_name, "object": "model"}]})

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        chat = request.path.endswith("/chat/completions")
        pending = self.batcher.submit(next(self._requests) % self.qsl.total_sample_count)
        if not body.get("stream"):
            try:
                _, n_tokens = await pending.done
            except SampleFailure as exc:
                return _error(500, str(exc))
            return web.json_response(completion(chat, self.model_name, n_tokens or 1))
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await stream.prepare(request)
        chunk = sse(token_chunk(chat, self.model_name))
        either: list[asyncio.Future[Any]] = [pending.first, pending.done]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        sent = 0
        if pending.first.done():
            await stream.write(chunk)
            sent = 1
        try:
            _, n_tokens = await pending.done
        except SampleFailure as exc:
            await stream.write(sse({"error": {"message": str(exc), "type": "server_error"}}))
            return stream
        total = max(n_tokens or 1, sent)
        await stream.write(chunk * (total - sent))
        if (body.get("stream_options") or {}).get("include_usage"):
            await stream.write(sse({"choices": [], "usage": usage(total)}))
        await stream.write(b"data: [DONE]\n\n")
        return stream


def kserve_index(body: Any) -> Any:
    """The sample index of a KServe v2 request: its `index` input, else its id."""
    if not isinstance(body, dict):
        return None
    for tensor in body.get("inputs") or []:
        if isinstance(tensor, dict) and tensor.get("name") == "index" and tensor.get("data"):
            return tensor["data"][0]
    try:
        return int(body.get("id", ""))
    except (TypeError, ValueError):
        return None


def sse(document: object) -> bytes:
    return b"data: " + json.dumps(document, separators=(",", ":")).encode() + b"\n\n"


def token_chunk(chat: bool, model: str) -> dict[str, Any]:
    """One streamed token as OpenAI sends it (a completion chunk or a chat delta)."""
    created = int(time.time())
    if chat:
        choice: dict[str, Any] = {"index": 0, "delta": {"content": " tok"}, "finish_reason": None}
        return {"id": "chatcmpl-sut", "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [choice]}
    choice = {"index": 0, "text": " tok", "logprobs": None, "finish_reason": None}
    return {"id": "cmpl-sut", "object": "text_completion", "created": created, "model": model, "choices": [choice]}


def usage(n_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": n_tokens, "total_tokens": n_tokens}


def completion(chat: bool, model: str, n_tokens: int) -> dict[str, Any]:
    text = " tok" * n_tokens
    choice: dict[str, Any] = {"index": 0, "finish_reason": "length"}
    choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
    kind = "chat.completion" if chat else "text_completion"
    return {"id": "cmpl-sut", "object": kind, "model": model, "choices": [choice], "usage": usage(n_tokens)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sut.serve",
        description="Serve a SUT over HTTP: generic JSON (/ and /infer), KServe v2 (/v2/models/NAME/infer) and "
        "OpenAI-compatible streaming (/v1/completions, /v1/chat/completions); GET /health for readiness.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXAMPLES,
    )
    parser.add_argument("--sut", default=DEFAULT_SUT, help=f"a --sut spec as for loadgen.run (default {DEFAULT_SUT})")
    parser.add_argument("--sut-arg", dest="sut_args", action="append", default=[], metavar="KEY=VALUE",
                        help="keyword argument for the SUT factory (repeatable)")
    parser.add_argument("--samples", type=int, default=1024, help="QSL size for SUTs without a qsl (default 1024)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)"
    )
    parser.add_argument("--max-batch", type=int, default=1, help="dynamic batching: samples per SUT call at most")
    parser.add_argument("--max-wait-ms", type=float, default=0.0,
                        help="dynamic batching: how long a request waits for others to join its batch")
    parser.add_argument(
        "--issue-thread", action="store_true",
        help="call the SUT's issue_query from a thread of its own (for SUTs that compute inside it for long; "
        "by default it is called on the server's loop, which saves a thread hop per batch)",
    )
    parser.add_argument("--model-name", default="sut", help="the model name of the KServe and OpenAI routes")
    return parser


def _model_as_sut(obj: object) -> SystemUnderTest | None:
    return wrap_model_over_tinydigits(obj) if looks_like_model(obj) else None


async def serve_until_signalled(app: web.Application, host: str, port: int, banner: str) -> int:
    """Serve `app` until SIGINT or SIGTERM (returned); prints `banner` and the address once it
    accepts connections (port 0: the one the OS chose), so a parent process can read where it is."""
    loop = asyncio.get_running_loop()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024).start()
    stopped: asyncio.Future[int] = loop.create_future()

    def stop(signum: int) -> None:
        if not stopped.done():
            stopped.set_result(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    bound_host, bound_port = runner.addresses[0][:2]
    print(f"{banner} on http://{bound_host}:{bound_port} (GET /health)", flush=True)
    try:
        return await stopped
    finally:
        await runner.cleanup()


async def serve(args: argparse.Namespace, sut: SystemUnderTest, qsl: QuerySampleLibrary) -> int:
    """Serve the SUT until SIGINT or SIGTERM; returns the signal."""
    batcher = Batcher(sut, asyncio.get_running_loop(), args.max_batch, args.max_wait_ms / 1000, args.issue_thread)
    try:
        app = ModelServer(sut, qsl, args.model_name, batcher).app()
        return await serve_until_signalled(app, args.host, args.port, f"sut.serve: {sut.name}")
    finally:
        batcher.stop()


def print_error(message: object) -> None:
    for line in str(message).splitlines():
        print(f"error: {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes (the project's table): 130 stopped by SIGINT, 143 by SIGTERM (the ways to stop a
    server); 1 cannot serve (the port is taken); 2 bad usage or SUT spec (nothing ran)."""
    args = build_parser().parse_args(argv)
    if args.max_batch < 1 or args.max_wait_ms < 0 or not 0 <= args.port <= 65535:
        print_error("--max-batch must be >= 1, --max-wait-ms >= 0 and --port 0 to 65535")
        return 2
    try:
        kwargs = dict(parse_assignment(text) for text in args.sut_args)
        sut = build_sut(args.sut, kwargs, adapt=_model_as_sut)
        qsl = qsl_for(sut, args.samples)
        qsl.load_samples(np.arange(qsl.total_sample_count))
    except LoadgenError as exc:
        print_error(exc)
        return 2
    try:
        signum = asyncio.run(serve(args, sut, qsl))
    except OSError as exc:
        print_error(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}")
        return 1
    with contextlib.suppress(Exception):
        qsl.unload_samples(np.arange(qsl.total_sample_count))
    return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
