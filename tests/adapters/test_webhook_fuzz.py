"""Malformed but correctly authenticated webhook deliveries: never a 500 (platforms retry those for
hours), a 4xx with `detail` when the delivery is malformed, a 200 when it is merely not for us, and
no answering task that crashes afterwards.

The named cases are the ones found by hand (issue #16); the mutation fuzzing then takes every real
sample payload and breaks it at random places (wrong types, missing keys, deep nesting).
"""
from __future__ import annotations

import json
import logging
import random

import pytest

from tabletalk.adapters.delivery import DELIVERIES
from tests.adapters.test_platform_samples import (FS_KEYS, FS_TOKEN, SLACK_SECRET, TG_ID, TG_NAME, TG_SECRET,
                                                  feishu_request, load, slack_request, telegram_request)
from tests.conftest import ADMIN, running_app
from tests.fakes.feishu_api import FakeFeishu, encrypt
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture
async def hooks(tmp_path):
    async with FakeSlack() as slack, FakeTelegram(bot_id=TG_ID, username=TG_NAME) as tg, FakeFeishu() as fs:
        async with running_app(tmp_path / "home") as (app, http, ds):
            bots = [("plat-slack", {"slack": {"bot_token": "xoxb-f", "signing_secret": SLACK_SECRET, "api_base_url": slack.api_url}}),
                    ("plat-tg", {"telegram": {"token": f"{TG_ID}:F", "secret_token": TG_SECRET, "api_base_url": tg.api_url}})]
            bots += [(b, {"feishu": {"app_id": b, "app_secret": "s", "verification_token": FS_TOKEN, "domain": fs.domain}
                          | ({"encrypt_key": k} if k else {})}) for b, k in FS_KEYS.items() if b != "plat-fs-mazhe"]
            for bot_id, channels in bots:
                async with http.post("/api/v1/bots", headers=ADMIN, json={"id": bot_id, "name": "F", "datasource_ids": [ds],
                                                                          "channels": channels}) as r:
                    assert r.status == 201, await r.text()
            yield app, http


async def _post(http, path: str, body: bytes, headers: dict) -> tuple[int, dict | None]:
    async with http.post(path, data=body, headers=headers) as resp:
        data = await resp.json() if resp.content_type == "application/json" else None
        assert resp.status < 500, f"{path}: {resp.status} for {body[:200]!r}"
        if resp.status >= 400:
            assert isinstance(data, dict) and data.get("detail"), f"{resp.status} without detail for {body[:200]!r}"
        return resp.status, data


def _slack(body: bytes, timestamp: str | None = None, content_type: str = "application/json") -> tuple[bytes, dict]:
    headers = FakeSlack.sign(SLACK_SECRET, body) | {"Content-Type": content_type}
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    return body, headers


def _tg(body: bytes) -> tuple[bytes, dict]:
    return body, {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"}


def _fs_enc(plain: str) -> tuple[bytes, dict]:
    return feishu_request({"bot": "plat-fs-enc", "payload_raw": json.dumps({"encrypt": encrypt("1212121212", plain)}),
                           "content_type": "application/json"}, {})


def _fs_raw(body: bytes) -> tuple[bytes, dict]:
    return feishu_request({"bot": "plat-fs-enc", "payload_raw": body.decode(), "content_type": "application/json"}, {})


NESTED = b"[" * 100_000
DEEP = json.loads("[" * 100 + "]" * 100)  # valid JSON, deeper than any route accepts (64), within Python's limit
EVENT = {"type": "event_callback", "event_id": "EvF1", "event": {"type": "app_mention", "user": "U1", "channel": "C1",
                                                                  "ts": "1.1", "text": "<@U0> How many orders?"}}
MESSAGE = {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "is_bot": False}, "text": "hi"}
CASES = [  # (path, () -> (body, headers), expected status): signed when sent, not at import
    ("/webhooks/slack/plat-slack", lambda: _slack(json.dumps(EVENT).encode(), timestamp="x"), 401),
    ("/webhooks/slack/plat-slack", lambda: _slack(b"[1, 2]"), 400),
    ("/webhooks/slack/plat-slack", lambda: _slack(b'"x"'), 400),
    ("/webhooks/slack/plat-slack", lambda: _slack(NESTED), 400),
    ("/webhooks/slack/plat-slack", lambda: _slack(json.dumps({**EVENT, "event": "x"}).encode()), 400),
    ("/webhooks/slack/plat-slack", lambda: _slack(json.dumps({**EVENT, "event": {**EVENT["event"], "text": 5}}).encode()), 400),
    ("/webhooks/slack/plat-slack", lambda: _slack(b"payload=%5B1%5D", content_type="application/x-www-form-urlencoded"), 400),
    ("/webhooks/slack/plat-slack", lambda: _slack(b"payload=%7B%7D", content_type="application/x-www-form-urlencoded"), 200),
    ("/webhooks/slack/plat-slack", lambda: _slack(b"hello=1", content_type="application/x-www-form-urlencoded"), 400),
    ("/webhooks/slack/plat-slack", lambda: _slack(b"command=%2Ftabletalk&text=How+many+orders", content_type="application/x-www-form-urlencoded"), 400),
    ("/webhooks/telegram/plat-tg", lambda: _tg(json.dumps({"update_id": 1, "message": {**MESSAGE, "chat": None}}).encode()), 400),
    ("/webhooks/telegram/plat-tg", lambda: _tg(json.dumps({"update_id": 2, "message": {k: v for k, v in MESSAGE.items() if k != "chat"}}).encode()), 400),
    ("/webhooks/telegram/plat-tg", lambda: _tg(json.dumps({"update_id": 3, "message": {**MESSAGE, "from": None}}).encode()), 200),
    ("/webhooks/telegram/plat-tg", lambda: _tg(json.dumps({"update_id": 4, "message": "x"}).encode()), 400),
    ("/webhooks/telegram/plat-tg", lambda: _tg(json.dumps({"update_id": 5, "message": {**MESSAGE, "text": ["x"]}}).encode()), 400),
    ("/webhooks/telegram/plat-tg", lambda: _tg(b"[]"), 400),
    ("/webhooks/telegram/plat-tg", lambda: _tg(NESTED), 400),
    ("/webhooks/telegram/plat-tg", lambda: _tg(json.dumps({"update_id": 6, "edited_message": "x"}).encode()), 200),
    ("/webhooks/telegram/plat-tg", lambda: _tg(json.dumps({"update_id": 7, "edited_message": DEEP}).encode()), 400),
    ("/webhooks/slack/plat-slack", lambda: _slack(json.dumps({**EVENT, "event_id": "EvDeep", "extra": DEEP}).encode()), 400),
    ("/webhooks/feishu/plat-fs", lambda: (json.dumps({"schema": "2.0", "header": "x", "token": "v", "extra": DEEP}).encode(),
                                          {"Content-Type": "application/json"}), 400),
    ("/webhooks/feishu/plat-fs", lambda: (b"[]", {"Content-Type": "application/json"}), 400),
    ("/webhooks/feishu/plat-fs", lambda: (b'"x"', {"Content-Type": "application/json"}), 400),
    ("/webhooks/feishu/plat-fs", lambda: (NESTED, {"Content-Type": "application/json"}), 400),
    ("/webhooks/feishu/plat-fs-enc", lambda: _fs_raw(b'{"encrypt": 5}'), 400),
    ("/webhooks/feishu/plat-fs-enc", lambda: _fs_enc("[1, 2]"), 400),
    ("/webhooks/feishu/plat-fs-enc", lambda: _fs_enc('"x"'), 400),
    ("/webhooks/feishu/plat-fs-enc", lambda: _fs_raw(b'{"encrypt": "not base64 !"}'), 401),
    ("/webhooks/feishu/plat-fs", lambda: (json.dumps({"schema": "2.0", "header": {"token": "v", "event_type": "im.message.receive_v1"},
                                                      "event": "x"}).encode(), {"Content-Type": "application/json"}), 400),
    ("/webhooks/feishu/plat-fs", lambda: (json.dumps({"schema": "2.0", "header": "x", "token": "v"}).encode(),
                                          {"Content-Type": "application/json"}), 200),
]


async def test_named_malformed_deliveries_are_4xx_or_ignored(hooks, caplog):
    app, http = hooks
    for path, build, expected in CASES:
        body, headers = build()
        status, data = await _post(http, path, body, headers)
        assert status == expected, f"{path} {body[:120]!r}: {status} {data}"
    await app[DELIVERIES].drain()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "an answering task crashed"


JUNK = [None, 0, -1, 10**30, 1.5, True, "", "x", "@_user_1", [], {}, [[[[]]]], {"a": {"b": None}}, "/help@", "💥" * 50]


def _mutate(value, rng: random.Random):
    """The value with one random node replaced by junk (or a key dropped)."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        if rng.random() < 0.15:
            return {k: v for k, v in value.items() if k != key}
        return {**value, key: _mutate(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        return value[:i] + [_mutate(value[i], rng)] + value[i + 1:]
    if isinstance(value, str) and value.startswith(("{", "[")) and rng.random() < 0.5:
        try:  # JSON inside a string (Feishu's message content)
            return json.dumps(_mutate(json.loads(value), rng))
        except ValueError:
            pass
    return rng.choice(JUNK)


@pytest.mark.parametrize("prefix,path,request_of", [
    ("slack", lambda s: "/webhooks/slack/plat-slack", slack_request),
    ("tg", lambda s: "/webhooks/telegram/plat-tg", telegram_request),
    ("fs", lambda s: f"/webhooks/feishu/{s['bot'] if s['bot'] != 'plat-fs-mazhe' else 'plat-fs'}", feishu_request),
])
async def test_mutated_real_payloads_never_get_a_500(hooks, caplog, prefix, path, request_of):
    app, http = hooks
    rng = random.Random(f"webhook-fuzz-{prefix}")
    samples = [s for s in load(prefix) if s.get("payload") is not None]
    for i in range(150):
        sample = dict(rng.choice(samples))
        sample["payload"] = _mutate(_mutate(sample["payload"], rng), rng)
        if sample["bot"] == "plat-fs-mazhe":
            sample["bot"] = "plat-fs"
        delivery = {k: v for k, v in sample["deliveries"][0].items() if k in ("_encrypt",)}
        body, headers = request_of(sample, delivery)
        await _post(http, path(sample), body, headers)
    await app[DELIVERIES].drain(30)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "an answering task crashed"


async def test_non_ascii_secrets_in_headers_or_bodies_are_refused_not_500s(hooks):
    app, http = hooks
    body = json.dumps({"type": "url_verification", "challenge": "c", "token": "💥"}).encode()
    assert (await _post(http, "/webhooks/feishu/plat-fs", body, {"Content-Type": "application/json"}))[0] == 401
    body, headers = _slack(b'{"type": "url_verification", "challenge": "c"}')
    headers["X-Slack-Signature"] = "v0=é"
    assert (await _post(http, "/webhooks/slack/plat-slack", body, headers))[0] == 401
    body, headers = _tg(json.dumps({"update_id": 9, "message": MESSAGE}).encode())
    headers["X-Telegram-Bot-Api-Secret-Token"] = "é"
    assert (await _post(http, "/webhooks/telegram/plat-tg", body, headers))[0] == 401
