"""Value hints: the stored values a question names, matched exactly, by stem or fuzzily, kept in
their exact stored form, and looked up in a real SQLite database for columns over the index cap."""
from __future__ import annotations

import sqlite3

import pytest
from sqlglot import exp
from tabletalk.core.datasources.base import connector_for
from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq.value_hints import MAX_PER_COLUMN, question_values, render_hints
from tabletalk.core.nlq.value_reads import LOOKUP_ROWS, Lookup, literal, read_sql
from tabletalk.core.policy.readonly import read_only_sql
from tabletalk.core.policy.rewrite import Rule
from tabletalk.core.policy.service import Scope

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


def _database(path, ddl: str, table: str, rows: list[tuple]) -> Lookup:
    db = sqlite3.connect(path)
    db.execute(ddl)
    db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    db.commit()
    db.close()
    return connector_for("sqlite", {"database": str(path)})


def _through(scope: Scope, schema: Schema, conn, seen: list[str]) -> Lookup:
    """Reads as the pipeline makes them: the role's policy rewrite, then the connector."""
    async def execute(sql: str):
        seen.append(sql)
        return (await conn.execute(sql, max_rows=200)).data

    return Lookup(lambda sql: scope.enforce(sql, schema), execute)


async def test_a_column_over_the_index_cap_is_looked_up_in_the_database(tmp_path):
    conn = _database(tmp_path / "cars.db", "CREATE TABLE car_names (id INTEGER PRIMARY KEY, make TEXT)", "car_names",
                     [(i, f"model {i}") for i in range(500)] + [(500, "amc hornet sportabout (sw)"), (501, "AMC Hornet")])
    schema = Schema("sqlite", [Table("car_names", [Column("id", "INTEGER", primary_key=True),
                                                   Column("make", "TEXT", lookup=True)])])
    seen: list[str] = []
    lookup = _through(Scope(), schema, conn, seen)
    hints = await hints_for("accelerate of the amc hornet sportabout (sw)", schema, lookup=lookup)
    assert hints == {("car_names", "make"): ["amc hornet sportabout (sw)", "AMC Hornet"]}
    assert len(seen) == 1 and "LIMIT" in seen[0]
    assert await hints_for("accelerate of the amc hornet sportabout (sw)", schema) == {}  # no lookup: nothing
    assert await hints_for("which models are there?", schema, lookup=lookup) == {}
    assert await hints_for("how fast is model 7?", schema, lookup=lookup) == {("car_names", "make"): ["model 7"]}
    assert len(seen) == 3  # "model 7": one read per question with words to search for


AIRPORT_ROWS = [("APG", "Aberdeen ", "US", "IN"), ("ATO", "Abilene ", "US ", "TX"), ("AKO", "Anthony ", "US", "OR")]


async def test_a_filtered_role_only_gets_values_its_rows_hold(tmp_path):
    conn = _database(tmp_path / "air.db", "CREATE TABLE airports (code TEXT, city TEXT, country_abbrev TEXT, state TEXT)",
                     "airports", AIRPORT_ROWS)
    texas = Scope(rules=[Rule("airports", "state = 'TX'"), Rule("*")])
    seen: list[str] = []
    hints = await hints_for("flights from Aberdeen or Abilene", lookup=_through(texas, AIRPORTS, conn, seen), filtered=True)
    assert hints == {("airports", "city"): ["Abilene "]}
    assert len(seen) == 1 and "'TX'" in seen[0]  # the one column with hints, confirmed under the row filter
    assert await hints_for("flights from Aberdeen", filtered=True) == {}  # nothing to confirm with
    seen.clear()
    assert await hints_for("how many flights are there?", lookup=_through(texas, AIRPORTS, conn, seen), filtered=True) == {}
    assert seen == []  # no hints, nothing to confirm: no read


async def test_every_search_of_a_filtered_role_goes_through_its_row_filter(tmp_path):
    """The search's SQL shape is rewritten once, but each question's words land in the filtered query."""
    conn = _database(tmp_path / "people.db", "CREATE TABLE people (id INTEGER, name TEXT, region TEXT)", "people",
                     [(i, f"person {i}", "North") for i in range(300)] +
                     [(300, "Zed Quill", "North"), (301, "Zed Quinn", "South"), (302, "Amy Quill", "South")])
    schema = Schema("sqlite", [Table("people", [Column("id", "INTEGER", primary_key=True), Column("name", "TEXT", lookup=True),
                                                Column("region", "TEXT", values=["North", "South"])])])
    south = Scope(rules=[Rule("people", "region = 'South'")])
    seen: list[str] = []
    lookup = _through(south, schema, conn, seen)
    for question, names in (("orders of Zed Quill", ["Zed Quinn", "Amy Quill"]), ("orders of Quill", ["Amy Quill"]),
                            ("orders of person 7", []), ("what did Zed buy?", ["Zed Quinn"])):
        got = (await hints_for(question, schema, lookup=lookup, filtered=True)).get(("people", "name"), [])
        assert sorted(got) == sorted(names), question
    assert len(seen) == 4 and all("'South'" in sql for sql in seen)
    everyone = await hints_for("orders of Zed Quill", schema, lookup=_through(Scope(), schema, conn, []))
    assert everyone[("people", "name")][0] == "Zed Quill"  # the North row, for a role without the filter


NASTY = ["O'Brien", "back\\slash", "it''s", "50%_off", "line\nbreak", "tab\tend ", "ünïcödé", "\\'", "$$dollar$$", " US "]


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "duckdb"])
def test_a_read_is_the_sql_the_policy_makes_of_it(dialect):
    """The filled shape is exactly what the rewriter makes of the read's own SQL, for any literal."""
    table, col = Table("t", [], schema="s" if dialect == "postgres" else ""), Column("na'me")
    full = Schema(dialect, [Table("t", [Column("na'me"), Column("region")], schema=table.schema)])
    scope = Scope(rules=[Rule("t", "region = 'South'")])

    def enforce(sql: str) -> str:
        return scope.enforce(sql, full)

    column = exp.column(col.name, quoted=True)
    for n in range(1, 5):
        for values in (NASTY[:n], NASTY[-n:], [f"%{v}%" for v in NASTY[n:n + n]]):
            for kind in ("in", "like"):
                cond = (exp.In(this=column.copy(), expressions=[exp.Literal.string(v) for v in values]) if kind == "in"
                        else exp.or_(*(exp.Like(this=exp.func("LOWER", column.copy()), expression=exp.Literal.string(v))
                                       for v in values)))
                own = (exp.select(column.copy()).from_(exp.table_("t", db=table.schema or None, quoted=True))
                       .where(exp.and_(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())), cond))
                       .limit(LOOKUP_ROWS).sql(dialect=dialect))
                got = read_sql(table, col, dialect, kind, values, enforce)
                assert got == enforce(own)
                assert "'South'" in got and read_only_sql(got, dialect) == got
    assert all(literal(v, dialect)[1] for v in NASTY)


def test_a_rewrite_that_repeats_the_query_rewrites_the_reads_own_sql():
    """When the rewritten shape does not hold each placeholder once, the read's own SQL is rewritten."""
    def doubled(sql: str) -> str:  # as a policy might, were it to repeat the query (a UNION of two branches)
        return f"SELECT * FROM ({sql}) AS a UNION ALL SELECT * FROM ({sql}) AS b"

    got = read_sql(Table("t"), Column("c"), "sqlite", "in", ["x", "y"], doubled)
    inner = """SELECT "c" FROM "t" WHERE NOT "c" IS NULL AND "c" IN ('x', 'y') LIMIT 200"""
    assert got == doubled(inner)


async def test_a_name_the_question_writes_finds_the_longer_stored_value():
    makers = Schema("sqlite", [Table("makers", [Column("full_name", "TEXT", values=["Ford Motor Company", "General Motors",
                                                                                    "Volkswagen"])])])
    assert (await hints_for("how many models does Ford make?", makers)) == {("makers", "full_name"): ["Ford Motor Company"]}
    assert await hints_for("how many models does each company make?", makers) == {}  # a plain word is no name


async def test_a_question_asked_again_reuses_its_index_hints_and_a_new_schema_reads_afresh():
    first = await question_values("volvo cars", AIRPORTS)
    again = await question_values("volvo cars", AIRPORTS)
    assert [h.value for h in first] == ["volvo"] and again[0] is first[0]  # remembered, not recomputed
    resynced = Schema("sqlite", [Table("cars", [Column("model", "TEXT", values=["Volvo", "fiat"])])])
    assert [h.value for h in await question_values("volvo cars", resynced)] == ["Volvo"]


async def test_hints_needing_no_read_are_remembered_per_question_and_schema_object():
    schema = Schema("sqlite", [Table("customers", [Column("id", "INTEGER", primary_key=True),
                                                   Column("city", "TEXT", values=["Berlin", "Lyon", "Osaka"])])])
    first = await question_values("customers in Lyon", schema)
    assert [h.value for h in first] == ["Lyon"]
    first.clear()  # the caller's list is its own
    assert [h.value for h in await question_values("customers in Lyon", schema)] == ["Lyon"]
    rebuilt = Schema("sqlite", [Table("customers", [Column("id", "INTEGER", primary_key=True),
                                                    Column("city", "TEXT", values=["Berlin", "Osaka"])])])
    assert await question_values("customers in Lyon", rebuilt) == []  # a new schema object: read afresh
    assert await question_values("customers in Lyon", schema, filtered=True) == []  # a filtered role: never the memo
