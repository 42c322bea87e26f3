"""Refuse anything but a single read-only query before it reaches a datasource.

The checked tree, not the caller's text, is what runs: `read_only_sql` regenerates the SQL without
comments, so nothing the parser skipped (MySQL's `/*! ... */`, a statement after a comment) survives.
"""
from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

from tabletalk.core.errors import Invalid

READ_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)
_WRITES = tuple(getattr(exp, name) for name in (
    "Insert", "Update", "Delete", "Create", "Drop", "Alter", "Merge", "Command", "TruncateTable", "Set", "Pragma",
    "Copy", "LoadData", "Grant", "Revoke", "Use", "Transaction", "Commit", "Rollback", "Attach", "Detach", "Cache",
    "Uncache", "Refresh", "Kill", "Analyze", "Describe", "Install", "NextValueFor",
) if hasattr(exp, name))
# Functions that write, sleep, lock, read files, run SQL given as text or reach other servers: refused anywhere.
DENIED_FUNCTIONS = frozenset({
    # PostgreSQL
    "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf",
    "pg_notify", "set_config", "nextval", "setval", "currval", "lastval", "txid_current", "pg_current_xact_id",
    "pg_export_snapshot", "pg_promote", "pg_switch_wal", "pg_rotate_logfile", "pg_create_restore_point",
    "query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "cursor_to_xml", "cursor_to_xmlschema",
    "table_to_xml", "table_to_xml_and_xmlschema", "table_to_xmlschema", "schema_to_xml", "schema_to_xmlschema",
    "schema_to_xml_and_xmlschema", "database_to_xml", "database_to_xmlschema", "database_to_xml_and_xmlschema",
    "ts_stat", "ts_rewrite", "crosstab", "crosstab2", "crosstab3", "crosstab4", "connectby",
    # SQLite
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile",
    # MySQL / MariaDB
    "load_file", "sleep", "benchmark", "get_lock", "release_lock", "release_all_locks", "master_pos_wait",
    "source_pos_wait", "master_gtid_wait", "sys_exec", "sys_eval", "xp_cmdshell",
    # DuckDB
    "read_csv", "read_csv_auto", "read_parquet", "read_json", "read_json_auto", "read_text", "read_blob", "glob", "copy",
})
# Whole families: advisory locks, file and directory access, large objects, replication, other servers.
DENIED_PREFIXES = ("pg_advisory", "pg_try_advisory", "pg_read_", "pg_ls_", "pg_stat_file", "pg_file_", "pg_logdir",
                   "pg_stat_reset", "pg_replication_", "pg_logical_", "pg_create_", "pg_drop_", "lo_", "dblink")


def parse_read_only(sql: str, dialect: str) -> exp.Expression:
    """Parse `sql` in `dialect` and return its tree, or raise Invalid if it is not one read-only query."""
    return check_read_only(parse_statement(sql, dialect), dialect)


@lru_cache(maxsize=32)
def dialect_of(name: str) -> Dialect:
    """One Dialect object per name (sqlglot builds a new one for every call given a name)."""
    return Dialect.get_or_raise(name)


def parse_statement(sql: str, dialect: str) -> exp.Expression:
    """The tree of the one statement in `sql`, not yet checked; Invalid if there is not exactly one."""
    try:
        statements = [s for s in dialect_of(dialect).parse(sql) if s is not None]
    except SqlglotError as exc:
        raise Invalid(f"Could not parse the SQL: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise Invalid("The SQL is nested too deeply to be checked.") from None
    if not statements:
        raise Invalid("The SQL is empty.")
    if len(statements) > 1:
        raise Invalid("Only one SQL statement may be run at a time; remove everything after the first ';'.")
    return statements[0]


def check_read_only(tree: exp.Expression, dialect: str) -> exp.Expression:
    """Return `tree` if it is one read-only query; otherwise raise Invalid saying what is refused."""
    if not isinstance(tree, READ_ROOTS):
        raise Invalid(f"Only read-only SELECT queries are allowed; this is {_statement_kind(tree)} statement.")
    for node in tree.walk():
        if isinstance(node, _WRITES):
            if node.find_ancestor(exp.CTE):
                raise Invalid("Only read-only SELECT queries are allowed; a WITH clause may not change data.")
            raise Invalid(f"Only read-only SELECT queries are allowed; found {_statement_kind(node)} inside the query.")
        if isinstance(node, exp.Func):
            name = function_name(node)
            if name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES):
                raise Invalid(f"The function {name.upper()} is not allowed in queries.")
        elif isinstance(node, exp.Into):
            raise Invalid("SELECT ... INTO writes data and is not allowed; select the rows without INTO.")
        elif isinstance(node, exp.Lock):
            raise Invalid("Locking clauses (FOR UPDATE/FOR SHARE) are not allowed in read-only queries.")
        elif dialect == "duckdb" and isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
            # DuckDB reads any file named in FROM ('x.csv', read_csv(...)): only declared tables may be queried.
            raise Invalid("Only the datasource's tables can be queried; table functions and file paths are not allowed.")
    return tree


def function_name(node: exp.Func) -> str:
    """A function's bare lower-case name, quotes removed: `"PG_SLEEP"` and `pg_sleep` are the same call."""
    name = str(node.this) if isinstance(node, exp.Anonymous) else node.sql_name()
    return name.strip('"`[]').lower()


def _statement_kind(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        kind = str(node.this).upper()
    else:
        kind = {"truncatetable": "TRUNCATE", "loaddata": "LOAD DATA"}.get(node.key, node.key.upper())
    return f"an {kind}" if kind[:1] in "AEIOU" else f"a {kind}"


# Texts this process regenerated from a tree it had just checked, per dialect (bounded, most recent
# kept). The same text parses to the same tree, so running one of them needs no second parse.
_CHECKED: OrderedDict[tuple[str, str], None] = OrderedDict()
_CHECKED_MAX = 4096


def remember_checked(dialect: str, text: str) -> str:
    _CHECKED[(dialect, text)] = None
    _CHECKED.move_to_end((dialect, text))
    if len(_CHECKED) > _CHECKED_MAX:
        _CHECKED.popitem(last=False)
    return text


def checked_sql(tree: exp.Expression, dialect: str, *, consume: bool = False) -> str:
    """`tree`, which the caller has just checked, as runnable SQL without comments. `consume`: the
    caller is done with the tree, so the generator may transform it in place instead of copying it
    first (a deep copy costs about half of generating)."""
    return remember_checked(dialect, tree.sql(dialect=dialect_of(dialect), comments=False, copy=not consume))


def read_only_sql(sql: str, dialect: str) -> str:
    """The query regenerated from its checked tree, without comments: MySQL runs `/*! ... */`
    comments as SQL, so no comment text ever reaches a database. SQL this process has just
    produced from a checked tree (the policy rewriter's output) is not parsed a second time."""
    if (dialect, sql) in _CHECKED:
        _CHECKED.move_to_end((dialect, sql))
        return sql
    return checked_sql(parse_read_only(sql, dialect), dialect, consume=True)
