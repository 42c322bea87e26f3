"""Schema linking: the right tables for a question on a multi-table schema (names, plurals,
snake_case, values, descriptions, typos, FK partners), column trimming, reuse of the index, a role's
restricted view, and bounds on a 10,000-table schema; plus the DDL rendering of the prompt."""
from __future__ import annotations

import time

from tabletalk.core.metadata.schema import Column, Schema, Table
from tabletalk.core.nlq.linking import index_for, link, render_schema


def pk() -> Column:
    return Column("id", "INTEGER", primary_key=True)


def fk(name: str, table: str) -> Column:
    return Column(name, "INTEGER", references=(table, "id"))


def company() -> Schema:
    return Schema("postgres", [
        Table("customers", [pk(), Column("full_name", "TEXT"), Column("city", "TEXT", values=["Berlin", "Lyon", "Osaka"])]),
        Table("orders", [pk(), fk("customer_id", "customers"), Column("placed_at", "DATE"), Column("total", "NUMERIC")]),
        Table("order_items", [pk(), fk("order_id", "orders"), fk("product_id", "products"), Column("quantity", "INTEGER")]),
        Table("products", [pk(), Column("title", "TEXT"), fk("category_id", "product_categories"), Column("price", "NUMERIC")]),
        Table("product_categories", [pk(), Column("label", "TEXT", values=["Garden", "Kitchen"])]),
        Table("employees", [pk(), Column("name", "TEXT"), fk("department_id", "departments"), Column("salary", "NUMERIC")]),
        Table("departments", [pk(), Column("name", "TEXT")]),
        Table("students", [pk(), Column("name", "TEXT")]),
        Table("courses", [pk(), Column("title", "TEXT", values=["Algebra", "Poetry"])]),
        Table("enrollments", [pk(), fk("sid", "students"), fk("cid", "courses")]),  # no word in common
        Table("tickets", [pk(), Column("subject", "TEXT"), Column("status", "TEXT", values=["open", "closed"])],
              description="Support requests raised by users"),
        Table("audit_log", [pk(), Column("event", "TEXT")]),
        # Weak matches that a table's FK partners must outrank.
        Table("course_feedback", [pk(), Column("comment", "TEXT")]),
        Table("student_clubs", [pk(), Column("club", "TEXT")]),
        Table("hr_notes", [pk(), Column("body", "TEXT")], description="Notes about employees"),
    ])


def names(schema: Schema) -> list[str]:
    return [t.name for t in schema.tables]


def test_the_tables_a_question_names_come_first():
    linked = link("average salary per department", company(), max_tables=3)
    assert set(names(linked)[:2]) == {"employees", "departments"}
    assert "customers" not in names(linked)


def test_plurals_and_snake_case_parts_match():
    linked = link("which product category sells the most items", company(), max_tables=4)
    assert {"products", "product_categories", "order_items"} <= set(names(linked))


def test_values_and_descriptions_point_to_their_tables():
    assert names(link("customers from Osaka", company(), max_tables=2))[0] == "customers"
    assert "tickets" in names(link("open support requests", company(), max_tables=2))


def test_a_misspelt_word_still_finds_its_table():
    assert "customers" in names(link("how many custmers are there", company(), max_tables=2))


def test_link_table_between_two_matches_is_pulled_in():
    linked = link("students taking the Algebra course", company(), max_tables=3)
    assert set(names(linked)) == {"students", "courses", "enrollments"}  # enrollments matched no word


def test_tables_a_strong_match_references_are_pulled_in():
    assert names(link("employees hired in 2024", company(), max_tables=2)) == ["employees", "departments"]


def test_a_table_named_by_the_whole_word_beats_one_sharing_part_of_its_name():
    schema = Schema("sqlite", [Table("order_items", [pk()]), Table("orders", [pk()])] + company().tables[5:])
    assert names(link("how many orders", schema, max_tables=1)) == ["orders"]


def test_a_small_schema_is_kept_whole():
    small = Schema("sqlite", company().tables[:3])
    assert names(link("anything at all", small)) == ["customers", "orders", "order_items"]


def test_wide_tables_keep_keys_and_the_columns_the_question_names():
    wide = Table("accounts", [Column(f"metric_{i}", "NUMERIC") for i in range(100)] + [
        Column("loyalty_tier", "TEXT"), Column("segment", "TEXT", values=["gold", "silver"]), pk(), fk("owner_id", "customers")])
    schema = Schema("sqlite", [wide, company().tables[0]])
    [accounts] = [t for t in link("accounts by loyalty tier in gold", schema, max_columns_per_table=10).tables
                  if t.name == "accounts"]
    kept = [c.name for c in accounts.columns]
    assert len(kept) == 10 and {"id", "owner_id", "loyalty_tier", "segment"} <= set(kept)
    assert kept == [c.name for c in wide.columns if c.name in kept]  # the table's own order


def huge(n: int = 10_000) -> Schema:
    tables = [Table(f"archive_{i}_misc", [pk(), Column(f"note_{i}", "TEXT"), Column("amount", "NUMERIC")]) for i in range(n)]
    tables += [Table("invoices", [pk(), fk("customer_id", "customers"), Column("amount", "NUMERIC")]),
               Table("customers", [pk(), Column("city", "TEXT", values=["Berlin", "Lyon"])])]
    return Schema("postgres", tables)


def test_a_10000_table_schema_stays_bounded_and_reuses_its_index():
    schema = huge()
    linked = link("total invoice amount per customer in Lyon", schema)
    assert {"invoices", "customers"} <= set(names(linked)) and len(linked.tables) <= 8
    assert len(render_schema(linked)) / 4 <= 8_000
    index, _ = index_for(schema)
    t0 = time.perf_counter()
    for _ in range(10):
        link("invoices per customer", schema)
    assert index_for(schema)[0] is index  # built once, not per question
    assert (time.perf_counter() - t0) / 10 < 0.5  # generous: a per-question full scan of 10,000 tables is slower


def test_an_equal_schema_rebuilt_after_a_refresh_reuses_the_index_but_an_edit_does_not():
    first = index_for(huge(2_000))[0]
    assert index_for(huge(2_000))[0] is first
    edited = huge(2_000)
    edited.tables[-1].description = "People who pay invoices"
    assert index_for(edited)[0] is not first


def test_a_roles_restricted_view_only_offers_its_tables():
    schema = huge(2_000)
    index, _ = index_for(schema)
    view = schema.restricted_to({t.name for t in schema.tables if t.name != "customers"})
    linked = link("invoice amount per customer in Lyon", view)
    assert "invoices" in names(linked) and "customers" not in names(linked)
    assert index_for(view)[0] is index  # the full schema's index, filtered


def test_render_schema_shows_keys_values_and_descriptions_as_comments():
    text = render_schema(company().restricted_to({"customers", "orders", "tickets"}))
    assert "CREATE TABLE customers (" in text
    assert "customer_id INTEGER,  -- references customers(id)" in text
    assert "city TEXT,  -- values: 'Berlin', 'Lyon', 'Osaka'" not in text  # last column: no comma
    assert "city TEXT  -- values: 'Berlin', 'Lyon', 'Osaka'" in text
    assert "CREATE TABLE tickets (  -- Support requests raised by users" in text


def test_render_schema_quotes_names_the_dialect_needs_quoted():
    schema = Schema("postgres", [Table("order", [Column("ID", "INT"), Column("unit price", "NUMERIC"), Column("qty", "INT")])])
    pg = render_schema(schema)
    assert 'CREATE TABLE "order"' in pg and '"ID" INT' in pg and '"unit price"' in pg and "  qty INT" in pg
    mysql = render_schema(schema, "mysql")
    assert "CREATE TABLE `order`" in mysql and "  ID INT" in mysql and "`unit price`" in mysql


def test_render_schema_is_capped_and_says_what_it_left_out():
    schema = huge(300)
    text = render_schema(schema, max_chars=2_000)
    assert len(text) <= 2_100 and text.rstrip().endswith("omitted for length")


def test_render_schema_shows_sample_values_exactly_as_stored():
    schema = Schema("sqlite", [Table("airports", [Column("abbrev", "TEXT", values=["US", "US ", " APG", "O'Hare"])])])
    assert "values: 'US', 'US ', ' APG', 'O''Hare'" in render_schema(schema)


def test_render_schema_names_a_foreign_key_target_only_when_it_shows_it():
    """A role's schema lacks the tables it may not see and hidden columns: a remark must not name them."""
    schema = company()
    alone = render_schema(schema.restricted_to({"orders"}))
    assert "customer_id INTEGER,  -- references" not in alone and "customers" not in alone
    customers = schema.table("customers")
    without_id = Schema("postgres", [schema.table("orders"), Table("customers", customers.columns[1:], hidden=("id",))])
    assert "references customers" not in render_schema(without_id)
    assert "customer_id INTEGER,  -- references customers(id)" in render_schema(schema.restricted_to({"orders", "customers"}))


def test_the_same_question_on_the_same_schema_object_is_linked_once():
    schema = company()
    first = link("average salary per department", schema, max_tables=3)
    assert link("average salary per department", schema, max_tables=3) is first
    assert link("average salary per department", schema, max_tables=2) is not first
    rebuilt = company()  # a sync builds new objects: linked afresh, never from the old one's memo
    again = link("average salary per department", rebuilt, max_tables=3)
    assert again is not first and [t.name for t in again.tables] == [t.name for t in first.tables]
