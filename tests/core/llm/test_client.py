"""The LLM client against the fake OpenAI-compatible server: retries, Retry-After, garbage,
dead and hanging servers, refusals, the overall deadline and the rpm limiter."""
from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from tabletalk.core.errors import Upstream
from tabletalk.core.llm.client import LLMClient, RateLimiter
from tests.fakes.openai_server import Disconnect, FakeOpenAI, Garbage, Hang, Reply, Status

MSG = [{"role": "user", "content": "hi"}]
SECRET = "sk-test-never-shown-0123456789"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def fake():
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def make_client():
    """LLMClient factory (fast backoff); every client is closed after the test."""
    clients: list[LLMClient] = []

    def make(base_url: str, **kw) -> LLMClient:
        kw.setdefault("backoff", 0.01)
        clients.append(LLMClient(base_url, SECRET, "fake-model", **kw))
        return clients[-1]

    yield make
    for c in clients:
        await c.close()


async def test_500_then_success_is_retried(fake, make_client):
    fake.script(Status(500), Reply("hello"))
    result = await make_client(fake.base_url).complete(MSG)
    assert (result.text, result.attempts, len(fake.requests)) == ("hello", 2, 2)


async def test_request_carries_model_messages_and_key(fake, make_client):
    fake.script(Reply("ok"))
    result = await make_client(fake.base_url).complete(MSG, model="other-model", temperature=0.3, max_tokens=50)
    body = fake.requests[0]
    assert (body["model"], body["messages"], body["temperature"], body["max_tokens"]) == ("other-model", MSG, 0.3, 50)
    assert fake.headers[0]["Authorization"] == f"Bearer {SECRET}"
    assert result.model == "other-model" and result.usage["total_tokens"] > 0


async def test_429_waits_as_long_as_retry_after_says(fake, make_client):
    fake.script(Status(429, headers={"Retry-After": "1"}), Reply("ok"))
    t0 = time.monotonic()
    assert (await make_client(fake.base_url).complete(MSG)).text == "ok"
    assert time.monotonic() - t0 >= 0.9  # the server's second, not the 10 ms backoff


async def test_retry_after_beyond_the_deadline_fails_at_once(fake, make_client):
    fake.script(Status(429, headers={"Retry-After": "3600"}))
    client = make_client(fake.base_url, deadline=3)
    with pytest.raises(Upstream, match="429 Too Many Requests"):
        await asyncio.wait_for(client.complete(MSG), 15)
    assert len(fake.requests) == 1


async def test_garbage_and_empty_completions_are_retried(fake, make_client):
    fake.script(Garbage(), Garbage(b"{}"), Reply("fine"))
    result = await make_client(fake.base_url, retries=3).complete(MSG)
    assert (result.text, len(fake.requests)) == ("fine", 3)


async def test_garbage_every_time_is_one_clear_error(fake, make_client):
    fake.script(Garbage(), Garbage(b"not json at all"), Garbage())
    with pytest.raises(Upstream, match=r"did not answer after 3 attempts \(last error: unusable answer"):
        await make_client(fake.base_url, retries=3).complete(MSG)


async def test_persistent_500_names_host_attempts_and_status(fake, make_client):
    fake.script(Status(500), Status(500), Status(500))
    with pytest.raises(Upstream) as err:
        await make_client(fake.base_url, retries=3).complete(MSG)
    assert err.value.detail == (f"The language model at 127.0.0.1:{fake.port} did not answer after 3 attempts "
                                "(last error: 500 Internal Server Error).")


async def test_dropped_connection_is_retried(fake, make_client):
    fake.script(Disconnect(), Reply("back"))
    assert (await make_client(fake.base_url).complete(MSG)).text == "back"


async def test_dead_server_is_upstream_error_naming_the_refusal(make_client):
    client = make_client(f"http://127.0.0.1:{closed_port()}/v1", retries=2, timeout=2)
    with pytest.raises(Upstream, match=r"after 2 attempts \(last error: connection refused\)"):
        await asyncio.wait_for(client.complete(MSG), 30)


async def test_hanging_server_hits_the_attempt_timeout(fake, make_client):
    fake.default = lambda body: Hang(30)
    client = make_client(fake.base_url, retries=2, timeout=0.5)
    with pytest.raises(Upstream, match="no answer within 0.5 s"):
        await asyncio.wait_for(client.complete(MSG), 20)
    assert len(fake.requests) == 2


async def test_overall_deadline_stops_retrying(fake, make_client):
    fake.default = lambda body: Hang(30)
    client = make_client(fake.base_url, retries=50, timeout=1, deadline=2.5)
    with pytest.raises(Upstream, match="within 2.5 s"):
        await asyncio.wait_for(client.complete(MSG), 20)
    assert len(fake.requests) <= 3  # not 50 attempts


@pytest.mark.parametrize("code,hint", [(400, "rejected"), (401, "check the API key"), (404, "check the base URL")])
async def test_client_errors_are_not_retried(fake, make_client, code, hint):
    fake.script(Status(code))
    with pytest.raises(Upstream, match=f"refused the request \\({code} .*{hint}"):
        await make_client(fake.base_url).complete(MSG)
    assert len(fake.requests) == 1


async def test_the_key_is_never_logged_or_shown(fake, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    fake.script(Status(503), Status(401))
    client = make_client(fake.base_url)
    with pytest.raises(Upstream) as err:
        await client.complete(MSG)
    assert SECRET not in caplog.text and SECRET not in repr(client) and SECRET not in err.value.detail
    assert "attempt 1/3 failed: 503" in caplog.text  # the log does say what happened


async def test_rate_limiter_allows_a_burst_then_spaces_calls():
    limiter = RateLimiter(rpm=600, burst=2)  # 10 a second, 2 at once
    starts = []

    async def one():
        await limiter.wait()
        starts.append(time.monotonic())

    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(6)))
    offsets = sorted(s - t0 for s in starts)
    assert offsets[1] < 0.05  # the burst starts at once
    assert offsets[-1] >= 0.35  # the other four wait for tokens (0.1 s each)


async def test_rpm_budget_spaces_concurrent_completions(fake, make_client):
    fake.default = lambda body: "ok"
    client = make_client(fake.base_url, rpm=120)  # 2 a second, a burst of 2
    t0 = time.monotonic()
    await asyncio.gather(*(client.complete(MSG) for _ in range(4)))
    assert time.monotonic() - t0 >= 0.9
    assert len(fake.requests) == 4


async def test_waiting_for_the_rpm_budget_does_not_use_up_the_deadline(fake, make_client):
    fake.default = lambda body: "ok"
    client = make_client(fake.base_url, rpm=60, deadline=0.8)  # one a second
    results = await asyncio.wait_for(asyncio.gather(*(client.complete(MSG) for _ in range(3))), 20)
    assert [r.text for r in results] == ["ok"] * 3
