"""Metadata sync: overlapping syncs of one datasource (a background one and a waited-for one) both succeed."""
from __future__ import annotations

import asyncio

from tabletalk.core.runtime import Core
from tests.conftest import make_settings


async def test_overlapping_syncs_of_one_datasource_both_succeed(tmp_path):
    core = Core(make_settings(tmp_path / "home"))
    await core.start()
    try:
        (ds,), _ = await core.datasources.list(size=1)
        results = await asyncio.gather(*(core.metadata.sync(ds.id) for _ in range(4)), return_exceptions=True)
        assert all(isinstance(r, dict) and r["table_count"] == 4 for r in results), results
        assert len([i for i in await core.metadata.list_indexes(ds.id)]) > 0
    finally:
        await core.close()


async def test_a_refresh_that_finds_nothing_changed_keeps_the_schema_object(tmp_path):
    """Per-schema memos (the engine's index, the lexicon, prompt text) are keyed by the schema
    object: a re-read of unchanged metadata (after the TTL, or a sync) must return the same object,
    and a real edit a new one that shows it."""
    core = Core(make_settings(tmp_path / "home"))
    await core.start()
    try:
        (ds,), _ = await core.datasources.list(size=1)
        first = await core.metadata.schema(ds.id)
        core.metadata.invalidate(ds.id)
        assert await core.metadata.schema(ds.id) is first
        await core.metadata.sync(ds.id)
        assert await core.metadata.schema(ds.id) is first
        table = first.tables[0].name
        await core.metadata.patch_table(ds.id, table, description="Edited by the test.")
        edited = await core.metadata.schema(ds.id)
        assert edited is not first and edited.table(table).description == "Edited by the test."
    finally:
        await core.close()
