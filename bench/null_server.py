"""A loopback null server for the network benchmarks: answers every POST at once with `{}`.

    python -m bench.null_server --port 0     # prints "listening on http://127.0.0.1:PORT"

It does no work, so what a client measures against it is the client's own cost (and
the loopback's). aiohttp's server, one process, no access log.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence

from aiohttp import web

_BODY = b"{}"


async def answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=_BODY, content_type="application/json")


async def health(request: web.Request) -> web.Response:
    return web.Response(body=_BODY, content_type="application/json")


async def serve(host: str, port: int) -> None:
    app = web.Application()
    app.add_routes([web.post("/{tail:.*}", answer), web.get("/{tail:.*}", health)])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=4096).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bound_host, bound_port = runner.addresses[0][:2]
    print(f"listening on http://{bound_host}:{bound_port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.null_server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
