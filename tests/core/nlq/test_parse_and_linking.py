from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq.linking import link, render_schema
from tabletalk.core.nlq.parse import extract_json, extract_sql


def test_extract_sql_leniently():
    assert extract_sql("Sure:\n```sql\nSELECT 1;\n```\nDone") == "SELECT 1"
    assert extract_sql('{"sql": "SELECT 2"}') == "SELECT 2"
    assert extract_sql('```json\n{"sql": "SELECT 3", "why": "x"}\n```') == "SELECT 3"
    assert extract_sql("Here you go: SELECT a FROM t WHERE b = 1\n\nThis counts rows.") == "SELECT a FROM t WHERE b = 1"
    assert extract_sql("I cannot help with that.") is None
    assert extract_json('noise [{"a": 1}] tail') == [{"a": 1}]


def _big_schema(n: int) -> Schema:
    tables = [Table(name=f"t{i}_misc", columns=[Column("id", "INT", primary_key=True), Column(f"c{i}", "TEXT")]) for i in range(n)]
    tables.append(Table(name="invoices", columns=[Column("id", "INT", primary_key=True), Column("customer_id", "INT", references=("customers", "id")),
                                                  Column("total", "NUMERIC")]))
    tables.append(Table(name="customers", columns=[Column("id", "INT", primary_key=True), Column("city", "TEXT", values=["Berlin", "Lyon"])]))
    return Schema("postgres", tables)


def test_linking_finds_the_tables_and_stays_bounded():
    schema = _big_schema(10_000)
    linked = link("total invoices per customer in Lyon", schema)
    names = [t.name for t in linked.tables]
    assert "invoices" in names and "customers" in names
    assert len(names) <= 11
    assert len(render_schema(linked)) < 32_000
