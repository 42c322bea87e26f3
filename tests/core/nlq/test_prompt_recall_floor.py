"""The model's prompt holds what the gold SQL needs on the Spider tuning split (`../shared/spider/`):
a floor on bench/prompt_recall.py, run over the questions whose gold SQL names stored string values."""
from __future__ import annotations

import asyncio

import pytest

from bench import prompt_recall, spider
from tests.conftest import _unavailable

FLOOR_LITERALS = 0.97
FLOOR_ALL = 0.95
CEILING_P95_TOKENS = 2_000


@pytest.fixture(scope="module")
def measured():
    if not spider.available():  # skipped with the reason, or failed under TABLETALK_REQUIRE_SERVERS=1
        _unavailable(f"the Spider tuning split is not at {spider.SPIDER_DIR} (CI must provide ../shared/spider)")
    questions, golds = prompt_recall.load()
    named = [q for q in questions if golds[q["dev_index"]].literals]
    return asyncio.run(prompt_recall.measure(named, golds))


@pytest.mark.parametrize("subset", ["sent", "all"])
def test_prompts_hold_the_stored_values_the_gold_sql_needs(measured, subset):
    agg = measured[subset]
    assert agg["sent"] > 0 and agg["literals_n"] > 0, agg
    assert agg["literals"] >= FLOOR_LITERALS, agg.get("misses")
    assert agg["all"] >= FLOOR_ALL, agg.get("misses")
    assert agg["tokens_p95"] <= CEILING_P95_TOKENS


def test_a_stored_literal_counts_only_in_its_stored_spelling():
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.executescript("CREATE TABLE airports (City TEXT, Code TEXT); INSERT INTO airports VALUES ('Aberdeen ', ' APG');")
    schema = prompt_recall._db_schema(db)
    gold = prompt_recall.gold_of('SELECT count(*) FROM airports WHERE City = "Aberdeen" AND Code = \'APG\'', db, schema)
    assert sorted(f for _, _, f in gold.literals) == [[" APG"], ["Aberdeen "]]
    prompt = "CREATE TABLE airports (\n  City TEXT,  -- values: 'Aberdeen'\n  Code TEXT  -- values: ' APG'\n);"
    assert prompt_recall.score(gold, prompt)["literals"] == [False, True]
