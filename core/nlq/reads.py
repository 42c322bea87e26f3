"""What a stored query reads, from one parse per SQL text: its tables, the columns it names (under
the table an alias or qualifier points at, when one does), and its string literals with the column
each is compared with. Training pairs are shown to an asker by these (core/nlq/training.py).
Pure: no schema, no I/O; the caller decides against what its asker may see.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

# How a literal is compared with a column: equality-like (=, <>, IN), a range bound, a pattern.
_EQUAL = (exp.EQ, exp.NEQ, exp.NullSafeEQ, exp.NullSafeNEQ)
_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE)
_PATTERN = (exp.Like, exp.ILike, exp.RegexpLike, exp.Glob, exp.SimilarTo)


@dataclass(frozen=True)
class Literal:
    value: str
    how: str                     # equal | range | pattern | other (not compared with a plain column)
    column: str = ""             # lower-case name of the column it is compared with
    tables: tuple[str, ...] = ()  # lower-case tables that column may belong to (empty: not a table's)


@dataclass(frozen=True)
class Reads:
    tables: frozenset[str]                  # lower-case tables and views read (CTE names excluded)
    columns: frozenset[tuple[str, str]]     # (table, column) named through a table's name or alias
    loose: frozenset[str]                   # column names whose table the text alone does not tell
    literals: tuple[Literal, ...]           # string literals, in order
    sure: bool = True                       # False: the columns could not be told apart (treat as unsafe)


@lru_cache(maxsize=4096)
def sql_reads(sql: str, dialect: str) -> Reads | None:
    """What `sql` reads; None when it does not parse."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError):
        return None
    if tree is None:
        return None
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    tables = frozenset(t.name.lower() for t in tree.find_all(exp.Table) if t.name and t.name.lower() not in ctes)
    try:
        scopes = list(traverse_scope(tree))
    except Exception:  # noqa: BLE001 - sqlglot's scope walk refuses some valid SQL: not sure what it names
        return Reads(tables, frozenset(), frozenset(), (), sure=False)
    columns: set[tuple[str, str]] = set()
    loose: set[str] = set()
    owners: dict[int, tuple[str, ...]] = {}  # column node -> tables it may belong to
    for scope in scopes:  # innermost first: a subquery's columns are its own, not the outer query's
        for col in scope.columns:
            if id(col) in owners or isinstance(col.this, exp.Star):
                continue
            owners[id(col)] = found = _owners(col, scope)
            if col.table and len(found) == 1:
                columns.add((found[0], col.name.lower()))
            else:
                loose.add(col.name.lower())
    literals = tuple(_literal(node, owners) for node in tree.find_all(exp.Literal) if node.is_string)
    return Reads(tables, frozenset(columns), frozenset(loose), literals)


def _owners(col: exp.Column, scope: Scope) -> tuple[str, ...]:
    """The tables a column may belong to: the one its qualifier names, else every table of its
    query; none when it belongs to a derived table or the query reads one."""
    sources = {name.lower(): source for name, source in scope.sources.items()}
    if col.table:
        source = sources.get(col.table.lower())
        return (source.name.lower(),) if isinstance(source, exp.Table) else ()
    if any(not isinstance(s, exp.Table) for s in sources.values()):
        return ()
    return tuple(s.name.lower() for s in sources.values())


def _literal(node: exp.Literal, owners: dict[int, tuple[str, ...]]) -> Literal:
    parent = node.parent
    other = None
    if isinstance(parent, exp.In) and node in parent.expressions:
        how, other = "equal", parent.this
    elif isinstance(parent, exp.Between) and node is not parent.this:
        how, other = "range", parent.this
    elif isinstance(parent, _EQUAL + _RANGE + _PATTERN):
        how = "equal" if isinstance(parent, _EQUAL) else "range" if isinstance(parent, _RANGE) else "pattern"
        other = parent.expression if node is parent.this else parent.this
    if not isinstance(other, exp.Column) or id(other) not in owners:
        return Literal(node.this, "other")
    return Literal(node.this, how, other.name.lower(), owners[id(other)])
