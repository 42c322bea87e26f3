"""A bot account's own identity (Telegram getMe, Feishu bot info) is looked up once at start-up, in
the background: a stalled or failing platform API never slows a webhook's acknowledgement, and the
messages that need the identity (group @mentions) are answered once it is known."""
from __future__ import annotations

import json
import time

from tabletalk.adapters.delivery import DELIVERIES
from tests.conftest import ADMIN, running_app
from tests.fakes.feishu_api import FakeFeishu
from tests.fakes.telegram_api import BOT_USERNAME, FakeTelegram

SECRET = "tg-secret"
STALL = 4.0  # seconds the fake Bot API takes to answer getMe


def _telegram_bot_file(home, api_url: str) -> None:
    (home / "bots").mkdir(parents=True)
    (home / "bots" / "shop.yaml").write_text(f"""
bots:
  - id: shop
    name: Shop
    datasource_ids: ["Demo shop"]
    channels:
      telegram: {{token: "123:ABC", secret_token: {SECRET}, api_base_url: "{api_url}"}}
""")


async def test_a_stalled_bot_api_never_delays_the_webhook_and_the_mention_is_answered_later(tmp_path):
    async with FakeTelegram() as tg:
        tg.stall("getMe", STALL)
        _telegram_bot_file(tmp_path / "home", tg.api_url)
        async with running_app(tmp_path / "home") as (app, http, ds):
            hook = str(http.make_url("/webhooks/telegram/shop"))
            await tg.wait_for("getMe")  # asked at start-up, not by the webhook
            started = time.monotonic()
            update = tg.message(f"@{BOT_USERNAME} How many products are there?", chat_id=-100, chat_type="supergroup")
            assert await tg.send_update(hook, SECRET, update) == 200
            ack = time.monotonic() - started
            # Behaviour, not timing: the ack came while getMe was still stalled and nothing was sent yet.
            assert ack < STALL and tg.called("sendMessage") == [], f"ack took {ack:.2f}s"
            assert len(tg.called("getMe")) == 1
            texts = await tg.wait_for_texts(1, timeout=STALL + 15)
            await app[DELIVERIES].drain()
            assert texts[0].startswith("There are 12 products.")
            assert len(tg.called("getMe")) == 1  # learned once, cached


async def test_a_failing_lookup_is_retried_in_the_background_not_per_webhook(tmp_path):
    async with FakeTelegram() as tg:
        tg.fail_next("getMe", 500, times=2)
        _telegram_bot_file(tmp_path / "home", tg.api_url)
        async with running_app(tmp_path / "home") as (app, http, ds):
            hook = str(http.make_url("/webhooks/telegram/shop"))
            await tg.wait_for("getMe")
            for text in ("How many products are there?", "How many customers are there?", "How many orders are there?"):
                update = tg.message(f"@{BOT_USERNAME} {text}", chat_id=-100, chat_type="supergroup")
                assert await tg.send_update(hook, SECRET, update) == 200
            texts = await tg.wait_for_texts(3, timeout=30)
            await app[DELIVERIES].drain()
            assert len(tg.called("getMe")) == 3  # two failures, one success: retries, not one per update
            assert sorted(t.split(".")[0] for t in texts) == ["There are 12 products", "There are 400 orders",
                                                             "There are 60 customers"]


async def test_feishu_group_mentions_wait_for_the_bot_open_id(tmp_path):
    async with FakeFeishu() as fs:
        fs.stall("bot_info", STALL)
        async with running_app(tmp_path / "home") as (app, http, ds):
            channel = {"app_id": "cli_1", "app_secret": "s", "verification_token": "vt", "domain": fs.domain}
            async with http.post("/api/v1/bots", headers=ADMIN,
                                 json={"id": "shop", "name": "Shop", "datasource_ids": [ds], "channels": {"feishu": channel}}) as r:
                assert r.status == 201
            hook = str(http.make_url("/webhooks/feishu/shop"))
            started = time.monotonic()
            event = fs.text_event("How many products are there?", chat_type="group", mention=True, token="vt")
            assert await fs.send_event(hook, event) == 200
            ack = time.monotonic() - started
            assert ack < STALL and fs.called("reply") == [], f"ack took {ack:.2f}s"
            patch = (await fs.wait_for("patch", timeout=STALL + 15))[0].data
            await app[DELIVERIES].drain()
            assert json.loads(patch["content"])["elements"][0]["content"] == "There are 12 products."
            assert len(fs.called("bot_info")) == 1
