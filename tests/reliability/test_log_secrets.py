"""No secret in any log line: full Telegram and Slack conversations through the fake platforms, every
logger at DEBUG (httpx once wrote the Telegram bot token in each request URL at INFO)."""
from __future__ import annotations

import logging

import pytest

from tabletalk.adapters.delivery import DELIVERIES
from tabletalk.config.logs import redact_text
from tests.conftest import ADMIN, ADMIN_KEY, running_app
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram

TG_TOKEN = "987654:AAHsecretTelegramToken_x"
TG_SECRET = "tg-webhook-secret-value"
SLACK_TOKEN = "xoxb-1111-2222-secretslacktoken"
SLACK_SIGNING = "slack-signing-secret-value"
LLM_KEY = "sk-test-llm-key-0123456789"
SECRETS = [TG_TOKEN, TG_TOKEN.split(":")[1], TG_SECRET, SLACK_TOKEN, SLACK_SIGNING, LLM_KEY, ADMIN_KEY]


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "telegram", "slack_sdk", "aiohttp", "urllib3", "tabletalk"):
        logging.getLogger(name).setLevel(logging.DEBUG)  # louder than any deployment would run
    logging.getLogger("aiosqlite").setLevel(logging.INFO)  # a line per SQLite call (sealed values only): too slow
    yield caplog
    for name in ("httpx", "httpcore", "telegram", "slack_sdk", "aiohttp", "urllib3", "tabletalk", "aiosqlite"):
        logging.getLogger(name).setLevel(logging.NOTSET)


async def test_platform_conversations_log_no_secret(tmp_path, debug_logs):
    async with FakeTelegram() as tg, FakeSlack() as slack, FakeOpenAI() as llm:
        llm.default = lambda body: "```sql\nSELECT COUNT(*) AS n FROM orders\n```"
        async with running_app(tmp_path / "home", OPENAI_BASE_URL=llm.base_url, OPENAI_API_KEY=LLM_KEY) as (app, http, ds):
            for name in ("httpx", "httpcore", "telegram", "slack_sdk"):
                logging.getLogger(name).setLevel(logging.DEBUG)  # start-up quietened them; prove redaction too
            body = {"id": "shop", "name": "Shop", "datasource_ids": [ds], "channels": {
                "telegram": {"token": TG_TOKEN, "secret_token": TG_SECRET, "api_base_url": tg.api_url},
                "slack": {"bot_token": SLACK_TOKEN, "signing_secret": SLACK_SIGNING, "api_base_url": slack.api_url}}}
            assert (await http.post("/api/v1/bots", headers=ADMIN, json=body)).status == 201
            hook = str(http.make_url("/webhooks/telegram/shop"))
            for text in ("/start", "How many orders are there?", "/sql", "/tables", "Which customers churned from the zorblax segment?"):
                assert await tg.send_update(hook, TG_SECRET, tg.message(text)) == 200
            assert await tg.send_update(hook, "wrong-secret", tg.message("hi")) == 401
            await tg.wait_for("editMessageText", count=2)  # the two questions; commands answer at once
            await app[DELIVERIES].drain()
            event = {"type": "app_mention", "user": "U1", "text": "<@UBOT> How many orders are there?", "channel": "C1", "ts": "1.1"}
            await slack.send_event(str(http.make_url("/webhooks/slack/shop")), SLACK_SIGNING, event, event_id="Ev1")
            await slack.wait_for("chat.update")
            await app[DELIVERIES].drain()
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in debug_logs.records)
    assert "sendMessage" in text and "chat.postMessage" in text, "the platform calls were not logged at all"
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, [line for line in text.splitlines() if any(s in line for s in leaked)][:5]


def test_token_shapes_are_masked_even_when_never_seen():
    line = ("POST https://api.telegram.org/bot123:ABCdef/sendMessage {'Authorization': 'Bearer xoxb-9-abcdefgh'} "
            "api_key=sk-abcdefghijklmnop password: hunter22 tt_abcdefghijklmnopqrstuv")
    masked = redact_text(line)
    for secret in ("123:ABCdef", "xoxb-9-abcdefgh", "sk-abcdefghijklmnop", "hunter22", "tt_abcdefghijklmnopqrstuv"):
        assert secret not in masked, masked
    assert "sendMessage" in masked and "api.telegram.org" in masked
