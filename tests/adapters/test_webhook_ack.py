"""Webhooks acknowledge before any write to the metadata store: under a burst of answers the
dedup write queues behind theirs (seen at 1-5 s per ack), so it runs after the ack, in the
background, and a redelivery is still answered once."""
from __future__ import annotations

import contextlib
import sqlite3
import time

import pytest

from tabletalk.adapters.delivery import DELIVERIES
from tests.conftest import ADMIN, running_app
from tests.fakes.feishu_api import FakeFeishu
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram

SECRET, KEY, TOKEN = "ack-secret", "ack-encrypt", "ack-verify"
QUESTION = "How many orders are there?"


class Platform:
    """How one platform's bot is configured and how a question is delivered to it."""

    def __init__(self, name: str):
        self.name, self.fake = name, {"slack": FakeSlack, "telegram": FakeTelegram, "feishu": FakeFeishu}[name]()
        self.n = 0

    def channel(self) -> dict:
        if self.name == "slack":
            return {"bot_token": "xoxb-1", "signing_secret": SECRET, "api_base_url": self.fake.api_url}
        if self.name == "telegram":
            return {"token": "123:ABC", "secret_token": SECRET, "api_base_url": self.fake.api_url}
        return {"app_id": "cli_1", "app_secret": "s", "verification_token": TOKEN, "encrypt_key": KEY, "domain": self.fake.domain}

    async def deliver(self, hook: str, event_id: str) -> int:
        self.n += 1
        if self.name == "slack":
            event = {"type": "message", "channel_type": "im", "user": "U1", "text": QUESTION, "channel": "D1", "ts": f"{self.n}.1"}
            return (await self.fake.send_event(hook, SECRET, event, event_id=event_id)).status
        if self.name == "telegram":
            return await self.fake.send_update(hook, SECRET, self.fake.message(QUESTION, update_id=int(event_id)))
        return await self.fake.send_event(hook, self.fake.text_event(QUESTION, event_id=event_id, token=TOKEN), encrypt_key=KEY)

    def answers(self) -> int:
        return sum(1 for t in self.fake.texts() if "400" in t)


@contextlib.contextmanager
def store_write_locked(home):
    """Another writer holds the metadata store's write lock (as a burst of answers' writes does)."""
    db = sqlite3.connect(home / "tabletalk.db", isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("ROLLBACK")
    finally:
        db.close()


@pytest.mark.parametrize("name", ["slack", "telegram", "feishu"])
async def test_webhook_is_acknowledged_while_the_store_is_busy(tmp_path, name):
    platform = Platform(name)
    async with platform.fake, running_app(tmp_path / "home") as (app, http, ds):
        async with http.post("/api/v1/bots", headers=ADMIN, json={
                "id": "shop", "name": "Shop", "datasource_ids": [ds], "channels": {name: platform.channel()}}) as r:
            assert r.status == 201, await r.text()
        hook = str(http.make_url(f"/webhooks/{name}/shop"))
        assert await platform.deliver(hook, "1001") == 200  # warm: the bot's config is cached
        await app[DELIVERIES].drain()
        assert platform.answers() == 1

        with store_write_locked(tmp_path / "home"):
            t0 = time.perf_counter()
            assert await platform.deliver(hook, "1002") == 200
            assert await platform.deliver(hook, "1002") == 200  # a redelivery, while the first is not recorded yet
            acked = time.perf_counter() - t0
        assert acked < 2.0, f"two acks took {acked:.1f} s with the store locked (its busy timeout is 10 s)"
        await app[DELIVERIES].drain()
        assert platform.answers() == 2  # answered once the lock was released, and only once
