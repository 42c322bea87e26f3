"""Which training pairs a role may be shown (`readable`): what the SQL reads, told from one parse
(`sql_reads`), against the tables the role sees, the columns an administrator hid and the views'
own definitions."""
from __future__ import annotations

import pytest

from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq.reads import sql_reads
from tabletalk.core.nlq.training import literal_checks, readable


def shop() -> Schema:
    return Schema("sqlite", [
        Table("sales", [Column("id", "INTEGER"), Column("region"), Column("amount", "INTEGER"), Column("sold", "DATE")],
              hidden=("Note",)),
        Table("ledger", [Column("id", "INTEGER"), Column("account"), Column("note")]),
        Table("accounts_view", [Column("account")], kind="view", view_sql="SELECT account FROM ledger"),
        Table("sales_view", [Column("region")], kind="view", view_sql="SELECT region FROM sales"),
    ])


SALES = {"sales", "sales_view"}


@pytest.mark.parametrize("sql", [
    "SELECT note FROM sales",
    "SELECT s.NOTE FROM sales AS s",
    "SELECT main.sales.note FROM main.sales",
    "SELECT COUNT(*) FROM sales WHERE note LIKE '%x%'",
    "WITH x AS (SELECT * FROM sales) SELECT note FROM x",
    "SELECT t.n FROM (SELECT note AS n FROM sales) AS t",
    "SELECT id FROM sales WHERE id IN (SELECT id FROM sales WHERE note IS NULL)",
    "SELECT account FROM accounts_view",        # the view reads the ledger, which the role cannot see
    "SELECT account FROM ledger",
    "SELECT FROM WHERE",                         # unparseable: unsure, so not shown
])
def test_a_pair_naming_a_hidden_column_or_table_is_not_shown(sql):
    assert not readable(sql, SALES | {"accounts_view"}, shop()), sql


@pytest.mark.parametrize("sql", [
    "SELECT region, SUM(amount) FROM sales GROUP BY region",
    "SELECT * FROM sales",                       # the rewriter projects hidden columns away from *
    "WITH x AS (SELECT * FROM sales) SELECT region FROM x",
    "SELECT region FROM sales_view",
])
def test_a_pair_naming_only_what_the_role_reads_is_shown(sql):
    assert readable(sql, SALES, shop()), sql


def test_a_qualified_column_is_checked_against_its_own_table():
    everything = {"sales", "ledger", "accounts_view", "sales_view"}
    assert readable("SELECT l.note FROM ledger AS l JOIN sales AS s ON s.id = l.id", everything, shop())
    assert not readable("SELECT note FROM ledger JOIN sales ON sales.id = ledger.id", everything, shop())  # ambiguous


def test_literals_carry_the_column_they_are_compared_with():
    reads = sql_reads("SELECT s.id FROM sales s JOIN ledger l ON s.id = l.id WHERE s.region IN ('south', 'east') "
                      "AND account = 'x' AND amount > '5' AND lower(region) = 'y' AND 'z' = l.account", "sqlite")
    found = {(lit.value, lit.how, lit.column, lit.tables) for lit in reads.literals}
    assert found == {("south", "equal", "region", ("sales",)), ("east", "equal", "region", ("sales",)),
                     ("x", "equal", "account", ("sales", "ledger")), ("5", "range", "amount", ("sales", "ledger")),
                     ("y", "other", "", ()), ("z", "equal", "account", ("ledger",))}


@pytest.mark.parametrize("sql, checks", [
    ("SELECT COUNT(*) FROM sales WHERE region = 'south'", [("sales", "region", "south")]),
    ("SELECT COUNT(*) FROM sales s WHERE s.region IN ('a', 'b')", [("sales", "region", "a"), ("sales", "region", "b")]),
    ("SELECT region FROM sales_view WHERE region <> 'x'", [("sales_view", "region", "x")]),  # a view: checked too
    ("SELECT COUNT(*) FROM sales WHERE sold >= '2024-01-01' AND amount > '5'", []),  # bounds on dates and numbers
    ("SELECT COUNT(*) FROM sales s JOIN ledger l ON s.id = l.id WHERE l.account = 'offshore'", []),  # unfiltered table
    ("SELECT COUNT(*) FROM ledger WHERE account LIKE '%south%'", []),  # reads no filtered table
    ("SELECT COUNT(*) FROM sales WHERE region LIKE 'so%'", None),  # a pattern cannot be confirmed
    ("SELECT COUNT(*) FROM sales WHERE lower(region) = 'south'", None),  # nor a value inside a function
    ("SELECT 'label' AS l, COUNT(*) FROM sales", None),  # nor one compared with no column
    ("SELECT COUNT(*) FROM sales JOIN ledger ON sales.id = ledger.id WHERE id = 'x'", None),  # whose table?
])
def test_literals_a_filtered_role_must_confirm(sql, checks):
    found = literal_checks(sql, shop(), {"sales"})
    assert (sorted(found) if found is not None else None) == checks, sql
