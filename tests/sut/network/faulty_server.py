"""A loopback server that misbehaves on purpose, one way per path, for the network SUT's tests.

    python tests/sut/network/faulty_server.py      # prints "listening on http://127.0.0.1:PORT"
    FAULTY_SERVER_TLS=cert.pem:key.pem python ...   # the same over https

POST /ok            `{"output": [1, 2]}`, recording each arrival (GET /arrivals lists them, ns) and the
                    client's address and port (GET /peers: how many connections carried them)
POST /close         `{"output": [1]}` with `Connection: close`: a server that keeps nothing alive
POST /status/N      HTTP status N
POST /echo/N        HTTP status N, echoing the request's headers in the body
POST /flaky/N/TAG   200 to the first request for TAG (the client's start-up check), HTTP status N after
POST /bad-json      200 with a body that is not JSON
POST /hang          never answers
POST /drop          closes the connection without an answer
POST /sse/ok        a valid OpenAI completion stream of 3 tokens, usage included
POST /sse/garbage   a stream whose lines are not server-sent events
POST /sse/not-json  a data line that is not JSON
POST /sse/no-done   3 tokens, then the stream ends without [DONE]
POST /sse/empty     [DONE] without a token
POST /sse/slow      a token every 50 ms for 10 s; GET /sse/gone counts the streams whose client left
POST /auth          200 only with `Authorization: Bearer <$FAULTY_SERVER_KEY>`, else 401
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time

from aiohttp import web

ARRIVALS: list[int] = []
PEERS: list[str] = []
FLAKY_SEEN: set[str] = set()
GONE: list[int] = []
TOKEN = b'data: {"choices":[{"index":0,"text":" t","finish_reason":null}]}\n\n'


async def ok(request: web.Request) -> web.Response:
    ARRIVALS.append(time.perf_counter_ns())
    PEERS.append(str(request.transport.get_extra_info("peername") if request.transport else None))
    await request.read()
    return web.json_response({"output": [1.0, 2.0]})


async def peers(request: web.Request) -> web.Response:
    return web.json_response(PEERS)


async def close(request: web.Request) -> web.Response:
    response = web.json_response({"output": [1.0]})
    response.force_close()
    return response


async def arrivals(request: web.Request) -> web.Response:
    return web.json_response(ARRIVALS)


async def status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="no")


async def echo(request: web.Request) -> web.Response:
    lines = [f"{name}: {value}" for name, value in request.headers.items()]
    return web.Response(status=int(request.match_info["code"]), text="\n".join(lines))


async def flaky(request: web.Request) -> web.Response:
    tag = request.match_info["tag"]
    if tag not in FLAKY_SEEN:
        FLAKY_SEEN.add(tag)
        return web.json_response({"output": [1.0]})
    return web.Response(status=int(request.match_info["code"]), text="no")


async def bad_json(request: web.Request) -> web.Response:
    return web.Response(body=b"{not json", content_type="application/json")


async def hang(request: web.Request) -> web.Response:
    await asyncio.sleep(3600)
    return web.Response()


async def drop(request: web.Request) -> web.Response:
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(0.1)
    return web.Response()


async def slow_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    try:
        for _ in range(200):
            await response.write(TOKEN)
            await asyncio.sleep(0.05)
    except (ConnectionError, RuntimeError):  # the client went away (aiohttp raises either)
        GONE.append(1)
    return response


async def gone(request: web.Request) -> web.Response:
    return web.json_response(len(GONE))


async def stream(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    if kind == "garbage":
        await response.write(b"<html>oops</html>\n")
        return response
    if kind == "not-json":
        await response.write(b"data: {oops\n\n")
        return response
    if kind != "empty":
        for _ in range(3):
            await response.write(TOKEN)
            await asyncio.sleep(0.002)
    if kind == "no-done":
        return response
    if kind == "ok":
        await response.write(b'data: {"choices":[],"usage":{"completion_tokens":3}}\n\n')
    await response.write(b"data: [DONE]\n\n")
    return response


async def auth(request: web.Request) -> web.Response:
    expected = f"Bearer {os.environ.get('FAULTY_SERVER_KEY', '')}"
    if request.headers.get("Authorization") != expected:
        return web.Response(status=401)
    return web.json_response({"output": [1.0]})


async def main() -> None:
    app = web.Application()
    app.add_routes(
        [
            web.post("/ok", ok),
            web.get("/arrivals", arrivals),
            web.get("/peers", peers),
            web.post("/close", close),
            web.get("/health", arrivals),
            web.post("/status/{code}", status),
            web.post("/flaky/{code}/{tag}", flaky),
            web.post("/echo/{code}", echo),
            web.post("/bad-json", bad_json),
            web.post("/hang", hang),
            web.post("/drop", drop),
            web.post("/sse/slow", slow_stream),
            web.get("/sse/gone", gone),
            web.post("/sse/{kind}", stream),
            web.post("/auth", auth),
        ]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tls = None
    if os.environ.get("FAULTY_SERVER_TLS"):  # "CERT:KEY": serve https
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(*os.environ["FAULTY_SERVER_TLS"].split(":"))
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls).start()
    host, port = runner.addresses[0][:2]
    print(f"listening on http{'s' if tls else ''}://{host}:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
