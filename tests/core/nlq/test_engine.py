"""The compositional reader on a small real SQLite database: each construction read, compiled and executed,
its interpretation said back, and refusals that name what could not be placed."""
from __future__ import annotations

import sqlite3

import pytest
import sqlglot

from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq.engine import Refusal, read_question

DDL = """
CREATE TABLE owners (owner_id INTEGER PRIMARY KEY, name TEXT, city TEXT, age INTEGER);
CREATE TABLE pets (pet_id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES owners(owner_id), kind TEXT,
                   age INTEGER, weight REAL);
INSERT INTO owners VALUES (1, 'Ann', 'Oslo', 30), (2, 'Bob', 'Rome', 45), (3, 'Cid', 'Oslo', 22), (4, 'Dee', 'Lima', 51);
INSERT INTO pets VALUES (1, 1, 'dog', 3, 12.5), (2, 1, 'cat', 1, 4.0), (3, 2, 'dog', 7, 20.0), (4, 3, 'cat', 2, 3.5),
                        (5, 2, 'dog', 1, 9.0);
"""


@pytest.fixture
def db(tmp_path):
    conn = sqlite3.connect(tmp_path / "pets.db")
    conn.executescript(DDL)
    yield conn
    conn.close()


def _schema(dialect: str = "sqlite") -> Schema:
    return Schema(dialect, [
        Table("owners", [Column("owner_id", "INTEGER", primary_key=True), Column("name", "TEXT"),
                         Column("city", "TEXT", values=["Oslo", "Rome", "Lima"]), Column("age", "INTEGER")]),
        Table("pets", [Column("pet_id", "INTEGER", primary_key=True),
                       Column("owner_id", "INTEGER", references=("owners", "owner_id")),
                       Column("kind", "TEXT", values=["dog", "cat"]), Column("age", "INTEGER"), Column("weight", "REAL")]),
    ])


def ask(db, question: str):
    parsed = read_question(question, _schema())
    sqlglot.parse_one(parsed.sql, read="sqlite")
    return parsed, sorted(db.execute(parsed.sql).fetchall(), key=repr)


def test_superlative_adjective_orders_by_the_age_column(db):
    parsed, rows = ask(db, "What is the weight of the youngest dog?")
    assert rows == [(9.0,)]
    assert "ORDER BY pets.age ASC LIMIT 1" in parsed.sql and "kind = 'dog'" in parsed.sql
    assert parsed.interpretation == "the weight of pets, where kind is 'dog', only the one with the lowest age"


def test_several_aggregates_over_a_filtered_table(db):
    _, rows = ask(db, "What is the average, minimum and maximum age of owners from Oslo?")
    assert rows == [(26.0, 22, 30)]


def test_or_list_of_values_becomes_in(db):
    parsed, rows = ask(db, "List the names of owners from Rome or Lima.")
    assert rows == [("Bob",), ("Dee",)] and " IN (" in parsed.sql


def test_between_and_comparisons(db):
    assert ask(db, "How many owners have an age between 25 and 50?")[1] == [(2,)]
    assert ask(db, "How many pets are heavier than 10?")[1] == [(2,)]


def test_count_per_group_projects_the_group(db):
    _, rows = ask(db, "How many pets are there for each kind?")
    assert rows == [("cat", 2), ("dog", 3)]


def test_having_with_at_least(db):
    _, rows = ask(db, "Which owners have at least 2 pets?")
    assert rows == [("Ann",), ("Bob",)]


def test_anti_join_for_do_not_have_any(db):
    parsed, rows = ask(db, "What are the names of owners who do not have any pets?")
    assert rows == [("Dee",)] and "NOT IN" in parsed.sql
    assert "that have no pets" in parsed.interpretation


def test_superlative_over_counts(db):
    _, rows = ask(db, "What is the name of the owner with the most pets?")
    assert rows == [("Bob",)]


def test_ordering_words(db):
    parsed = read_question("Show the names of owners ordered by age descending", _schema())
    assert parsed.sql.endswith("ORDER BY owners.age DESC")


def test_negated_value(db):
    assert ask(db, "Names of owners who are not from Oslo")[1] == [("Bob",), ("Dee",)]


def test_unplaced_words_are_named_in_the_refusal():
    with pytest.raises(Refusal, match="florp"):
        read_question("How many florp owners are there?", _schema())


def test_two_readings_of_one_word_are_refused():
    # 'age' of an owner or of a pet, with neither in play: a second reading as good as the first
    with pytest.raises(Refusal):
        read_question("What is the average age?", _schema())


def test_other_dialects_are_rendered_through_sqlglot():
    parsed = read_question("Show the names of owners ordered by age descending", _schema("postgres"))
    assert parsed.sql.startswith('SELECT owners."name" FROM owners ORDER BY owners.age DESC')


def test_follow_ups_refine_the_previous_reading(db):
    from tabletalk.core.nlq.engine import follow_up

    only = follow_up("How many pets are there?", "only dogs", _schema())
    assert db.execute(only.sql).fetchall() == [(3,)] and only.interpretation == "the number of pets, where kind is 'dog'"
    split = follow_up("How many pets are there?", "break it down by kind", _schema())
    assert sorted(db.execute(split.sql).fetchall()) == [("cat", 2), ("dog", 3)]
    with pytest.raises(Refusal, match="florp"):
        follow_up("How many pets are there?", "only florp ones", _schema())
