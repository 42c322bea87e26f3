"""The LLM client against a fake OpenAI-compatible server: retries, Retry-After, garbage, dead servers."""
from __future__ import annotations

import asyncio
import socket
import time

import pytest

from tabletalk.core.errors import Upstream
from tabletalk.core.llm.client import LLMClient, RateLimiter
from tests.fakes.openai_server import FakeOpenAI, Garbage, Hang, Reply, Status

MSG = [{"role": "user", "content": "hi"}]


async def test_500_then_success_is_retried():
    async with FakeOpenAI() as fake:
        fake.script(Status(500), Reply("hello"))
        client = LLMClient(fake.base_url, "k", "m", backoff=0.01)
        result = await client.complete(MSG)
        assert result.text == "hello" and len(fake.requests) == 2


async def test_429_honours_retry_after():
    async with FakeOpenAI() as fake:
        fake.script(Status(429, headers={"Retry-After": "1"}), Reply("ok"))
        client = LLMClient(fake.base_url, "k", "m", backoff=0.01)
        t0 = time.monotonic()
        assert (await client.complete(MSG)).text == "ok"
        assert time.monotonic() - t0 >= 0.9  # waited as told, not the 10 ms backoff


async def test_garbage_then_success():
    async with FakeOpenAI() as fake:
        fake.script(Garbage(), Reply(""), Reply("fine"))
        client = LLMClient(fake.base_url, "k", "m", backoff=0.01, retries=3)
        assert (await client.complete(MSG)).text == "fine"


async def test_persistent_failure_is_one_clear_error():
    async with FakeOpenAI() as fake:
        fake.script(Status(503), Status(503), Status(503))
        client = LLMClient(fake.base_url, "k", "m", backoff=0.01, retries=3)
        with pytest.raises(Upstream, match="did not answer after 3 attempts"):
            await client.complete(MSG)


async def test_dead_server_fails_fast_and_clearly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = LLMClient(f"http://127.0.0.1:{port}/v1", "k", "m", backoff=0.01, retries=2, timeout=2)
    with pytest.raises(Upstream, match="connection failed"):
        await asyncio.wait_for(client.complete(MSG), 20)


async def test_hanging_server_hits_the_deadline():
    async with FakeOpenAI() as fake:
        fake.script(Hang(30), Hang(30))
        client = LLMClient(fake.base_url, "k", "m", backoff=0.01, retries=2, timeout=0.5)
        with pytest.raises(Upstream, match="no answer within"):
            await asyncio.wait_for(client.complete(MSG), 20)


async def test_bad_request_is_not_retried():
    async with FakeOpenAI() as fake:
        fake.script(Status(400))
        client = LLMClient(fake.base_url, "k", "m", backoff=0.01)
        with pytest.raises(Upstream, match="refused"):
            await client.complete(MSG)
        assert len(fake.requests) == 1


async def test_rate_limiter_spaces_calls():
    limiter = RateLimiter(rpm=600)  # one call every 100 ms
    t0 = time.monotonic()
    await asyncio.gather(*(limiter.wait() for _ in range(4)))
    assert time.monotonic() - t0 >= 0.29
