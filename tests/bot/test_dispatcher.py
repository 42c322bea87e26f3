"""The dispatcher driven through a real (recording) adapter: roles per user, commands, ordering,
durability across a restart, and follow-up questions."""
from __future__ import annotations

import asyncio
import sqlite3

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tabletalk.adapters.rest.app import DISPATCHER, create_app
from tabletalk.bot.dispatcher import NO_ACCESS
from tabletalk.core.policy.principal import Principal
from tests.conftest import ADMIN, make_settings, wait_synced
from tests.fakes.chat_adapter import RecordingAdapter

OFFICES = {"Berlin": 7, "Paris": 4, "Lisbon": 2}


def build_hr(path) -> None:
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE offices (id INTEGER PRIMARY KEY, city TEXT NOT NULL);
        CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT NOT NULL, office TEXT NOT NULL,
                                office_id INTEGER REFERENCES offices(id), salary NUMERIC NOT NULL);
    """)
    n = 0
    for oid, (city, count) in enumerate(OFFICES.items(), start=1):
        db.execute("INSERT INTO offices VALUES (?, ?)", (oid, city))
        for _ in range(count):
            n += 1
            db.execute("INSERT INTO employees VALUES (?, ?, ?, ?, ?)", (n, f"person {n}", city, oid, 1000 + n))
    db.commit()
    db.close()


@pytest.fixture
async def hr(tmp_path):
    """An app with an HR datasource, an office-scoped role and a bot mapping two users to it."""
    build_hr(tmp_path / "hr.db")
    app = create_app(make_settings(tmp_path / "home", TABLETALK_DEMO=False))
    async with TestClient(TestServer(app)) as client:
        ds = await (await client.post("/api/v1/datasources", headers=ADMIN, json={
            "name": "hr", "engine": "sqlite", "access_config": {"database": str(tmp_path / "hr.db")}})).json()
        await wait_synced(client, ds["id"])
        role = await (await client.post("/api/v1/roles", headers=ADMIN, json={
            "name": "office", "variables": [{"name": "office", "type": "string"}]})).json()
        resp = await client.post("/api/v1/policies", headers=ADMIN, json={
            "role_id": role["id"], "datasource_id": ds["id"],
            "rules": [{"table": "employees", "row_filter": "office = '{{office}}'"}]})
        assert resp.status == 201, await resp.text()
        everything = await (await client.post("/api/v1/roles", headers=ADMIN, json={"name": "everything"})).json()
        resp = await client.post("/api/v1/policies", headers=ADMIN, json={
            "role_id": everything["id"], "datasource_id": ds["id"], "rules": [{"table": "*"}]})
        assert resp.status == 201, await resp.text()
        resp = await client.post("/api/v1/bots", headers=ADMIN, json={
            "id": "hr-bot", "name": "HR", "datasource_ids": ["hr"],
            "access": {"users": [
                {"platform": "test", "user": "alice", "role": "office", "variables": {"office": "Berlin"}},
                {"platform": "test", "user": "bob", "role": "office", "variables": {"office": "Paris"}},
                {"platform": "test", "user": "nobody-role"},  # a rule naming no role: refused under policies
                {"platform": "test", "user": "root", "role": "everything"}]}})
        assert resp.status == 201, await resp.text()
        yield client, RecordingAdapter(app[DISPATCHER], "hr-bot"), ds["id"]


def _single_number(reply) -> float:
    assert reply.ok, reply.text
    assert len(reply.dataframe["data"]) == 1, reply.dataframe
    return reply.dataframe["data"][0][0]


async def test_each_user_gets_rows_of_their_own_role(hr):
    _, adapter, _ = hr
    alice = await adapter.receive("alice", "How many employees are there?", chat="dm-alice")
    bob = await adapter.receive("bob", "How many employees are there?", chat="dm-bob")
    root = await adapter.receive("root", "How many employees are there?", chat="dm-root")
    assert _single_number(alice) == OFFICES["Berlin"]
    assert _single_number(bob) == OFFICES["Paris"]
    assert _single_number(root) == sum(OFFICES.values())
    assert "Berlin" in alice.sql and alice.private and not root.private


async def test_unmapped_user_is_refused_politely(hr):
    _, adapter, _ = hr
    reply = await adapter.receive("mallory", "How many employees are there?")
    assert reply.text == NO_ACCESS and reply.dataframe is None


async def test_a_rule_without_a_role_is_refused_on_a_policied_datasource(hr):
    _, adapter, _ = hr
    reply = await adapter.receive("nobody-role", "How many employees are there?")
    assert reply.text == NO_ACCESS and reply.dataframe is None and reply.sql is None


@pytest.mark.parametrize("role", ["", None, "no-such-role"])
async def test_an_empty_null_or_unknown_default_role_answers_nothing(hr, role):
    client, adapter, _ = hr
    resp = await client.patch("/api/v1/bots/hr-bot", headers=ADMIN, json={"access": {"default": {"role": role}}})
    assert resp.status == 200, await resp.text()
    for question in ("How many employees are there?", "How many offices are there?", "/tables"):
        reply = await adapter.receive("mallory", question, chat=f"empty-{role}")
        assert reply.text == NO_ACCESS and reply.dataframe is None and reply.sql is None, reply


async def test_sql_in_a_shared_thread_shows_only_the_users_own_queries(hr):
    _, adapter, _ = hr
    answered = await adapter.receive("alice", "How many employees are there?", chat="shared", is_group=True)
    assert "Berlin" in answered.sql
    theirs = await adapter.receive("bob", "/sql", chat="shared", is_group=True)
    assert theirs.sql is None and "Berlin" not in theirs.text
    follow_up = await adapter.receive("bob", "split that by office", chat="shared", is_group=True)
    assert "Berlin" not in (follow_up.sql or "") + follow_up.text
    assert (await adapter.receive("alice", "/sql", chat="shared", is_group=True)).sql == answered.sql


async def test_commands(hr):
    _, adapter, _ = hr
    help_reply = await adapter.receive("alice", "/help")
    assert "/tables" in help_reply.text and "/reset" in help_reply.text
    tables = await adapter.receive("alice", "/tables")
    assert "employees" in tables.text and "offices" not in tables.text  # alice's role sees employees only
    assert "offices" in (await adapter.receive("root", "/tables")).text
    assert "no previous query" in (await adapter.receive("alice", "/sql", chat="fresh")).text
    answered = await adapter.receive("alice", "How many employees are there?", chat="fresh")
    shown = await adapter.receive("alice", "/sql", chat="fresh")
    assert shown.sql == answered.sql
    await adapter.receive("alice", "/reset", chat="fresh")
    assert "no previous query" in (await adapter.receive("alice", "/sql", chat="fresh")).text


async def test_concurrent_messages_in_one_conversation_are_answered_in_order(hr):
    client, adapter, _ = hr
    questions = [f"How many employees have a salary over {1000 + i}?" for i in range(6)]
    replies = await asyncio.gather(*(adapter.receive("root", q, chat="busy") for q in questions))
    assert all(r.ok for r in replies), [r.text for r in replies]
    chat_id = replies[0].chat_id
    chat = await (await client.get(f"/api/v1/chats/{chat_id}", headers=ADMIN)).json()
    humans = [m["content"]["text"] for m in chat["messages"] if m["role"] == "human"]
    assert humans == questions
    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["human", "assistant"] * len(questions)


async def test_follow_up_refines_the_previous_query(hr):
    _, adapter, _ = hr
    first = await adapter.receive("root", "how many employees are there", chat="follow")
    second = await adapter.receive("root", "split that by office", chat="follow")
    assert second.ok, second.text
    by_office = {row[0]: row[1] for row in second.dataframe["data"]}
    assert by_office == OFFICES, (first.sql, second.sql)


async def test_chat_platform_users_cannot_create_tables(hr):
    client, adapter, _ = hr
    reply = await adapter.receive("root", "generate 20 sample secrets with name and code")
    assert not reply.ok and reply.dataframe is None and "asker or admin" in reply.text
    tables = await (await client.get("/api/v1/tables", headers=ADMIN)).json()
    assert tables["total"] == 0, tables


async def test_generate_sample_rows_from_chat(hr):
    _, adapter, _ = hr
    reply = await adapter.receive("root", "generate 20 sample customers with name, city and signup date",
                                  principal=Principal(scope="priv_asker", key_id="key_test"))
    assert reply.ok and "20 customers" in reply.text
    assert reply.dataframe["columns"] == ["name", "city", "signup_date"]
    assert len(reply.dataframe["data"]) == 10 and reply.dataframe["truncated"]
    assert all(len(row[2]) == 10 and row[0] and row[1] for row in reply.dataframe["data"])
