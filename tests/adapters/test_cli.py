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
    assert _run(["init"], env).returncode == 0
    created = _run(["tables", "create", str(spec)], env)
    assert created.returncode == 0 and "created table people" in created.stdout, created.stderr
    generated = _run(["generate", "people", "--count", "25", "--batch", "10"], env)
    assert generated.returncode == 0, generated.stderr
    import sqlite3
    db = sqlite3.connect(tmp_path / "home" / "tabletalk.db")
    assert db.execute("SELECT COUNT(*) FROM gen_rows").fetchone()[0] == 25


def test_offline_commands_use_the_served_home_and_never_make_a_second_one(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TABLETALK_HOME"}
    run = subprocess.run([sys.executable, "-m", "tabletalk.adapters.cli", "generate", "people", "--count", "3"],
                         capture_output=True, text=True, timeout=60, cwd=elsewhere, env=env)
    assert run.returncode == 1
    assert f"home: {elsewhere / '.tabletalk'}" in run.stderr
    assert "error: no TableTalk home at" in run.stderr and "Traceback" not in run.stderr
    assert not (elsewhere / ".tabletalk").exists()


def test_cli_errors_are_one_line_without_a_traceback(tmp_path):
    env = {"TABLETALK_HOME": str(tmp_path / "home"), "TABLETALK_ADMIN_KEY": "k"}
    assert _run(["init"], env).returncode == 0
    missing = _run(["generate", "no_such_table", "--count", "3"], env)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert [ln for ln in missing.stderr.splitlines() if ln.startswith("error:")] and "no_such_table" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    broken = _run(["tables", "create", str(bad)], env)
    assert broken.returncode == 1 and "Traceback" not in broken.stderr and "error:" in broken.stderr


def test_serve_on_a_taken_port_is_one_line_naming_the_port(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = _run(["serve", "--host", "127.0.0.1", "--port", str(port)],
                   {"TABLETALK_HOME": str(tmp_path / "home"), "TABLETALK_ADMIN_KEY": "k"})
    assert run.returncode == 1
    assert "listening" not in run.stdout
    errors = [ln for ln in run.stderr.splitlines() if ln.strip() and "INFO" not in ln]
    assert errors == [f"error: port {port} on 127.0.0.1 is already in use; stop the other process or pick another --port"], run.stderr


def test_serve_says_listening_once_it_answers(tmp_path):
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tabletalk.adapters.cli", "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "TABLETALK_HOME": str(tmp_path / "home"), "TABLETALK_ADMIN_KEY": "k"})
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"TableTalk listening on http://127.0.0.1:{port}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:  # no wait needed
            assert resp.status == 200
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
