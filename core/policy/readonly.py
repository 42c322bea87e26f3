"""Refuse anything but a single read-only query before it reaches a datasource."""
from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tabletalk.core.errors import Invalid

_READ_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Merge, exp.Command,
           exp.TruncateTable, exp.Set, exp.Pragma, exp.Copy, exp.LoadData, exp.Grant, exp.Use, exp.Transaction,
           exp.Commit, exp.Rollback, exp.Attach, exp.Detach, exp.Cache, exp.Uncache, exp.Refresh)
# Functions that write, sleep, read files, run other SQL or reach other servers: refused anywhere.
DENIED_FUNCTIONS = frozenset({
    "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file",
    "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_advisory_lock", "pg_advisory_xact_lock",
    "pg_notify", "pg_logical_emit_message", "set_config", "nextval", "setval", "currval", "lo_import", "lo_export",
    "lo_create", "lo_unlink", "lo_put", "lo_get", "lo_from_bytea", "dblink", "dblink_exec", "dblink_connect",
    "query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "cursor_to_xml", "table_to_xml",
    "table_to_xml_and_xmlschema", "schema_to_xml", "database_to_xml", "load_extension", "readfile", "writefile",
    "edit", "fts3_tokenizer", "load_file", "sleep", "benchmark", "get_lock", "release_lock", "release_all_locks",
    "sys_exec", "sys_eval", "xp_cmdshell", "read_csv", "read_csv_auto", "read_parquet", "read_json",
    "read_json_auto", "read_text", "read_blob", "glob", "copy",
})


def parse_read_only(sql: str, dialect: str) -> exp.Expression:
    """Parse `sql` in `dialect` and return its tree, or raise Invalid if it is not one read-only query."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        raise Invalid(f"Could not parse the SQL: {str(exc).splitlines()[0]}") from None
    if not statements:
        raise Invalid("The SQL is empty.")
    if len(statements) > 1:
        raise Invalid("Only one SQL statement may be run at a time.")
    tree = statements[0]
    if not isinstance(tree, _READ_ROOTS):
        raise Invalid(f"Only read-only SELECT queries are allowed; got {tree.key.upper()}.")
    for node in tree.walk():
        if isinstance(node, _WRITES):
            raise Invalid(f"Only read-only SELECT queries are allowed; found {node.key.upper()}.")
        if isinstance(node, exp.Func) and _function_name(node) in DENIED_FUNCTIONS:
            raise Invalid(f"The function {_function_name(node).upper()} is not allowed in queries.")
        if isinstance(node, exp.Into):
            raise Invalid("SELECT ... INTO writes data and is not allowed.")
        if dialect == "duckdb" and isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
            # DuckDB reads any file named in FROM ('x.csv', read_csv(...)): only declared tables may be queried.
            raise Invalid("Only the datasource's tables can be queried; table functions and file paths are not allowed.")
        if isinstance(node, exp.Lock):
            raise Invalid("Locking clauses (FOR UPDATE/SHARE) are not allowed.")
    return tree


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower()


def read_only_sql(sql: str, dialect: str) -> str:
    """The query regenerated from its checked tree, without comments: MySQL runs `/*! ... */`
    comments as SQL, so no comment text ever reaches a database."""
    return parse_read_only(sql, dialect).sql(dialect=dialect, comments=False)
