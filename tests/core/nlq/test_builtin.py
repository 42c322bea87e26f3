"""The built-in engine on real SQLite data: labelled questions over four business schemas,
follow-ups, dialects, and honest failures."""
from __future__ import annotations

import importlib
import sqlite3
from datetime import date

import pytest
import sqlglot

from bench.nlq_accuracy import SCHEMAS, _dates, matches, schema_of
from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq.builtin import generate


@pytest.mark.parametrize("name", SCHEMAS)
async def test_labelled_questions_are_execution_correct(name, tmp_path):
    module = importlib.import_module(f"bench.data.nlq.{name}")
    today = date.today()
    db = sqlite3.connect(tmp_path / "x.db")
    module.build(db, today)
    db.commit()
    schema = await schema_of(tmp_path / "x.db")
    correct = 0
    for question, gold in module.QUESTIONS:
        result = generate(question, schema, today=today)
        if result.sql and matches(db.execute(gold.format(**_dates(today))).fetchall(), db.execute(result.sql).fetchall()):
            correct += 1
    assert correct / len(module.QUESTIONS) >= 0.9, f"{name}: {correct}/{len(module.QUESTIONS)}"


def _shop() -> Schema:
    return Schema("postgres", [
        Table("customers", [Column("id", "INTEGER", primary_key=True), Column("name", "TEXT"), Column("city", "TEXT", values=["Berlin", "Paris"])]),
        Table("orders", [Column("id", "INTEGER", primary_key=True), Column("customer_id", "INTEGER", references=("customers", "id")),
                         Column("order_date", "DATE"), Column("status", "TEXT", values=["cancelled", "shipped"]),
                         Column("amount", "NUMERIC")]),
    ])


def test_unmappable_question_gives_no_sql_and_says_what_it_understood():
    result = generate("How many unicorns danced on the moon?", _shop())
    assert result.sql is None and result.confidence == 0
    assert "unicorns" in result.message


@pytest.mark.parametrize("dialect", ["postgres", "mysql", "duckdb", "sqlite"])
def test_time_buckets_are_written_for_each_dialect(dialect):
    schema = _shop()
    schema.dialect = dialect
    result = generate("revenue per month in Berlin", schema, today=date(2026, 5, 1))
    assert result.sql and result.chart_hint == "line"
    sqlglot.parse_one(result.sql, read=dialect)  # valid in its dialect
    assert "'Berlin'" in result.sql and "GROUP BY" in result.sql


def test_follow_ups_refine_the_previous_query():
    schema = _shop()
    first = generate("how many orders are there", schema)
    split = generate("split that by status", schema, previous=("how many orders are there", first.sql))
    assert "GROUP BY" in split.sql and "status" in split.sql
    only = generate("only cancelled", schema, previous=("how many orders per city", "x"))
    assert "'cancelled'" in only.sql and "city" in only.sql
    top = generate("and the top 1?", schema, previous=("orders per city", "x"))
    assert "LIMIT 1" in top.sql


def test_training_pair_with_another_value_is_reused():
    schema = _shop()
    pairs = [("Revenue from customers in Berlin", "SELECT SUM(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.city = 'Berlin'")]
    result = generate("Revenue from customers in Paris", schema, training=pairs)
    assert result.sql.endswith("c.city = 'Paris'") and result.confidence == 1.0


def test_no_silent_guesses_for_unsupported_or_unknown_words():
    schema = _shop()
    assert generate("median order amount", schema).sql is None
    assert "median" in generate("median order amount", schema).message
    assert generate("list the zorp orders", schema).sql is None
    assert generate("list orders", schema).sql == "SELECT orders.* FROM orders"


def test_a_reading_is_remembered_per_schema_object_pairs_and_day():
    from tabletalk.core.nlq.builtin import read

    schema, today = _shop(), date(2026, 3, 4)
    first = read("How many orders are there?", schema, today=today)
    assert first.sql and read("How many orders are there?", schema, today=today) is first
    # Another schema object (a sync rebuilt it), other training pairs or another day: read again.
    assert read("How many orders are there?", _shop(), today=today) is not first
    pairs = [("How many orders are there?", "SELECT 42")]
    assert read("How many orders are there?", schema, today=today, training=pairs).sql == "SELECT 42"
    assert read("How many orders are there?", schema, today=today, training=list(pairs)) is not first
    last_week = read("How many orders last week?", schema, today=today)
    assert read("How many orders last week?", schema, today=date(2026, 3, 11)).sql != last_week.sql
    assert read("How many orders last week?", schema, today=today) is last_week
