"""A loopback null server for the network benchmarks: answers every POST at once with `{}`.

    python -m bench.null_server --port 0     # prints "null server on http://127.0.0.1:PORT"

It does no work, so what a client measures against it is the client's own cost (and
the loopback's). aiohttp's server, one process, no access log.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from aiohttp import web

from sut.serve import serve_until_signalled

_BODY = b"{}"


async def answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=_BODY, content_type="application/json")


async def health(request: web.Request) -> web.Response:
    return web.Response(body=_BODY, content_type="application/json")


def app() -> web.Application:
    application = web.Application()
    application.add_routes([web.post("/{tail:.*}", answer), web.get("/{tail:.*}", health)])
    return application


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.null_server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    return 128 + asyncio.run(serve_until_signalled(app(), args.host, args.port, "null server"))


if __name__ == "__main__":
    raise SystemExit(main())
