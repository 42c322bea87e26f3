"""An adversarial suite against a policed table, on real SQLite, PostgreSQL and MariaDB.

Each statement is rewritten under the role's policy and run on the full data; its rows must equal
what the *unrewritten* statement returns on a copy of the data that holds only the permitted rows
(the truth). So a leak is a wrong answer, measured on data, never on SQL text.
"""
from __future__ import annotations

import sqlite3
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import pytest

from tabletalk.core.datasources.base import connector_for
from tabletalk.core.errors import Forbidden, Invalid
from tabletalk.core.policy.rewrite import Rule, apply_policies

RULES = [Rule("sales", "department = '{{dept}}'"), Rule("employees"), Rule("big_sales")]
VALUES = {"dept": "east"}
TABLES = {"sales", "employees", "salaries", "big_sales"}

SALES = [(i, "east" if i % 4 == 0 else "west", ["north", "south"][i % 2], (i * 37) % 500 + 10, (i % 6) + 1) for i in range(1, 41)]
EMPLOYEES = [(i, f"emp{i}", "east" if i % 2 else "west") for i in range(1, 7)]
SALARIES = [(i, 1000 * i) for i in range(1, 7)]

# (name, sql, engines) — engines None means all three.
STATEMENTS = [
    ("plain", "SELECT id, amount FROM sales", None),
    ("count", "SELECT COUNT(*) FROM sales", None),
    ("sum", "SELECT SUM(amount) FROM sales", None),
    ("alias", "SELECT s.id FROM sales s", None),
    ("alias_as", "SELECT x.id FROM sales AS x WHERE x.amount > 100", None),
    ("upper_case", "SELECT ID FROM SALES", None),
    ("mixed_case", "select Id from SaLeS", None),
    ("schema_qualified", "SELECT id FROM {schema}.sales", None),
    ("block_comment", "SELECT id FROM /* hide */ sales", None),
    ("line_comment", "SELECT id FROM sales -- WHERE department = 'east'\n", None),
    ("where_or_true", "SELECT id FROM sales WHERE 1=1 OR department = 'west'", None),
    ("self_join", "SELECT a.id, b.id FROM sales a JOIN sales b ON a.employee_id = b.employee_id", None),
    ("join_star", "SELECT * FROM sales JOIN employees ON employees.id = sales.employee_id", None),
    ("left_join", "SELECT e.name, s.id FROM employees e LEFT JOIN sales s ON s.employee_id = e.id", None),
    ("right_side", "SELECT s.id FROM employees e JOIN sales s ON s.employee_id = e.id", None),
    ("comma_join", "SELECT s.id, e.id FROM sales s, employees e WHERE s.employee_id = e.id", None),
    ("cross_join", "SELECT COUNT(*) FROM sales CROSS JOIN employees", None),
    ("subquery_from", "SELECT t.id FROM (SELECT * FROM sales) t", None),
    ("nested_subquery", "SELECT id FROM (SELECT * FROM (SELECT id, amount FROM sales) a) b", None),
    ("in_subquery", "SELECT name FROM employees WHERE id IN (SELECT employee_id FROM sales)", None),
    ("not_in_subquery", "SELECT name FROM employees WHERE id NOT IN (SELECT employee_id FROM sales)", None),
    ("exists", "SELECT name FROM employees e WHERE EXISTS (SELECT 1 FROM sales s WHERE s.employee_id = e.id)", None),
    ("scalar_subquery", "SELECT (SELECT COUNT(*) FROM sales) AS n", None),
    ("scalar_in_select", "SELECT e.id, (SELECT SUM(amount) FROM sales s WHERE s.employee_id = e.id) FROM employees e", None),
    ("correlated_where", "SELECT id FROM sales s WHERE amount > (SELECT AVG(amount) FROM sales s2 WHERE s2.region = s.region)", None),
    ("cte", "WITH x AS (SELECT * FROM sales) SELECT id FROM x", None),
    ("nested_cte", "WITH a AS (SELECT * FROM sales), b AS (SELECT id FROM a) SELECT id FROM b", None),
    ("cte_reusing_cte_name", "WITH a AS (SELECT id FROM sales) SELECT id FROM a WHERE id IN (WITH a AS (SELECT 1 AS id) SELECT id FROM a)", None),
    ("cte_in_subquery", "SELECT id FROM (WITH q AS (SELECT id FROM sales) SELECT id FROM q) z", None),
    ("recursive_cte", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
                      "SELECT r.n, s.id FROM r, sales s WHERE s.employee_id = r.n", None),
    ("union", "SELECT id FROM sales UNION SELECT id FROM sales", None),
    ("union_all", "SELECT id FROM sales UNION ALL SELECT id + 1000 FROM sales", None),
    ("intersect", "SELECT employee_id FROM sales INTERSECT SELECT id FROM employees", None),
    ("except", "SELECT id FROM employees EXCEPT SELECT employee_id FROM sales", None),
    ("window", "SELECT id, SUM(amount) OVER (PARTITION BY region) FROM sales", None),
    ("row_number", "SELECT id, ROW_NUMBER() OVER (ORDER BY amount) FROM sales", None),
    ("group_having", "SELECT department, COUNT(*) FROM sales GROUP BY department HAVING COUNT(*) > 0", None),
    ("distinct", "SELECT DISTINCT department FROM sales", None),
    ("order_limit", "SELECT id FROM sales ORDER BY amount DESC LIMIT 3", None),
    ("case_expr", "SELECT SUM(CASE WHEN department = 'west' THEN 1 ELSE 0 END) FROM sales", None),
    ("derived_join", "SELECT d.id FROM employees e JOIN (SELECT * FROM sales WHERE amount > 0) d ON d.employee_id = e.id", None),
    ("quoted_identifier_pg", 'SELECT id FROM "sales"', ("sqlite", "postgres")),
    ("quoted_identifier_my", "SELECT id FROM `sales`", ("mysql",)),
    ("lateral", "SELECT e.id, l.id FROM employees e, LATERAL (SELECT id FROM sales s WHERE s.employee_id = e.id) l", ("postgres",)),
    ("view", "SELECT id FROM big_sales", None),
]
WRITES = [
    "INSERT INTO sales VALUES (999, 'west', 'north', 1, 1)",
    "UPDATE sales SET amount = 0",
    "DELETE FROM sales",
    "DROP TABLE sales",
    "CREATE TABLE evil (id INT)",
    "ALTER TABLE sales ADD COLUMN x INT",
    "TRUNCATE TABLE sales",
    "SELECT 1; DELETE FROM sales",
    "SELECT id FROM sales; -- harmless\nDROP TABLE sales",
    "PRAGMA writable_schema = 1",
    "ATTACH DATABASE '/tmp/x.db' AS x",
    "COPY sales TO '/tmp/sales.csv'",
    "SELECT * INTO evil FROM sales",
    "WITH d AS (DELETE FROM sales RETURNING *) SELECT * FROM d",
    "SELECT * FROM sales FOR UPDATE",
    "GRANT ALL ON sales TO PUBLIC",
    "MERGE INTO sales USING employees ON 1=1 WHEN MATCHED THEN DELETE",
]
HIDDEN = [
    "SELECT * FROM salaries",
    "SELECT e.name, (SELECT salary FROM salaries WHERE employee_id = e.id) FROM employees e",
    "SELECT id FROM sales WHERE employee_id IN (SELECT employee_id FROM salaries)",
    "WITH s AS (SELECT * FROM salaries) SELECT * FROM s",
    "SELECT id FROM sales UNION SELECT employee_id FROM salaries",
]
VIEW_SQL = "SELECT id, amount FROM sales WHERE amount > 100"


def _norm(rows) -> list[tuple]:
    def v(x):
        if isinstance(x, Decimal):
            x = float(x)
        if isinstance(x, float) and x.is_integer():
            x = int(x)
        if isinstance(x, float):
            x = round(x, 4)
        return x
    return sorted((tuple(v(x) for x in r) for r in rows), key=repr)


def _ddl(engine: str) -> list[str]:
    text = "VARCHAR(20)" if engine == "mysql" else "TEXT"
    return [f"CREATE TABLE employees (id INTEGER PRIMARY KEY, name {text}, department {text})",
            f"CREATE TABLE sales (id INTEGER PRIMARY KEY, department {text}, region {text}, amount INTEGER, employee_id INTEGER)",
            "CREATE TABLE salaries (employee_id INTEGER PRIMARY KEY, salary INTEGER)",
            f"CREATE VIEW big_sales AS {VIEW_SQL}"]


def _rows(full: bool):
    sales = SALES if full else [r for r in SALES if r[1] == "east"]
    return [("employees", EMPLOYEES), ("sales", sales), ("salaries", SALARIES)]


class Engine:
    """One database server with a full copy and a truth copy (only permitted sales rows)."""

    def __init__(self, name: str, dialect: str, full, truth, schema: str):
        self.name, self.dialect, self.full, self.truth, self.schema = name, dialect, full, truth, schema


async def _sqlite(tmp_path) -> Engine:
    paths = {}
    for kind in ("full", "truth"):
        path = tmp_path / f"{kind}.db"
        db = sqlite3.connect(path)
        for stmt in _ddl("sqlite"):
            db.execute(stmt)
        for table, rows in _rows(kind == "full"):
            db.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)
        db.commit()
        db.close()
        paths[kind] = connector_for("sqlite", {"database": str(path)})
    return Engine("sqlite", "sqlite", paths["full"], paths["truth"], "main")


async def _postgres(url: str) -> Engine:
    import asyncpg

    p = urlsplit(url)
    admin = await asyncpg.connect(url)
    truth_db = p.path[1:] + "_truth"
    await admin.execute(f'CREATE DATABASE "{truth_db}"')
    await admin.close()
    conns = {}
    for kind, db in (("full", p.path[1:]), ("truth", truth_db)):
        c = await asyncpg.connect(urlunsplit(p._replace(path="/" + db)))
        for stmt in _ddl("postgres"):
            await c.execute(stmt)
        for table, rows in _rows(kind == "full"):
            await c.executemany(f"INSERT INTO {table} VALUES ({','.join(f'${i + 1}' for i in range(len(rows[0])))})", rows)
        await c.close()
        conns[kind] = connector_for("postgresql", {"host": p.hostname, "port": p.port, "user": p.username,
                                                   "password": p.password, "database": db})
    return Engine("postgres", "postgres", conns["full"], conns["truth"], "public")


async def _mysql(url: str) -> Engine:
    import aiomysql

    p = urlsplit(url)
    base = p.path[1:]
    conn = await aiomysql.connect(host=p.hostname, port=p.port, user=p.username, password=p.password, autocommit=True)
    conns = {}
    async with conn.cursor() as cur:
        await cur.execute(f"CREATE DATABASE `{base}_truth`")
        for kind, db in (("full", base), ("truth", base + "_truth")):
            await cur.execute(f"USE `{db}`")
            for stmt in _ddl("mysql"):
                await cur.execute(stmt)
            for table, rows in _rows(kind == "full"):
                await cur.executemany(f"INSERT INTO {table} VALUES ({','.join(['%s'] * len(rows[0]))})", rows)
            conns[kind] = connector_for("mysql", {"host": p.hostname, "port": p.port, "user": p.username,
                                                  "password": p.password, "database": db})
        await cur.execute(f"USE `{base}`")
    conn.close()
    return Engine("mysql", "mysql", conns["full"], conns["truth"], base)


@pytest.fixture
async def sqlite_engine(tmp_path):
    yield await _sqlite(tmp_path)


@pytest.fixture
async def postgres_engine(pg_url):
    import asyncpg

    eng = await _postgres(pg_url)
    yield eng
    await eng.full.close()
    await eng.truth.close()
    admin = await asyncpg.connect(pg_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(pg_url).path[1:]}_truth" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def mysql_engine(mysql_url):
    import aiomysql

    eng = await _mysql(mysql_url)
    yield eng
    await eng.full.close()
    await eng.truth.close()
    p = urlsplit(mysql_url)
    conn = await aiomysql.connect(host=p.hostname, port=p.port, user=p.username, password=p.password, autocommit=True)
    async with conn.cursor() as cur:
        await cur.execute(f"DROP DATABASE IF EXISTS `{p.path[1:]}_truth`")
    conn.close()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def engine(request):
    return request.getfixturevalue(f"{request.param}_engine")


def _rewrite(eng: Engine, sql: str) -> str:
    return apply_policies(sql.format(schema=eng.schema), eng.dialect, RULES, VALUES, all_tables=TABLES,
                          views={"big_sales": VIEW_SQL}, schemas={eng.schema})


async def test_no_statement_returns_rows_outside_the_filter(engine):
    assert len(STATEMENTS) >= 40
    checked = 0
    for name, sql, engines in STATEMENTS:
        if engines and engine.dialect not in engines:
            continue
        rewritten = _rewrite(engine, sql)
        truth_sql = sql.format(schema=engine.schema if engine.dialect != "mysql" else engine.truth.cfg.database)
        try:
            want = await engine.truth.execute(truth_sql, max_rows=10_000)
        except Invalid:  # e.g. MariaDB on Linux: `SALES` is not `sales`; then the rewrite must fail too
            with pytest.raises(Invalid):
                await engine.full.execute(rewritten, max_rows=10_000)
            continue
        got = await engine.full.execute(rewritten, max_rows=10_000)
        assert _norm(got.data) == _norm(want.data), f"{engine.name}/{name}: {rewritten}"
        checked += 1
    assert checked >= 38


async def test_the_truth_comparison_catches_a_leak(engine):
    """Without the rewrite the same statements do leak, so the comparison above can fail."""
    leaks = 0
    for name, sql, engines in STATEMENTS[:5]:
        got = await engine.full.execute(sql.format(schema=engine.schema), max_rows=10_000)
        truth_sql = sql.format(schema=engine.schema if engine.dialect != "mysql" else engine.truth.cfg.database)
        want = await engine.truth.execute(truth_sql, max_rows=10_000)
        leaks += _norm(got.data) != _norm(want.data)
    assert leaks == 5


async def test_every_write_is_refused_and_nothing_changes(engine):
    before = (await engine.full.execute("SELECT COUNT(*), SUM(amount) FROM sales")).data
    for sql in WRITES:
        with pytest.raises(Invalid):
            _rewrite(engine, sql)
        with pytest.raises(Invalid):  # the executor refuses it too, policy or not
            await engine.full.execute(sql)
    assert (await engine.full.execute("SELECT COUNT(*), SUM(amount) FROM sales")).data == before


async def test_hidden_tables_are_not_permitted(engine):
    for sql in HIDDEN:
        with pytest.raises(Forbidden):
            _rewrite(engine, sql)


def test_system_catalogs_and_table_functions_are_refused():
    for sql, dialect in [("SELECT * FROM sqlite_master", "sqlite"), ("SELECT * FROM information_schema.tables", "postgres"),
                         ("SELECT * FROM pg_catalog.pg_user", "postgres"), ("SELECT * FROM mysql.user", "mysql"),
                         ("SELECT * FROM json_each('[1]')", "sqlite"), ("SELECT * FROM generate_series(1, 3)", "postgres"),
                         ("SELECT * FROM other_db.sales", "mysql")]:
        with pytest.raises(Forbidden):
            apply_policies(sql, dialect, RULES, VALUES, all_tables=TABLES)


def test_a_cte_reusing_a_table_name_is_refused():
    # Engines disagree on what such a name means inside the CTE (SQLite: a circular reference,
    # PostgreSQL: the real table), so shadowing is refused rather than guessed.
    for sql in ("WITH sales AS (SELECT * FROM sales) SELECT id FROM sales",
                "WITH RECURSIVE sales AS (SELECT * FROM sales) SELECT * FROM sales",
                "WITH employees AS (SELECT * FROM sales) SELECT * FROM employees"):
        with pytest.raises(Invalid, match="reuse the name"):
            apply_policies(sql, "sqlite", RULES, VALUES, all_tables=TABLES)


def test_star_grants_every_table_but_keeps_filters():
    rules = [Rule("*"), Rule("sales", "department = '{{dept}}'")]
    sql = apply_policies("SELECT * FROM salaries JOIN sales ON 1=1", "sqlite", rules, VALUES, all_tables=TABLES)
    assert "salaries" in sql and "department = 'east'" in sql
