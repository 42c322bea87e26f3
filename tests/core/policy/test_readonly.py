"""The read-only guard: one SELECT-like query, no writes, no side-effect functions, no hidden statements."""
import pytest
import sqlglot

from tabletalk.core.errors import Invalid
from tabletalk.core.policy.readonly import check_read_only, parse_read_only, read_only_sql

# (dialect, statement): each must be refused before it reaches any database.
REFUSED = [
    ("sqlite", "INSERT INTO sales VALUES (1)"), ("postgres", "UPDATE sales SET amount = 0"),
    ("mysql", "DELETE FROM sales"), ("mysql", "REPLACE INTO sales VALUES (1)"), ("sqlite", "DROP TABLE sales"),
    ("postgres", "CREATE TABLE evil (id INT)"), ("postgres", "CREATE VIEW v AS SELECT 1"),
    ("mysql", "ALTER TABLE sales ADD COLUMN x INT"), ("postgres", "TRUNCATE sales"),
    ("postgres", "MERGE INTO sales USING employees ON true WHEN MATCHED THEN DELETE"),
    ("postgres", "GRANT ALL ON sales TO PUBLIC"), ("postgres", "REVOKE ALL ON sales FROM PUBLIC"),
    ("sqlite", "PRAGMA writable_schema = 1"), ("sqlite", "PRAGMA table_info(sales)"),
    ("sqlite", "ATTACH DATABASE '/tmp/x.db' AS x"), ("sqlite", "DETACH DATABASE x"), ("sqlite", "VACUUM"),
    ("postgres", "COPY sales TO '/tmp/sales.csv'"), ("postgres", "COPY (SELECT 1) TO PROGRAM 'id'"),
    ("postgres", "SET search_path = evil"), ("mysql", "SET @a = 1"), ("postgres", "CALL p()"),
    ("mysql", "LOAD DATA INFILE '/etc/passwd' INTO TABLE sales"), ("postgres", "EXPLAIN ANALYZE DELETE FROM sales"),
    ("postgres", "DO $$ BEGIN DELETE FROM sales; END $$"), ("postgres", "BEGIN"), ("postgres", "COMMIT"),
    ("postgres", "PREPARE p AS SELECT 1"), ("postgres", "LISTEN x"), ("postgres", "NOTIFY x"),
    ("mysql", "LOCK TABLES sales WRITE"), ("mysql", "HANDLER sales OPEN"), ("mysql", "DO SLEEP(1)"),
    ("mysql", "RENAME TABLE sales TO s2"), ("mysql", "SHOW TABLES"), ("mysql", "KILL 1"),
    ("postgres", "SELECT * INTO evil FROM sales"), ("mysql", "SELECT * INTO @a FROM sales"),
    ("mysql", "SELECT * FROM sales INTO OUTFILE '/tmp/x'"), ("mysql", "SELECT * FROM sales INTO DUMPFILE '/tmp/x'"),
    ("postgres", "SELECT * FROM sales FOR UPDATE"), ("postgres", "SELECT * FROM sales FOR KEY SHARE"),
    ("mysql", "SELECT * FROM sales LOCK IN SHARE MODE"),
    ("postgres", "WITH d AS (DELETE FROM sales RETURNING *) SELECT * FROM d"),
    ("postgres", "WITH i AS (INSERT INTO sales VALUES (1) RETURNING *) SELECT * FROM i"),
    ("postgres", "WITH u AS (UPDATE sales SET amount = 0 RETURNING *) SELECT * FROM u"),
    ("postgres", "SELECT 1; DELETE FROM sales"), ("sqlite", "SELECT id FROM sales; -- harmless\nDROP TABLE sales"),
    ("sqlite", "SELECT 1 /* ; */ ; DELETE FROM sales"), ("mysql", "SELECT 1 # comment\n; DROP TABLE sales"),
    ("sqlite", ""), ("sqlite", " -- only a comment"), ("sqlite", "SELECT 'unterminated"), ("sqlite", "SELEKT 1"),
]
DENIED_CALLS = [
    ("postgres", "SELECT pg_sleep(5)"), ("postgres", 'SELECT "pg_sleep"(5)'), ("postgres", "SELECT pg_catalog.pg_sleep(5)"),
    ("postgres", "SELECT pg_read_file('/etc/passwd')"), ("postgres", "SELECT pg_ls_dir('.')"),
    ("postgres", "SELECT lo_import('/etc/passwd')"), ("postgres", "SELECT * FROM dblink('h', 'select 1') AS t(a int)"),
    ("postgres", "SELECT query_to_xml('select * from salaries', true, true, '')"),
    ("postgres", "SELECT set_config('a.b', 'c', false)"), ("postgres", "SELECT nextval('s')"),
    ("postgres", "SELECT pg_advisory_lock(1)"), ("postgres", "SELECT id FROM sales WHERE pg_sleep(1) IS NULL"),
    ("sqlite", "SELECT load_extension('/tmp/x.so')"), ("sqlite", "SELECT writefile('/tmp/x', 'y')"),
    ("mysql", "SELECT load_file('/etc/passwd')"), ("mysql", "SELECT sleep(3)"), ("mysql", "SELECT benchmark(1e9, 1)"),
    ("mysql", "SELECT get_lock('x', 10)"), ("duckdb", "SELECT * FROM read_csv('/etc/passwd')"),
]


@pytest.mark.parametrize("dialect,sql", REFUSED)
def test_writes_and_anything_but_one_query_are_refused(dialect, sql):
    with pytest.raises(Invalid):
        parse_read_only(sql, dialect)


@pytest.mark.parametrize("dialect,sql", DENIED_CALLS)
def test_side_effect_and_file_functions_are_refused(dialect, sql):
    with pytest.raises(Invalid, match="not allowed"):
        parse_read_only(sql, dialect)


def test_refusals_say_what_to_do():
    with pytest.raises(Invalid, match=r"a WITH clause may not change data"):
        parse_read_only("WITH d AS (DELETE FROM sales RETURNING *) SELECT * FROM d", "postgres")
    with pytest.raises(Invalid, match=r"remove everything after the first ';'"):
        parse_read_only("SELECT 1; SELECT 2", "sqlite")
    with pytest.raises(Invalid, match=r"this is a DELETE statement"):
        parse_read_only("DELETE FROM sales", "sqlite")
    with pytest.raises(Invalid, match=r"^Could not parse the SQL"):
        parse_read_only("SELECT 'unterminated", "sqlite")


@pytest.mark.parametrize("sql", ["SELECT 1", "(SELECT 1)", "SELECT 1 UNION SELECT 2", "SELECT 1 INTERSECT SELECT 1",
                                 "SELECT 1 EXCEPT SELECT 2", "WITH a AS (SELECT 1) SELECT * FROM a",
                                 "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
                                 "SELECT 1;"])
def test_read_only_queries_pass(sql):
    parse_read_only(sql, "postgres")


def test_a_parsed_tree_is_checked_the_same_way():
    with pytest.raises(Invalid):
        check_read_only(sqlglot.parse_one("DELETE FROM sales"), "sqlite")
    tree = sqlglot.parse_one("SELECT 1")
    assert check_read_only(tree, "sqlite") is tree


def test_mysql_executable_comments_never_reach_the_database():
    assert read_only_sql("SELECT 1 /*!, (SELECT 2) */", "mysql") == "SELECT 1"
    assert read_only_sql("SELECT id FROM sales /*!50000 UNION SELECT salary FROM salaries */", "mysql") == "SELECT id FROM sales"
