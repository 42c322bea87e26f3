"""Stage 4: a logical form as SQL — tables joined only along the FK paths the query needs, rendered
for the datasource's dialect through sqlglot."""
from __future__ import annotations

import re

import sqlglot

from tabletalk.core.nlq.dates import bucket_sql
from tabletalk.core.nlq.engine.link import Col, SchemaIndex
from tabletalk.core.nlq.engine.logical_form import Cond, Proj, Query

FN = {"count": "COUNT", "avg": "AVG", "sum": "SUM", "max": "MAX", "min": "MIN"}
_SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = {"order", "group", "user", "select", "from", "where", "table", "desc", "asc", "limit", "offset", "values",
             "key", "index", "date", "time", "year", "month", "day", "type", "name", "value", "level", "rank",
             "position", "comment", "default", "check", "column", "row", "rows", "range", "case", "end", "to", "by",
             "in", "is", "as", "on", "or", "and", "not", "all", "any", "some", "role", "session", "show", "share",
             "result", "count", "sum", "avg", "min", "max", "average", "highest", "lowest", "size", "status"}


class CannotJoin(Exception):
    """The tables a reading needs are not connected by foreign keys."""


def ident(name: str) -> str:
    return name if _SAFE.fullmatch(name) and name.lower() not in _RESERVED else '"' + name.replace('"', '""') + '"'


def col(c: Col) -> str:
    return f"{ident(c.table.name)}.{ident(c.column.name)}"


def literal(v) -> str:
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def _proj(p: Proj, q: Query | None = None) -> str:
    if p.agg == "*":
        return f"{ident(q.main.name)}.*"
    if p.agg == "pct":
        hit = " AND ".join(_cond(c, None) for c in p.conds) or "1 = 1"
        return f"ROUND(100.0 * SUM(CASE WHEN {hit} THEN 1 ELSE 0 END) / COUNT(*), 1)"
    if p.agg == "count":
        return f"COUNT(DISTINCT {col(p.col)})" if p.col is not None and p.distinct else "COUNT(*)"
    if p.agg and p.times is not None:
        return f"{FN[p.agg]}({col(p.col)} * {col(p.times)})"
    if p.agg:
        return f"{FN[p.agg]}({'DISTINCT ' if p.distinct else ''}{col(p.col)})"
    return col(p.col)


ALIAS = {"avg": "average_", "sum": "total_", "max": "max_", "min": "min_"}


def _aliased(p: Proj, q: Query) -> str:
    """Aggregates get readable names ("count", "average_age"); columns keep theirs."""
    sql = _proj(p, q)
    if p.agg == "pct":
        return f"{sql} AS percentage"
    if p.agg == "count":
        return f"{sql} AS count" if p.col is None or not p.distinct else f"{sql} AS {ident('distinct_' + p.col.column.name.lower())}"
    if p.times is not None:
        return f"{sql} AS {ident(ALIAS.get(p.agg, 'total_') + 'revenue')}"
    if p.agg in ALIAS and p.col is not None:
        name = p.col.column.name.lower()
        return f"{sql} AS {ident(name if name.startswith(ALIAS[p.agg].rstrip('_')) else ALIAS[p.agg] + name)}"
    return sql


def _cond(c: Cond, ix: SchemaIndex) -> str:
    left = col(c.col) if c.agg is None else ("COUNT(*)" if c.agg == "count" else f"{FN[c.agg]}({col(c.col)})")
    v = c.value
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "avg":
        return f"{left} {c.op} (SELECT AVG({col(v[1])}) FROM {ident(v[1].table.name)})"
    if c.op == "between":
        return f"{left} BETWEEN {literal(v[0])} AND {literal(v[1])}"
    if c.op in ("in", "not in"):
        return f"{left} {c.op.upper()} ({', '.join(literal(x) for x in v)})"
    if c.op in ("like", "not like"):
        return f"{left} {c.op.upper()} {literal('%' + str(v) + '%')}"
    return f"{left} {c.op} {literal(v)}"


def _from(q: Query, ix: SchemaIndex) -> str:
    joined = [q.main.name]
    parts = [f"FROM {ident(q.main.name)}"]
    for t in q.tables:
        if t.name in joined:
            continue
        best = None
        for have in joined:
            path = ix.join_path(have, t.name)
            if path is not None and (best is None or len(path) < len(best[1])):
                best = (have, path)
        if best is None:
            raise CannotJoin(t.name)
        current = best[0]
        for t1, c1, t2, c2 in best[1]:
            nxt = t2 if t1 == current else t1
            if nxt not in joined:
                parts.append(f"JOIN {ident(nxt)} ON {ident(t1)}.{ident(c1)} = {ident(t2)}.{ident(c2)}")
                joined.append(nxt)
            current = nxt
    return " ".join(parts)


def _anti(q: Query, a, ix: SchemaIndex) -> str:
    """`main.key NOT IN (SELECT reference FROM neighbour ...)` along the first FK edge towards `a.table`."""
    path = ix.join_path(q.main.name, a.table.name)
    if not path:
        raise CannotJoin(a.table.name)
    t1, c1, t2, c2 = path[0]
    mine, ref_table, ref_col = (c2, t1, c1) if t2 == q.main.name else (c1, t2, c2)
    sub = Query(main=ix.schema.table(ref_table), tables=[a.table] if a.inner and a.table.name != ref_table else [],
                where=list(a.inner))
    ref = f"{ident(ref_table)}.{ident(ref_col)}"
    where = " WHERE " + " AND ".join([*(_cond(c, ix) for c in sub.where), f"{ref} IS NOT NULL"])  # NULLs would void NOT IN
    return f"{ident(q.main.name)}.{ident(mine)} {'NOT IN' if a.negated else 'IN'} (SELECT {ident(ref_table)}.{ident(ref_col)} {_from(sub, ix)}{where})"


def _counts_groups(q: Query) -> bool:
    """"How many countries have more than 2 car makers": a count of the groups, not within them."""
    return bool(q.group) and len(q.select) == 1 and q.select[0].agg == "count" and q.select[0].of_table is q.main \
        and all(g.table is q.main for g in q.group)


def to_sql(q: Query, ix: SchemaIndex, dialect: str = "sqlite") -> str:
    """The SQL of a query in the sqlite-flavoured text sqlglot then renders per dialect."""
    avg_count = next((p for p in q.select if p.agg == "avg_count"), None)
    if avg_count is not None:  # "average number of items per order": the mean of per-group counts
        inner = q.copy()
        inner.select = [Proj(agg="count", of_table=avg_count.of_table)]
        inner.order, inner.limit, inner.setop = [], None, None
        return f"SELECT ROUND(AVG(count), 2) AS average_count FROM ({to_sql(inner, ix, dialect)}) AS per_group"
    if _counts_groups(q):
        inner = q.copy()
        inner.select = [Proj(col=g) for g in q.group]
        inner.order, inner.limit, inner.setop = [], None, None
        return f"SELECT COUNT(*) AS count FROM ({to_sql(inner, ix, dialect)}) AS grouped"
    select = ", ".join(_aliased(p, q) for p in q.select) or f"{ident(q.main.name)}.*"
    bucket = None
    if q.bucket:
        bucket = bucket_sql(q.bucket[0], col(q.bucket[1]), "sqlite")  # sqlglot renders it for the dialect
        select = f"{bucket} AS {ident(q.bucket[0])}, {select}"
    if q.tables and not q.group and len(q.select) == 1 and q.select[0].agg == "count" and q.select[0].col is None \
            and q.select[0].of_table is q.main and sum(c.primary_key for c in q.main.columns) == 1:
        # counting the subject's rows across joins: each row once
        select = f"COUNT(DISTINCT {ident(q.main.name)}.{ident(q.main.primary_key.name)}) AS count"
    sql = f"SELECT {'DISTINCT ' if q.distinct else ''}{select} {_from(q, ix)}"
    where = [_cond(c, ix) for c in q.where] + [_anti(q, a, ix) for a in q.anti]
    if where:
        sql += " WHERE " + " AND ".join(where)
    if q.group or bucket:
        sql += " GROUP BY " + ", ".join(([bucket] if bucket else []) + [col(g) for g in q.group])
    if q.having:
        sql += " HAVING " + " AND ".join(_cond(h, ix) for h in q.having)
    if q.order:
        sql += " ORDER BY " + ", ".join(f"{_proj(p)} {d.upper()}" for p, d in q.order)
    elif bucket:
        sql += f" ORDER BY {bucket}"
    if q.limit:
        sql += f" LIMIT {q.limit}"
    if q.setop:
        op, other = q.setop
        sql = f"{sql} {op} {to_sql(other, ix, dialect)}"
    return sql


def render(q: Query, ix: SchemaIndex, dialect: str) -> str:
    sql = to_sql(q, ix, dialect)
    if dialect == "sqlite":
        return sql  # written in SQLite's own syntax already; tests parse every shape with sqlglot
    return sqlglot.transpile(sql, read="sqlite", write=dialect)[0]

