"""Concurrent requests on one object end well, on a SQLite and a PostgreSQL metadata store: syncs of
one datasource all succeed, a delete racing a sync leaves no rows behind, message numbers are
unique, and conflicting creates are 409s."""
from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func
from sqlmodel import select

from tabletalk.adapters.rest.app import CORE
from tabletalk.core.store.models import Job, Message, MetaTable, ValueIndex
from tests.conftest import ADMIN, running_app


@pytest.fixture(params=["sqlite", "postgresql"])
def store_env(request):
    """Settings for a metadata store of each kind (PostgreSQL: a fresh database)."""
    if request.param == "sqlite":
        return {}
    return {"TABLETALK_DATABASE_URL": request.getfixturevalue("pg_url")}


async def _wait_synced(client, ds: str) -> dict:
    for _ in range(200):
        view = await (await client.get(f"/api/v1/datasources/{ds}", headers=ADMIN)).json()
        if view["meta_status"] not in ("pending", "running"):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"sync of {ds} never finished: {view}")


async def _new_datasource(client, app, name: str = "copy") -> str:
    demo = str(app[CORE].home / "demo" / "shop.db")
    resp = await client.post("/api/v1/datasources", headers=ADMIN,
                             json={"name": name, "engine": "sqlite", "access_config": {"database": demo}})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


async def _background_syncs(app) -> None:
    for _ in range(100):
        async with app[CORE].store.session() as s:
            if not (await s.exec(select(func.count()).select_from(Job).where(Job.status == "running"))).one():
                return
        await asyncio.sleep(0.05)


async def _count(app, model, **where) -> int:
    async with app[CORE].store.session() as s:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return (await s.exec(q)).one()


async def test_create_then_sync_and_five_concurrent_syncs_all_succeed(tmp_path, store_env):
    async with running_app(tmp_path / "home", **store_env) as (app, client, _):
        ds = await _new_datasource(client, app)
        assert (await client.post(f"/api/v1/datasources/{ds}/meta/sync", headers=ADMIN)).status == 202
        view = await _wait_synced(client, ds)
        assert (view["meta_status"], view["meta_error"]) == ("success", None)
        tables_before = await _count(app, MetaTable, datasource_id=ds)

        answers = await asyncio.gather(*(client.post(f"/api/v1/datasources/{ds}/meta/sync", headers=ADMIN) for _ in range(5)))
        assert [r.status for r in answers] == [202] * 5
        jobs = [(await r.json())["job_id"] for r in answers]
        view = await _wait_synced(client, ds)
        assert (view["meta_status"], view["meta_error"]) == ("success", None)
        for _ in range(100):
            async with app[CORE].store.session() as s:
                states = [(await s.get(Job, j)).status for j in jobs]
            if "running" not in states:
                break
            await asyncio.sleep(0.05)
        assert states == ["success"] * 5
        assert await _count(app, MetaTable, datasource_id=ds) == tables_before  # merged, not duplicated


async def test_deleting_a_datasource_during_its_sync_leaves_no_rows(tmp_path, store_env):
    async with running_app(tmp_path / "home", **store_env) as (app, client, _):
        for attempt in range(3):  # the delete lands before, during and after the write
            ds = await _new_datasource(client, app, f"doomed{attempt}")
            await asyncio.sleep(0.02 * attempt)
            await client.post(f"/api/v1/datasources/{ds}/meta/sync", headers=ADMIN)
            assert (await client.delete(f"/api/v1/datasources/{ds}", headers=ADMIN)).status == 204
            await _background_syncs(app)
            for model in (MetaTable, ValueIndex):
                assert await _count(app, model, datasource_id=ds) == 0, (attempt, model)
            assert await _count(app, Job, target_id=ds) == 0


async def test_fifteen_concurrent_messages_get_unique_numbers(tmp_path, store_env):
    async with running_app(tmp_path / "home", **store_env) as (app, client, ds):
        await client.post("/api/v1/bots", headers=ADMIN, json={"id": "shop", "name": "Shop", "datasource_ids": [ds]})
        chat = (await (await client.post("/api/v1/chats", headers=ADMIN, json={"bot_id": "shop"})).json())["id"]
        answers = await asyncio.gather(*(client.post(f"/api/v1/chats/{chat}/messages", headers=ADMIN,
                                                     json={"question": f"how many orders {i}"}) for i in range(15)))
        assert [r.status for r in answers] == [200] * 15
        async with app[CORE].store.session() as s:
            seqs = list((await s.exec(select(Message.seq).where(Message.chat_id == chat))).all())
        assert len(seqs) == 30 and sorted(seqs) == list(range(1, 31)), Counter(seqs).most_common(3)


async def test_ten_concurrent_creates_of_one_bot_are_one_201_and_nine_409s(tmp_path, store_env):
    async with running_app(tmp_path / "home", **store_env) as (app, client, ds):
        for bot_id in ("dup1", "dup2", "dup3"):
            answers = await asyncio.gather(*(client.post("/api/v1/bots", headers=ADMIN, json={
                "id": bot_id, "name": "Dup", "datasource_ids": [ds], "channels": {"telegram": {"token": "1:x", "secret_token": "s3cret"}}})
                for _ in range(10)))
            assert sorted(r.status for r in answers) == [201] + [409] * 9, [r.status for r in answers]
            for r in answers:
                if r.status == 409:
                    assert "already exists" in (await r.json())["detail"]


def test_a_driver_error_is_never_shown_to_users():
    from sqlalchemy.exc import IntegrityError

    from tabletalk.core.metadata.sync import public_error

    exc = IntegrityError("INSERT INTO value_indexes (values) VALUES (?)", [("['Kira Rossi', 'Ben Martin']",)],
                         Exception("UNIQUE constraint failed"))
    shown = public_error(exc)
    assert "INSERT" not in shown and "Kira" not in shown and "IntegrityError" in shown
