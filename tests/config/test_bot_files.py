"""Bot YAML files: interpolation, validation errors naming file/line/field, loading at start."""
from __future__ import annotations

import textwrap

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tabletalk.adapters.rest.app import create_app
from tabletalk.config.bots import ConfigFileError, load_bot_file
from tests.conftest import ADMIN, make_settings

GOOD = """
bots:
  - id: shop
    name: Shop bot
    datasource_ids: ["Demo shop"]
    channels:
      slack:
        bot_token: ${TT_TEST_SLACK_TOKEN}
        signing_secret: ${TT_TEST_SIGNING:-default-signing}
"""


def test_env_interpolation_with_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("TT_TEST_SLACK_TOKEN", "xoxb-from-env")
    path = tmp_path / "shop.yaml"
    path.write_text(GOOD)
    bot = load_bot_file(path).bots[0]
    assert bot.channels.slack.bot_token == "xoxb-from-env"
    assert bot.channels.slack.signing_secret == "default-signing"


def test_missing_env_var_names_file_line_and_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("TT_TEST_SLACK_TOKEN", raising=False)
    path = tmp_path / "shop.yaml"
    path.write_text(GOOD)
    with pytest.raises(ConfigFileError) as err:
        load_bot_file(path)
    assert f"{path}:8:" in str(err.value) and "TT_TEST_SLACK_TOKEN" in str(err.value)


def test_invalid_field_is_reported_with_line_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""
        bots:
          - id: ok-bot
            name: fine
            datasource_ids: [x]
          - id: Not A Slug
            name: broken
            datasource_ids: [x]
    """))
    with pytest.raises(ConfigFileError) as err:
        load_bot_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}:6: bots.1.id:"), message


@pytest.mark.parametrize("channel,field", [
    ("telegram: {token: '1:A'}", "channels.telegram.secret_token"),
    ("telegram: {token: '1:A', secret_token: ''}", "channels.telegram.secret_token"),
    ("feishu: {app_id: cli_1, app_secret: s}", "channels.feishu.verification_token"),
])
def test_webhook_channel_without_its_secret_is_refused_naming_file_line_and_field(tmp_path, channel, field):
    path = tmp_path / "open.yaml"
    path.write_text(f"bots:\n  - id: open\n    name: Open\n    datasource_ids: [x]\n    channels:\n      {channel}\n")
    with pytest.raises(ConfigFileError) as err:
        load_bot_file(path)
    assert str(err.value).startswith(f"{path}:6: bots.0.{field}:"), str(err.value)


async def test_files_load_at_start_and_a_bad_file_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("TT_TEST_SLACK_TOKEN", "xoxb-secret-token")
    home = tmp_path / "home"
    (home / "bots").mkdir(parents=True)
    (home / "bots" / "shop.yaml").write_text(GOOD)
    (home / "bots" / "broken.yaml").write_text("bots:\n  - id: [unclosed\n")
    app = create_app(make_settings(home))
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/api/v1/bots/shop", headers=ADMIN)
        assert resp.status == 200
        body = await resp.json()
        assert body["channels"]["slack"]["bot_token"] == "***"
        assert "xoxb-secret-token" not in await resp.text()
        resp = await client.patch("/api/v1/bots/shop", headers=ADMIN, json={"name": "renamed"})
        assert resp.status == 409 and "shop.yaml" in (await resp.json())["detail"]


async def test_datasources_declared_in_a_bot_file_are_created_and_synced(tmp_path):
    import asyncio
    import sqlite3

    db = sqlite3.connect(tmp_path / "hr.db")
    db.executescript("CREATE TABLE staff (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO staff VALUES (1, 'a'), (2, 'b');")
    db.commit()
    db.close()
    home = tmp_path / "home"
    (home / "bots").mkdir(parents=True)
    (home / "bots" / "hr.yaml").write_text(textwrap.dedent(f"""
        datasources:
          - name: hr
            engine: sqlite
            access_config: {{database: "{tmp_path / 'hr.db'}"}}
        bots:
          - id: hr-bot
            name: HR
            datasource_ids: [hr]
    """))
    app = create_app(make_settings(home, TABLETALK_DEMO=False))
    async with TestClient(TestServer(app)) as client:
        listing = await (await client.get("/api/v1/datasources", headers=ADMIN)).json()
        ds = next(d for d in listing["items"] if d["name"] == "hr")
        for _ in range(100):
            if (await (await client.get(f"/api/v1/datasources/{ds['id']}", headers=ADMIN)).json())["meta_status"] == "success":
                break
            await asyncio.sleep(0.05)
        bot = await (await client.get("/api/v1/bots/hr-bot", headers=ADMIN)).json()
        assert bot["datasource_ids"] == [ds["id"]] and bot["source_file"].endswith("hr.yaml")
        chat = await (await client.post("/api/v1/chats", headers=ADMIN, json={"bot_id": "hr-bot"})).json()
        reply = await (await client.post(f"/api/v1/chats/{chat['id']}/messages", headers=ADMIN,
                                         json={"question": "how many staff are there?"})).json()
        assert reply["content"]["dataframe"]["data"] == [[2]]
        resp = await client.patch(f"/api/v1/datasources/{ds['id']}", headers=ADMIN, json={"name": "x"})
        assert resp.status == 409 and "hr.yaml" in (await resp.json())["detail"]
