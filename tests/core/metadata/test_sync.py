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
