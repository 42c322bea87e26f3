"""Table generation in the engine: pick semantics, linked columns, type coercion, offline fill."""
from __future__ import annotations

import random

from tabletalk.config.settings import Settings
from tabletalk.core.runtime import Core
from tabletalk.core.tables.models import Dataset
from tabletalk.core.tables.schema import TableSpec
from tabletalk.core.tables.generation import Picker, coerce


def test_picker_without_replacement_exhausts_then_stops_or_repeats():
    records = [{"v": i} for i in range(3)]
    once = Picker({"name": "v", "random": True}, records, random.Random(1))
    drawn = [once.draw() for _ in range(4)]
    assert sorted(d["v"] for d in drawn[:3]) == [0, 1, 2] and drawn[3] is None
    again = Picker({"name": "v", "repeat": True}, records, random.Random(1))
    assert [again.draw()["v"] for _ in range(5)] == [0, 1, 2, 0, 1]
    with_replacement = Picker({"name": "v", "random": True, "replacement": True}, records, random.Random(3))
    assert len([with_replacement.draw() for _ in range(50)]) == 50


def test_coercion_to_column_types():
    assert coerce("12.7", "integer") == 12 and coerce("x", "integer") is None
    assert coerce("yes", "boolean") is True and coerce("2024-03-05T10:00", "date") == "2024-03-05"
    assert coerce({"a": 1}, "string") == '{"a": 1}' and coerce("", "string") is None


async def test_linked_context_columns_never_become_values(tmp_path):
    core = Core(Settings(TABLETALK_HOME=str(tmp_path), TABLETALK_ADMIN_KEY="k", TABLETALK_DEMO=False))
    await core.start()
    try:
        await core.store.add(Dataset(name="places", type="csv", columns=["city", "country"],
                                     values=[["Paris", "France"], ["Lyon", "France"], ["Kyoto", "Japan"]]))
        await core.tables.create(TableSpec(name="visits", columns=[
            {"name": "visitor", "fill_mode": "ai"},
            {"name": "city", "fill_mode": "pick", "source_id": "places", "source_type": "dataset", "linked_column": "city",
             "linked_context_columns": ["country"], "random": True, "repeat": True},
            {"name": "country", "fill_mode": "ai"}]))
        rows = [r async for batch in core.tables.generate("visits", count=9, batch=4) for r in batch]
        # linked context columns inform the model; they never become a same-named column's value
        assert sorted(r["city"] for r in rows) == ["Kyoto"] * 3 + ["Lyon"] * 3 + ["Paris"] * 3
        assert all(r["visitor"] for r in rows)  # the ai column filled offline
    finally:
        await core.close()
