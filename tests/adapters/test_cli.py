"""The `tabletalk` command line, run as a real process."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.fakes.telegram_api import FakeTelegram


def _run(args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "tabletalk.adapters.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_bots_check_reports_file_line_and_field(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("bots:\n  - id: shop\n    name: Shop\n    datasource_ids: [demo]\n")
    bad.write_text("bots:\n  - id: shop\n    name: Shop\n    datasource_ids: []\n")
    ok = _run(["bots", "check", str(good)])
    assert ok.returncode == 0 and "ok:" in ok.stdout and "shop" in ok.stdout
    fail = _run(["bots", "check", str(bad)])
    assert fail.returncode == 1 and f"{bad}:4: bots.0.datasource_ids" in fail.stderr


async def test_telegram_set_webhook_registers_the_url(tmp_path):
    home = tmp_path / "home"
    (home / "bots").mkdir(parents=True)
    async with FakeTelegram() as tg:
        (home / "bots" / "tg.yaml").write_text(
            "bots:\n  - id: tg\n    name: TG\n    datasource_ids: [Demo shop]\n"
            f"    channels:\n      telegram: {{token: '1:A', secret_token: s3cr3t, api_base_url: '{tg.api_url}'}}\n")
        import asyncio
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tabletalk.adapters.cli", "telegram", "set-webhook", "tg", "--url", "https://example.test/webhooks/telegram/tg",
            env={**os.environ, "TABLETALK_HOME": str(home), "TABLETALK_ADMIN_KEY": "k"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        call = (await tg.wait_for("setWebhook"))[0].data
        assert call["url"] == "https://example.test/webhooks/telegram/tg" and call["secret_token"] == "s3cr3t"


def test_tables_create_and_generate_offline(tmp_path):
    import json

    env = {"TABLETALK_HOME": str(tmp_path / "home"), "TABLETALK_ADMIN_KEY": "k", "TABLETALK_DEMO": "false",
           "OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""}
    spec = tmp_path / "people.json"
    spec.write_text(json.dumps({"name": "people", "columns": [{"name": "name"}, {"name": "email"}]}))
    created = _run(["tables", "create", str(spec)], env)
    assert created.returncode == 0 and "created table people" in created.stdout, created.stderr
    generated = _run(["generate", "people", "--count", "25", "--batch", "10"], env)
    assert generated.returncode == 0, generated.stderr
    import sqlite3
    db = sqlite3.connect(tmp_path / "home" / "tabletalk.db")
    assert db.execute("SELECT COUNT(*) FROM gen_rows").fetchone()[0] == 25
