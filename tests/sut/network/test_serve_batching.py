"""sut.serve's dynamic batching and SUT errors, with its app on a loopback test server."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest

if os.environ.get("CI") != "true":  # CI installs the extra; elsewhere these tests skip without it
    pytest.importorskip("aiohttp", reason="these tests' loopback servers need aiohttp: pip install '.[http]'")

import aiohttp
from aiohttp.test_utils import TestServer

from loadgen.engine.query import IndexQSL, SampleBatch
from sut.serve import Batcher, ModelServer


class RecordingSUT:
    """Completes each batch from a thread of its own, remembering the batch sizes."""

    name = "RecordingSUT"

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def issue_query(self, samples: SampleBatch) -> None:
        self.sizes.append(len(samples))
        threading.Thread(target=samples.complete, kwargs={"n_tokens": 3}).start()

    def flush_queries(self) -> None:
        """Nothing held back."""


class RaisingSUT(RecordingSUT):
    def issue_query(self, samples: SampleBatch) -> None:
        raise RuntimeError("out of memory")


async def post_all(sut: Any, n: int, max_batch: int, max_wait_s: float, path: str = "/infer") -> list[Any]:
    loop = asyncio.get_running_loop()
    server = ModelServer(sut, IndexQSL(16), "sut", Batcher(sut, loop, max_batch, max_wait_s))
    async with TestServer(server.app(), host="127.0.0.1") as test_server, aiohttp.ClientSession() as session:

        async def post(index: int) -> Any:
            async with session.post(test_server.make_url(path), json={"index": index}) as response:
                return response.status, await response.json()

        return await asyncio.gather(*(post(i) for i in range(n)))


def test_requests_arriving_together_are_issued_as_batches_of_at_most_max_batch() -> None:
    sut = RecordingSUT()
    answers = asyncio.run(post_all(sut, 10, max_batch=4, max_wait_s=0.2))
    assert [status for status, _ in answers] == [200] * 10
    assert sorted(body["index"] for _, body in answers) == list(range(10))
    assert sum(sut.sizes) == 10 and max(sut.sizes) == 4 and len(sut.sizes) == 3


def test_without_batching_each_request_is_its_own_sut_call() -> None:
    sut = RecordingSUT()
    asyncio.run(post_all(sut, 6, max_batch=1, max_wait_s=0.0))
    assert sut.sizes == [1] * 6


def test_a_sut_that_raises_answers_500_with_the_reason_and_the_server_goes_on() -> None:
    answers = asyncio.run(post_all(RaisingSUT(), 3, max_batch=1, max_wait_s=0.0))
    assert answers == [(500, {"error": "the SUT raised RuntimeError: out of memory"})] * 3


def test_a_bad_request_is_refused_with_400() -> None:
    async def post_bad() -> int:
        sut = RecordingSUT()
        loop = asyncio.get_running_loop()
        server = ModelServer(sut, IndexQSL(16), "sut", Batcher(sut, loop, 1, 0.0))
        async with (
            TestServer(server.app(), host="127.0.0.1") as test_server,
            aiohttp.ClientSession() as session,
            session.post(test_server.make_url("/infer"), data=b"{oops") as response,
        ):
            return response.status

    assert asyncio.run(post_bad()) == 400
