"""Value hints: the stored values a question names, matched exactly, by stem or fuzzily, kept in
their exact stored form, and looked up in a real SQLite database for columns over the index cap."""
from __future__ import annotations

import sqlite3

from tabletalk.core.datasources.base import connector_for
from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq.value_hints import MAX_PER_COLUMN, question_values, render_hints

AIRPORTS = Schema("sqlite", [
    Table("airports", [Column("code", "TEXT", primary_key=True, values=["APG", "ATO", "AKO"]),
                       Column("city", "TEXT", values=["Aberdeen ", "Abilene ", "Anthony "]),
                       Column("country_abbrev", "TEXT", values=["US", "US "]),
                       Column("state", "TEXT", values=["IN", "OR", "TX"])]),
    Table("flights", [Column("flight_no", "INTEGER"), Column("source", "TEXT", references=("airports", "code"),
                                                            values=[" APG", " ATO"])]),
    Table("cars", [Column("model", "TEXT", values=["volvo", "fiat", "amc hornet sportabout (sw)"])]),
])


async def hints_for(question: str, schema: Schema = AIRPORTS, **kw) -> dict[tuple[str, str], list[str]]:
    out: dict = {}
    for h in await question_values(question, schema, **kw):
        out.setdefault((h.table, h.column), []).append(h.value)
    return out


async def test_values_are_found_case_and_space_insensitively_and_kept_as_stored():
    hints = await hints_for("How many flights depart from aberdeen to apg?")
    assert hints[("airports", "city")] == ["Aberdeen "]
    assert hints[("airports", "code")] == ["APG"] and hints[("flights", "source")] == [" APG"]
    assert ("airports", "state") not in hints  # "to" is no state; 'OR' is not "or" either
    text = render_hints(await question_values("flights from aberdeen", AIRPORTS), "sqlite")
    assert "- airports.city: 'Aberdeen '" in text  # the trailing space survives the quoting


async def test_distinct_stored_values_never_collapse():
    hints = await hints_for("airports with country abbreviation US")
    assert sorted(hints[("airports", "country_abbrev")]) == ["US", "US "]


async def test_plurals_typos_and_multi_word_values_match():
    assert (await hints_for("average price of all volvos"))[("cars", "model")] == ["volvo"]
    assert (await hints_for("how fast is the amc hornet sportabout (sw)?"))[("cars", "model")] == ["amc hornet sportabout (sw)"]
    assert (await hints_for("flights from Abilenne"))[("airports", "city")] == ["Abilene "]
    assert await hints_for("how many flights are there?") == {}


async def test_stop_word_values_match_only_as_written():
    assert (await hints_for("airports in IN"))[("airports", "state")] == ["IN"]
    assert ("airports", "state") not in await hints_for("airports in Texas or elsewhere")


async def test_hints_per_column_are_capped():
    many = Schema("sqlite", [Table("t", [Column("tag", "TEXT", values=[f"red {i}" for i in range(20)] + ["red"])])])
    hints = await question_values("red 1 red 2 red 3 red 4 red 5 red", many)
    assert len(hints) == MAX_PER_COLUMN


async def test_a_column_over_the_index_cap_is_looked_up_in_the_database(tmp_path):
    db = sqlite3.connect(tmp_path / "cars.db")
    db.execute("CREATE TABLE car_names (id INTEGER PRIMARY KEY, make TEXT)")
    db.executemany("INSERT INTO car_names (make) VALUES (?)", [(f"model {i}",) for i in range(500)] +
                   [("amc hornet sportabout (sw)",), ("AMC Hornet",)])
    db.commit()
    db.close()
    conn = connector_for("sqlite", {"database": str(tmp_path / "cars.db")})
    seen: list[str] = []

    async def lookup(sql: str):
        seen.append(sql)
        return (await conn.execute(sql, max_rows=200)).data

    schema = Schema("sqlite", [Table("car_names", [Column("id", "INTEGER", primary_key=True),
                                                   Column("make", "TEXT", lookup=True)])])
    hints = await hints_for("accelerate of the amc hornet sportabout (sw)", schema, lookup=lookup)
    assert hints == {("car_names", "make"): ["amc hornet sportabout (sw)", "AMC Hornet"]}
    assert len(seen) == 1 and "LIMIT" in seen[0]
    assert await hints_for("accelerate of the amc hornet sportabout (sw)", schema) == {}  # no lookup: nothing


async def test_a_filtered_role_only_gets_values_its_lookup_confirms():
    async def lookup(sql: str):  # the role's policy lets it see the Abilene row only
        return [["Abilene "]] if "Abilene" in sql else []

    hints = await hints_for("flights from Aberdeen or Abilene", lookup=lookup, filtered=True)
    assert hints == {("airports", "city"): ["Abilene "]}
    assert await hints_for("flights from Aberdeen", filtered=True) == {}  # nothing to confirm with


async def test_a_name_the_question_writes_finds_the_longer_stored_value():
    makers = Schema("sqlite", [Table("makers", [Column("full_name", "TEXT", values=["Ford Motor Company", "General Motors",
                                                                                    "Volkswagen"])])])
    assert (await hints_for("how many models does Ford make?", makers)) == {("makers", "full_name"): ["Ford Motor Company"]}
    assert await hints_for("how many models does each company make?", makers) == {}  # a plain word is no name
