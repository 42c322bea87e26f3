"""`Store.append` stores rows exactly as an ORM insert would: on SQLite through its own connection on
a thread (store/append.py), on PostgreSQL through SQLAlchemy; read back, both are the same rows."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import insert, text
from sqlmodel import select

from tabletalk.config.settings import to_async_url
from tabletalk.core.nlq.history import HistoryRecord
from tabletalk.core.store.append import MAX_VARIABLES
from tabletalk.core.store.db import Store

WHEN = datetime(2026, 12, 3, 7, 5, 0, tzinfo=timezone.utc)  # microsecond 0: str() would drop it


def _row(n: int, **over) -> dict:
    row = {"id": f"q2a_{n}", "kind": "q2a", "datasource_id": "ds_1", "owner_key_id": None,
           "request": {"question": "Wie viele Bestellungen?", "role_variables": {}},
           "answer": {"answer": "There are 3 orders.", "dataframe": {"data": [[3, 1.5, None]]}},
           "created_at": WHEN.replace(second=n)}
    return {**row, **over}


async def _same_as_an_orm_insert(url: str) -> Store:
    store = Store(url)
    await store.migrate()
    await store.append(HistoryRecord.__table__, [_row(1), _row(2, owner_key_id="key_a", request={})])
    async with store.engine.begin() as conn:  # the ORM's own way, for comparison
        await conn.execute(insert(HistoryRecord.__table__), [_row(3), _row(5, id="q2a_orm_1", created_at=WHEN.replace(second=1))])
        stored = {r[0]: r[1:] for r in (await conn.execute(text(
            "SELECT id, CAST(request AS TEXT), CAST(answer AS TEXT), CAST(created_at AS TEXT) FROM query_history"))).all()}
    assert stored["q2a_1"] == stored["q2a_orm_1"]  # the very text the ORM writes (time, offset, JSON)
    async with store.session() as s:
        got = {r.id: r for r in (await s.exec(select(HistoryRecord))).all()}
        newest = (await s.exec(select(HistoryRecord).order_by(HistoryRecord.created_at.desc()))).first()
    got.pop("q2a_orm_1")
    appended, orm = got["q2a_1"], got["q2a_3"]
    assert appended.request == orm.request and appended.answer == orm.answer
    assert appended.created_at.replace(second=3) == orm.created_at
    assert got["q2a_2"].owner_key_id == "key_a" and got["q2a_2"].request == {}
    assert newest.id == "q2a_3"  # the appended timestamps order with the ORM's
    return store


async def test_sqlite_append_reads_back_as_an_orm_insert(tmp_path):
    store = await _same_as_an_orm_insert(to_async_url(f"sqlite:///{tmp_path / 'tt.db'}"))
    assert store._appender is not None  # the thread path was the one tested
    with pytest.raises(Exception, match="UNIQUE"):  # a failed batch is all or nothing
        await store.append(HistoryRecord.__table__, [_row(4), _row(1)])
    async with store.session() as s:
        assert await s.get(HistoryRecord, "q2a_4") is None
    await store.close()


async def test_a_batch_wider_than_one_statement_is_stored_whole_or_not_at_all(tmp_path):
    store = Store(to_async_url(f"sqlite:///{tmp_path / 'tt.db'}"))
    await store.migrate()
    per_statement = MAX_VARIABLES // len(HistoryRecord.__table__.columns)
    many = [_row(0, id=f"q2a_many_{n}") for n in range(2 * per_statement + 5)]
    await store.append(HistoryRecord.__table__, many)
    with pytest.raises(Exception, match="UNIQUE"):  # the duplicate sits in the third statement
        await store.append(HistoryRecord.__table__, [_row(0, id=f"q2a_more_{n}") for n in range(2 * per_statement)]
                           + [_row(0, id="q2a_many_0")])
    async with store.session() as s:
        ids = set((await s.exec(select(HistoryRecord.id))).all())
    assert ids == {r["id"] for r in many}
    await store.close()


async def test_postgres_append_reads_back_as_an_orm_insert(pg_url):
    store = await _same_as_an_orm_insert(to_async_url(pg_url))
    await store.close()


def test_an_in_memory_store_is_not_appended_through_a_second_connection():
    assert Store("sqlite+aiosqlite:///:memory:")._appender is None
    assert Store("sqlite+aiosqlite://")._appender is None
