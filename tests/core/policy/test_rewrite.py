"""The row-policy rewriter as a pure function: visibility, filter composition, scoping and refusals.
Whether the rewritten SQL returns only permitted rows on real engines is test_adversarial.py's job."""
import sqlite3

import pytest
import sqlglot
from sqlglot import exp

from tabletalk.core.errors import Forbidden, Invalid
from tabletalk.core.policy.rewrite import Rule, apply_policies, visible_tables

TABLES = {"sales", "employees", "salaries"}
RULES = [Rule("sales", "department = '{{dept}}'"), Rule("employees")]
VALUES = {"dept": "east"}


def rewrite(sql, dialect="sqlite", rules=RULES, values=VALUES, **kw):
    kw.setdefault("all_tables", TABLES)
    return apply_policies(sql, dialect, rules, values, **kw)


@pytest.fixture
def db():
    """A tiny SQLite database: three sales rows in two departments."""
    conn = sqlite3.connect(":memory:")
    conn.executescript("""
        CREATE TABLE sales (id INTEGER, department TEXT, region TEXT, amount INTEGER);
        INSERT INTO sales VALUES (1, 'east', 'emea', 10), (2, 'west', 'emea', 20), (3, 'east', 'apac', 30);
        CREATE TABLE employees (id INTEGER, name TEXT, department TEXT);
        INSERT INTO employees VALUES (1, 'ann', 'west');
        CREATE TABLE salaries (employee_id INTEGER, salary INTEGER);
    """)
    yield conn
    conn.close()


def test_without_rules_the_sql_is_returned_unchanged_but_still_checked():
    sql = "SELECT * FROM salaries  -- all of it"
    assert rewrite(sql, rules=[]) == sql
    with pytest.raises(Invalid):
        rewrite("DELETE FROM salaries", rules=[])
    with pytest.raises(Invalid):
        rewrite(sqlglot.parse_one("DROP TABLE sales"), rules=[])


def test_visible_tables_is_none_without_rules_and_deny_by_default_with_them():
    assert visible_tables([], TABLES) is None
    assert visible_tables([Rule('"Sales"'), Rule("main.EMPLOYEES"), Rule("ghost")], TABLES) == {"sales", "employees"}
    assert visible_tables([Rule("`sales`", "x = 1")], {"Sales", "Salaries"}) == {"sales"}
    assert visible_tables([Rule("*")], {"Sales", "Salaries"}) == {"sales", "salaries"}


def test_a_hidden_table_is_forbidden_with_its_name():
    with pytest.raises(Forbidden, match=r"^You are not permitted to query the table 'salaries'\.$"):
        rewrite("SELECT e.name FROM employees e WHERE e.id IN (SELECT employee_id FROM salaries)")


def test_an_unknown_table_is_invalid_and_names_it():
    with pytest.raises(Invalid, match="The table 'ghost' does not exist"):
        rewrite("SELECT * FROM ghost")


@pytest.mark.parametrize("dialect,sql", [
    ("sqlite", "SELECT * FROM sqlite_master"), ("sqlite", "SELECT * FROM sqlite_schema"),
    ("sqlite", "SELECT * FROM main.sqlite_master"), ("sqlite", "SELECT * FROM sqlite_temp_master"),
    ("sqlite", "SELECT * FROM pragma_table_info('sales')"), ("sqlite", "SELECT * FROM json_each('[1]')"),
    ("sqlite", "SELECT * FROM temp.sales"), ("sqlite", "SELECT * FROM other.sales"),
    ("sqlite", "SELECT * FROM read_csv('/etc/passwd')"), ("postgres", "SELECT * FROM dblink('h', 'select 1') AS t(a int)"),
    ("postgres", "SELECT * FROM information_schema.tables"), ("postgres", "SELECT * FROM pg_catalog.pg_tables"),
    ("postgres", "SELECT * FROM pg_stats"), ("postgres", "SELECT * FROM pg_user"),
    ("postgres", "SELECT * FROM generate_series(1, 3)"), ("postgres", "SELECT * FROM ROWS FROM (generate_series(1, 2))"),
    ("postgres", "SELECT * FROM sales s CROSS JOIN LATERAL generate_series(1, s.id) g"),
    ("postgres", "SELECT * FROM sales s, LATERAL sales_of(s.id) x"), ("postgres", "SELECT * FROM sales_of(1)"),
    ("postgres", "SELECT * FROM public.sales_of(1)"), ("postgres", "SELECT * FROM crm.sales"),
    ("postgres", "SELECT * FROM otherdb.public.sales"),
    ("mysql", "SELECT * FROM information_schema.tables"), ("mysql", "SELECT * FROM mysql.user"),
    ("mysql", "SELECT * FROM performance_schema.threads"), ("mysql", "SELECT * FROM sys.session"),
    ("mysql", "SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (x INT PATH '$')) AS j"), ("mysql", "SELECT * FROM otherdb.sales"),
])
def test_catalogs_table_functions_and_other_schemas_are_forbidden(dialect, sql):
    with pytest.raises(Forbidden):
        rewrite(sql, dialect)


def test_the_datasource_schemas_may_qualify_a_table(db):
    for schema, dialect in (("main", "sqlite"), ("public", "postgres"), ("shop", "mysql")):
        out = rewrite(f"SELECT COUNT(*) FROM {schema}.sales", dialect, schemas={"shop"})
        assert "'east'" in out
    assert db.execute(rewrite("SELECT main.sales.id FROM main.sales")).fetchall() == [(1,), (3,)]


def test_filters_for_one_table_are_anded(db):
    rules = RULES + [Rule("sales", "region = '{{region}}'")]
    out = rewrite("SELECT id FROM sales", rules=rules, values={"dept": "east", "region": "apac"})
    assert db.execute(out).fetchall() == [(3,)]


def test_a_whole_table_grant_does_not_lift_another_rules_filter(db):
    out = rewrite("SELECT id FROM sales", rules=[Rule("sales"), *RULES])
    assert db.execute(out).fetchall() == [(1,), (3,)]


def test_star_grants_every_table_but_keeps_other_filters(db):
    out = rewrite("SELECT s.id, x.salary FROM sales s LEFT JOIN salaries x ON x.employee_id = s.id",
                  rules=[Rule("*"), Rule("sales", "department = '{{dept}}'")])
    assert db.execute(out).fetchall() == [(1, None), (3, None)]


def test_a_star_rule_with_a_filter_filters_every_table(db):
    out = rewrite("SELECT id FROM sales UNION ALL SELECT id FROM employees",
                  rules=[Rule("*", "department = '{{dept}}'")])
    assert db.execute(out).fetchall() == [(1,), (3,)]


def test_a_filter_column_the_table_lacks_fails_instead_of_binding_to_an_outer_query(db):
    # Unqualified, `department` inside the EXISTS would silently mean employees.department.
    out = rewrite("SELECT name FROM employees e WHERE EXISTS (SELECT 1 FROM salaries)",
                  rules=[Rule("employees"), Rule("salaries", "department = '{{dept}}'")], values={"dept": "west"})
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        db.execute(out)


def test_a_cte_named_like_a_table_is_renamed_and_its_body_reads_the_filtered_table(db):
    out = rewrite("WITH sales AS (SELECT * FROM sales) SELECT sales.id FROM sales")
    assert db.execute(out).fetchall() == [(1,), (3,)]
    ctes = [c.alias for c in sqlglot.parse_one(out, read="sqlite").find_all(exp.CTE)]
    assert ctes and "sales" not in ctes


def test_a_self_referencing_cte_without_recursive_is_explained():
    with pytest.raises(Invalid, match="write WITH RECURSIVE"):
        rewrite("WITH r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r")


def test_a_cte_defined_twice_in_one_with_is_invalid():
    with pytest.raises(Invalid, match="same name twice"):
        rewrite("WITH a AS (SELECT 1), a AS (SELECT 2) SELECT * FROM a")


def test_a_view_over_visible_tables_is_inlined_and_filtered(db):
    views = {"big_sales": "SELECT id, amount FROM sales WHERE amount > 15"}
    out = rewrite("SELECT b.id FROM big_sales b", all_tables=TABLES | {"big_sales"}, views=views)
    assert db.execute(out).fetchall() == [(3,)]


def test_a_rule_filtering_a_view_applies_on_top_of_its_base_tables(db):
    views = {"big_sales": "SELECT id, amount FROM sales WHERE amount > 5"}
    rules = RULES + [Rule("big_sales", "amount < {{cap}}")]
    out = rewrite("SELECT id FROM big_sales", rules=rules, values={"dept": "east", "cap": 20},
                  all_tables=TABLES | {"big_sales"}, views=views)
    assert db.execute(out).fetchall() == [(1,)]


def test_a_view_reading_a_hidden_table_is_forbidden_naming_the_view():
    views = {"pay": "SELECT employee_id, salary FROM salaries"}
    for rules in (RULES, RULES + [Rule("pay")]):
        with pytest.raises(Forbidden, match="the view 'pay'"):
            rewrite("SELECT * FROM pay", rules=rules, all_tables=TABLES | {"pay"}, views=views)


def test_views_referring_to_each_other_in_a_cycle_are_invalid():
    views = {"a": "SELECT * FROM b", "b": "SELECT * FROM a"}
    with pytest.raises(Invalid, match="too deeply"):
        rewrite("SELECT * FROM a", rules=[Rule("*")], all_tables=TABLES | {"a", "b"}, views=views)


def test_a_parsed_tree_is_accepted_and_left_untouched():
    tree = sqlglot.parse_one("SELECT id FROM sales")
    before = tree.sql()
    assert "'east'" in rewrite(tree)
    assert tree.sql() == before


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
def test_the_rewritten_sql_parses_again_in_its_dialect(dialect):
    sql = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
           "SELECT s.id, (SELECT COUNT(*) FROM sales x WHERE x.region = s.region) FROM r JOIN sales s ON s.id = r.n")
    out = rewrite(sql, dialect)
    assert sqlglot.parse_one(out, read=dialect).sql(dialect) == out


@pytest.mark.parametrize("dialect,sql", [
    ("postgres", 'SELECT * FROM "SALES"'),       # a distinct table on PostgreSQL: never sales's filter
    ("postgres", 'SELECT * FROM public."Sales"'),
    ("mysql", "SELECT * FROM SALES"),            # MySQL/MariaDB on Linux match table names exactly
    ("mysql", "SELECT * FROM `Sales`"),
])
def test_table_names_keep_the_engines_case_rules(dialect, sql):
    with pytest.raises(Invalid, match="does not exist"):
        rewrite(sql, dialect)
    with pytest.raises(Forbidden):  # when the differently-cased table exists, it is simply not granted
        rewrite(sql, dialect, all_tables=TABLES | {"SALES", "Sales"})


@pytest.mark.parametrize("dialect,sql", [("postgres", "SELECT * FROM SALES"), ("postgres", 'SELECT * FROM "sales"'),
                                         ("sqlite", 'SELECT * FROM "SALES"'), ("mysql", "SELECT * FROM `sales`")])
def test_names_the_engine_folds_to_a_policed_table_get_its_filter(dialect, sql):
    assert "'east'" in rewrite(sql, dialect)


def test_hidden_columns_cannot_be_read(db):
    columns = {"sales": ["id", "department", "region"]}
    out = rewrite("SELECT * FROM sales", columns=columns)
    cur = db.execute(out)
    assert [d[0] for d in cur.description] == ["id", "department", "region"] and len(cur.fetchall()) == 2
    for sql in ("SELECT amount FROM sales", "SELECT s.amount FROM sales AS s", "SELECT SUM(amount) FROM sales"):
        with pytest.raises(sqlite3.OperationalError, match="amount"):
            db.execute(rewrite(sql, columns=columns))
    # A table without a filter is projected too, and a filter may still use a hidden column.
    assert [d[0] for d in db.execute(rewrite("SELECT * FROM employees", columns={"employees": ["id"]})).description] == ["id"]
    out = rewrite("SELECT * FROM sales", rules=[Rule("sales", "amount > 15")], columns={"sales": ["id"]})
    assert db.execute(out).fetchall() == [(2,), (3,)]


def test_a_callers_tree_is_left_as_it_was_and_a_text_is_checked_as_before():
    tree = sqlglot.parse_one("SELECT a FROM t LIMIT 5", read="postgres")
    assert apply_policies(tree, "tsql", [], {}, all_tables={"t"}) == "SELECT TOP 5 a FROM t"
    assert tree.sql(dialect="postgres") == "SELECT a FROM t LIMIT 5"  # generating for T-SQL did not rewrite it
    assert apply_policies("SELECT a FROM t LIMIT 5", "tsql", [], {}, all_tables={"t"}) == "SELECT a FROM t LIMIT 5"
    ruled = apply_policies(tree, "tsql", [Rule("t", "a > 1")], {}, all_tables={"t"})
    assert "TOP 5" in ruled and "a > 1" in ruled and tree.sql(dialect="postgres") == "SELECT a FROM t LIMIT 5"
