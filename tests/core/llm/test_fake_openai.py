"""The fake OpenAI server speaks the wire protocol the real `openai` SDK expects: other suites
(table generation, chats, benches) rely on that, so it is checked with the SDK itself."""
from __future__ import annotations

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI, Reply, Status

MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture
async def sdk():
    async with FakeOpenAI(models=("fake-model", "fake-vision")) as fake:
        client = openai.AsyncOpenAI(base_url=fake.base_url, api_key="sk-x", max_retries=0)
        yield fake, client
        await client.close()


async def test_completion_has_the_chat_completion_shape(sdk):
    fake, client = sdk
    fake.script(Reply("hi there"))
    resp = await client.chat.completions.create(model="fake-model", messages=MSG)
    assert resp.object == "chat.completion" and resp.choices[0].message.role == "assistant"
    assert (resp.choices[0].message.content, resp.choices[0].finish_reason, resp.model) == ("hi there", "stop", "fake-model")
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


async def test_streaming_yields_chunks_then_done(sdk):
    fake, client = sdk
    text = "a reply long enough to arrive in several chunks"
    fake.script(Reply(text))
    stream = await client.chat.completions.create(model="fake-model", messages=MSG, stream=True,
                                                  stream_options={"include_usage": True})
    parts, usage = [], None
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
        usage = chunk.usage or usage
    assert "".join(parts) == text and len(parts) > 3 and usage.completion_tokens > 0


async def test_models_are_listed(sdk):
    _, client = sdk
    assert [m.id for m in (await client.models.list()).data] == ["fake-model", "fake-vision"]


async def test_default_responder_sees_the_request_and_may_return_a_behaviour(sdk):
    fake, client = sdk
    fake.default = lambda body: Status(503) if body["model"] == "down" else f"echo: {body['messages'][-1]['content']}"
    resp = await client.chat.completions.create(model="fake-model", messages=MSG)
    assert resp.choices[0].message.content == "echo: hello"
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="down", messages=MSG)
    assert [r["model"] for r in fake.requests] == ["fake-model", "down"] and fake.pending == 0


async def test_status_carries_its_body_and_headers(sdk):
    fake, client = sdk
    fake.script(Status(429, body={"error": {"message": "slow down", "type": "rate_limit"}}, headers={"Retry-After": "7"}))
    with pytest.raises(openai.RateLimitError) as err:
        await client.chat.completions.create(model="fake-model", messages=MSG)
    assert err.value.response.headers["retry-after"] == "7" and "slow down" in str(err.value)
