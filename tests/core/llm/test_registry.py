"""The models registry: the environment provider, user providers from dicts, resolution by name or
alias, write-only keys, and clients that follow provider changes — calls go to fake servers."""
from __future__ import annotations

import pytest

from tabletalk.config.settings import Settings
from tabletalk.core.errors import Invalid, NotFound
from tabletalk.core.llm.registry import ModelRegistry
from tests.fakes.openai_server import FakeOpenAI

MSG = [{"role": "user", "content": "hi"}]


def settings(**env) -> Settings:
    return Settings(**env)


@pytest.fixture
async def registry():
    regs: list[ModelRegistry] = []

    def make(**env) -> ModelRegistry:
        regs.append(ModelRegistry.from_settings(settings(**env)))
        return regs[-1]

    yield make
    for r in regs:
        await r.close()


async def test_no_provider_means_unavailable(registry):
    reg = registry()
    assert not reg.available and reg.default is None and reg.names() == []
    with pytest.raises(Invalid, match="No language model is configured"):
        reg.resolve()


async def test_environment_provider_is_the_default_and_not_editable(registry):
    async with FakeOpenAI() as fake:
        reg = registry(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-env", TABLETALK_LLM_MODEL="env-model")
        [env] = reg.providers
        assert (env.name, env.editable, reg.default.model, reg.names()) == ("env", False, "env-model", ["env-model"])
        client, info = reg.resolve(None)
        fake.script("from env")
        assert (await client.complete(MSG)).text == "from env"
    assert fake.requests[0]["model"] == "env-model"
    assert fake.headers[0]["Authorization"] == "Bearer sk-env"


async def test_alias_resolves_to_its_provider_endpoint_key_and_rpm(registry):
    async with FakeOpenAI() as env_llm, FakeOpenAI() as local:
        reg = registry(OPENAI_BASE_URL=env_llm.base_url, OPENAI_API_KEY="sk-env")
        reg.add_provider({"name": "local", "base_url": local.base_url, "key": "sk-local", "models": [
            {"model": "qwen2.5-7b", "alias": "fast", "rpm": 120, "max_tokens": 8192},
            {"model": "llava", "image": True}]})
        client, info = reg.resolve("fast")
        assert (info.model, info.client, info.max_tokens, client.limiter.rpm) == ("qwen2.5-7b", "local", 8192, 120)
        local.script("local answer")
        assert (await client.complete(MSG, model=info.model)).text == "local answer"
        assert reg.resolve("local/llava")[1].image
        assert reg.names() == ["gpt-4o-mini", "fast", "llava"]
        assert reg.resolve("fast")[0] is client  # one client per model, reused
    assert env_llm.requests == []
    assert local.requests[0]["model"] == "qwen2.5-7b" and local.headers[0]["Authorization"] == "Bearer sk-local"


async def test_unknown_model_names_what_exists(registry):
    reg = registry(OPENAI_API_KEY="sk-env")
    with pytest.raises(NotFound, match="Model 'gpt-9' is not configured. Available: gpt-4o-mini"):
        reg.resolve("gpt-9")


async def test_disabled_provider_models_are_not_offered(registry):
    reg = registry()
    reg.add_provider({"name": "off", "base_url": "http://127.0.0.1:9/v1", "enabled": False, "models": [{"model": "m"}]})
    assert not reg.available
    with pytest.raises(Invalid):
        reg.resolve("m")


async def test_key_is_write_only(registry):
    reg = registry(OPENAI_API_KEY="sk-env-secret")
    reg.add_provider({"name": "p", "base_url": "http://127.0.0.1:9/v1", "key": "sk-user-secret", "models": [{"model": "m"}]})
    shown = repr(reg.providers) + str(reg.view())
    assert "sk-env-secret" not in shown and "sk-user-secret" not in shown
    assert [p["key"] for p in reg.view()] == ["***", "***"]


async def test_export_and_load_round_trip_keeps_the_env_provider(registry):
    reg = registry(OPENAI_API_KEY="sk-env")
    reg.add_provider({"name": "p", "base_url": "http://127.0.0.1:9/v1", "key": "sk-p",
                      "models": [{"model": "m", "alias": "a", "rpm": 30, "default": True}]})
    stored = reg.export()
    assert stored[0]["key"] == "sk-p" and stored[0]["models"][0]["rpm"] == 30 and len(stored) == 1
    other = registry(OPENAI_API_KEY="sk-env")
    other.load(stored)
    assert [p.name for p in other.providers] == ["env", "p"]
    assert other.default.alias == "a"  # the user's default wins over the env one's first place
    other.load([])
    assert [p.name for p in other.providers] == ["env"]


async def test_invalid_provider_dicts_are_refused(registry):
    reg = registry()
    with pytest.raises(Invalid, match="type"):
        reg.add_provider({"name": "x", "type": "anthropic"})
    with pytest.raises(Invalid, match="'model' name"):
        reg.add_provider({"name": "x", "models": [{"alias": "no model"}]})
    reg.add_provider({"name": "x"})
    with pytest.raises(Invalid, match="already registered"):
        reg.add_provider({"name": "x"})


async def test_changed_key_gets_a_new_client(registry):
    async with FakeOpenAI() as fake:
        fake.default = lambda body: "ok"
        reg = registry()
        reg.load([{"id": 1, "name": "p", "base_url": fake.base_url, "key": "sk-old", "models": [{"model": "m"}]}])
        old, _ = reg.resolve("m")
        await old.complete(MSG)
        reg.load([{"id": 1, "name": "p", "base_url": fake.base_url, "key": "sk-new", "models": [{"model": "m"}]}])
        new, _ = reg.resolve("m")
        await new.complete(MSG)
    assert new is not old
    assert [h["Authorization"] for h in fake.headers] == ["Bearer sk-old", "Bearer sk-new"]


async def test_remove_provider_leaves_the_env_one(registry):
    reg = registry(OPENAI_API_KEY="sk-env")
    p = reg.add_provider({"name": "p", "models": [{"model": "m"}]})
    reg.remove_provider(p.id)
    assert [x.name for x in reg.providers] == ["env"]
    with pytest.raises(NotFound):
        reg.remove_provider(0)  # the env provider is not editable


async def test_resolution_follows_every_provider_change(registry):
    """resolve() remembers its answers; adding, loading, disabling, removing and closing forget them."""
    reg = registry(OPENAI_API_KEY="sk-env", TABLETALK_LLM_MODEL="env-model")
    assert reg.resolve()[1].model == "env-model"
    assert reg.resolve()[0] is reg.resolve()[0]
    p = reg.add_provider({"name": "p", "models": [{"model": "mine", "default": True}]})
    assert reg.resolve()[1].model == "mine"
    assert reg.resolve("mine")[1].client == "p"
    reg.load([{"id": p.id, "name": "p", "enabled": False, "models": [{"model": "mine", "default": True}]}])
    assert reg.resolve()[1].model == "env-model"
    with pytest.raises(NotFound):
        reg.resolve("mine")
    reg.load([{"id": p.id, "name": "p", "models": [{"model": "mine", "default": True}]}])
    before, _ = reg.resolve()
    await reg.close()
    after, info = reg.resolve()
    assert info.model == "mine" and after is not before  # a closed client is never handed out again
    reg.remove_provider(p.id)
    assert reg.resolve()[1].model == "env-model"
    with pytest.raises(NotFound):
        reg.resolve("mine")
