"""The neutral, in-memory description of a datasource's schema.

Built from stored metadata (after sync and user edits); read by schema linking, the built-in
NL->SQL engine, the LLM prompt builder and the policy layer. Pure data, no I/O.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache


@lru_cache(maxsize=4096)
def type_kind(data_type: str) -> str:
    """A database type's coarse kind: 'number', 'date', 'bool' or 'text'."""
    t = data_type.upper()
    if any(k in t for k in ("DATE", "TIME")):
        return "date"
    if "BOOL" in t:
        return "bool"
    if any(k in t for k in ("INT", "NUM", "DEC", "REAL", "FLOAT", "DOUBLE", "MONEY", "SERIAL")):
        return "number"
    return "text"


@dataclass
class Column:
    name: str
    data_type: str = "TEXT"
    description: str = ""
    visibility: bool = True
    primary_key: bool = False
    # Foreign key target as (table, column), when the database declares one.
    references: tuple[str, str] | None = None
    # Distinct sample values from the value index (text columns with at most the cap's distinct values).
    values: list[str] = field(default_factory=list)
    # A text column with too many distinct values to index: values are looked up per question.
    lookup: bool = False
    synonyms: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """Coarse type: 'number', 'date', 'bool' or 'text'."""
        return type_kind(self.data_type)


@dataclass
class Table:
    name: str
    columns: list[Column] = field(default_factory=list)
    description: str = ""
    schema: str = ""
    kind: str = "table"  # 'table' or 'view'
    view_sql: str | None = None
    visibility: bool = True
    synonyms: list[str] = field(default_factory=list)
    hidden: tuple[str, ...] = ()  # columns an administrator hid: never read for anyone but administrators

    def column(self, name: str) -> Column | None:
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)

    @property
    def primary_key(self) -> Column | None:
        pk = next((c for c in self.columns if c.primary_key), None)
        return pk or self.column("id")


@dataclass
class Schema:
    """All visible tables of one datasource, plus the sqlglot dialect its SQL must be written in."""

    dialect: str  # sqlglot dialect: sqlite, postgres, mysql, duckdb
    tables: list[Table] = field(default_factory=list)

    def table(self, name: str) -> Table | None:
        low = name.lower().split(".")[-1].strip('"`[]')
        return next((t for t in self.tables if t.name.lower() == low), None)

    def restricted_to(self, names: set[str] | None) -> "Schema":
        """The same schema showing only `names` (lower-case); None means everything."""
        if names is None:
            return self
        return Schema(self.dialect, [t for t in self.tables if t.name.lower() in names])


ENGINE_DIALECTS = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "mysql": "mysql",
    "csv": "duckdb",
    "excel": "duckdb",
    "parquet": "duckdb",
}


def fk_path(edges: dict[str, list[tuple[str, str, str, str]]], start: str, goal: str) -> list | None:
    """The shortest chain of foreign-key edges (from_table, from_col, to_table, to_col) joining `start`
    to `goal`, walked in either direction; [] when they are the same table, None when unconnected."""
    if start == goal:
        return []
    seen, queue = {start}, deque([(start, [])])
    while queue:
        node, path = queue.popleft()
        for edge in edges.get(node, []):
            nxt = edge[2] if edge[0] == node else edge[0]
            if nxt in seen:
                continue
            if nxt == goal:
                return path + [edge]
            seen.add(nxt)
            queue.append((nxt, path + [edge]))
    return None
