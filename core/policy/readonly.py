"""Refuse anything but a single read-only query before it reaches a datasource."""
from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tabletalk.core.errors import Invalid

_READ_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)


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
        if isinstance(node, (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Merge, exp.Command)):
            raise Invalid(f"Only read-only SELECT queries are allowed; found {node.key.upper()}.")
        if isinstance(node, exp.Into):
            raise Invalid("SELECT ... INTO writes data and is not allowed.")
        if isinstance(node, exp.Lock):
            raise Invalid("Locking clauses (FOR UPDATE/SHARE) are not allowed.")
    return tree
