"""Stage 3: the logical form a question is read into, and its plain-words interpretation.

A `Query` is what the question asks, independent of SQL: projected columns and aggregates, conditions,
grouping, HAVING, ordering, limit, anti-joins and one set operation. `interpret()` says it back in words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from tabletalk.core.metadata.schema import Table
from tabletalk.core.nlq.engine.link import Col

AGG_WORDS = {"count": "number", "avg": "average", "sum": "total", "max": "highest", "min": "lowest"}
OP_WORDS = {"=": "is", "!=": "is not", ">": "above", "<": "below", ">=": "at least", "<=": "at most",
            "like": "contains", "not like": "does not contain", "in": "is one of", "between": "between"}


@dataclass
class Proj:
    agg: str | None = None      # count | avg | sum | max | min
    col: Col | None = None      # None with count: COUNT(*)
    distinct: bool = False
    of_table: Table | None = None  # count of which rows
    conds: list = field(default_factory=list)  # pct: the share of rows meeting these conditions
    times: Col | None = None    # money as quantity × unit price: agg(col * times)


@dataclass
class Cond:
    col: Col
    op: str
    value: object               # number, string, (lo, hi), list, or ("avg", Col) for a sub-query
    agg: str | None = None      # HAVING on an aggregate of col (None: on COUNT(*))


@dataclass
class Anti:
    table: Table                # rows of the main table with no matching row here
    inner: list[Cond] = field(default_factory=list)
    negated: bool = True        # False: rows that do have one (a semi-join, "dogs who went through treatments")


@dataclass
class Query:
    main: Table
    select: list[Proj] = field(default_factory=list)
    where: list[Cond] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)  # besides main, joined along FK paths
    group: list[Col] = field(default_factory=list)
    having: list[Cond] = field(default_factory=list)
    order: list[tuple[Proj, str]] = field(default_factory=list)
    limit: int | None = None
    distinct: bool = False
    anti: list[Anti] = field(default_factory=list)
    setop: tuple[str, "Query"] | None = None  # (INTERSECT | EXCEPT | UNION, other)
    bucket: tuple[str, Col] | None = None     # ("month", date column): one row per period, in order
    window_label: str = ""                     # "this month": said back in the interpretation

    def copy(self) -> "Query":
        return replace(self, select=list(self.select), where=list(self.where), tables=list(self.tables),
                       group=list(self.group), having=list(self.having), order=list(self.order), anti=list(self.anti))


def words(name: str) -> str:
    return re.sub(r"[_\s]+", " ", re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)).strip().lower()


def _proj(p: Proj) -> str:
    if p.agg == "*":
        return "rows"
    if p.agg == "pct":
        return "percentage"
    if p.agg == "avg_count":
        return f"average number of {words(p.of_table.name)}"
    if p.agg == "count":
        if p.col is not None:
            return f"number of {'different ' if p.distinct else ''}{words(p.col.column.name)}"
        return f"number of {words(p.of_table.name) if p.of_table is not None else 'rows'}"
    name = words(p.col.column.name) if p.col is not None else "rows"
    if p.times is not None:
        name = f"revenue ({name} × {words(p.times.column.name)})"
    return f"{AGG_WORDS[p.agg]} {name}" if p.agg else name


def _value(v) -> str:
    if isinstance(v, tuple) and len(v) == 2 and v[0] == "avg":
        return f"the average {words(v[1].column.name)}"
    if isinstance(v, tuple):
        return f"{_value(v[0])} and {_value(v[1])}"
    if isinstance(v, list):
        return " or ".join(_value(x) for x in v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else str(v)
    return f"'{v}'" if isinstance(v, str) else str(v)


def _cond(c: Cond) -> str:
    what = words(c.col.column.name)
    if c.agg:
        what = f"{AGG_WORDS[c.agg]} {what}"
    return f"{what} {OP_WORDS.get(c.op, c.op)} {_value(c.value)}"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def interpret(q: Query) -> str:
    """The question as the engine read it, e.g. 'the weight of pets with the lowest pet age, where pet type is 'dog''."""
    subject = words(q.main.name)
    head = _join([_proj(p) for p in q.select]) if q.select else "rows"
    if len(q.select) == 1 and q.select[0].agg == "avg_count" and q.group:
        per = words(q.group[0].table.name)
        return f"the average number of {words(q.select[0].of_table.name)} per {per[:-1] if per.endswith('s') else per}" + (
            ", where " + " and ".join(_cond(c) for c in q.where) if q.where else "")
    if len(q.select) == 1 and q.select[0].agg == "count" and q.select[0].col is None \
            and q.select[0].of_table in (None, q.main):
        text = f"the number of {subject}"
    elif head == "rows":
        text = f"the {'different ' if q.distinct else ''}{subject}"
    else:
        text = f"the {'different ' if q.distinct else ''}{head} of {subject}"
    pct = next((p for p in q.select if p.agg == "pct"), None)
    if pct is not None:
        text += (" where " + " and ".join(_cond(c) for c in pct.conds)) if pct.conds else ""
    if q.window_label:
        text += f", {q.window_label}"
    if q.bucket:
        text += f", per {q.bucket[0]} of {words(q.bucket[1].column.name)}"
    shown = [c for c in q.where if not (q.window_label and c.col.column.kind == "date" and isinstance(c.value, str))]
    if shown:
        text += ", where " + " and ".join(_cond(c) for c in shown)
    for a in q.anti:
        text += f", that have {'no' if a.negated else 'some'} {words(a.table.name)}" + (" where " + " and ".join(map(_cond, a.inner)) if a.inner else "")
    shown_groups = [g for g in q.group if not (g.table is q.main and g.column is q.main.primary_key)]
    if shown_groups:
        text += ", for each " + _join([words(g.column.name) for g in shown_groups])
    if q.having:
        text += ", having " + " and ".join(f"number of {words(h.col.table.name)} {OP_WORDS[h.op]} {_value(h.value)}"
                                          if h.agg is None else _cond(h) for h in q.having)
    if q.order and q.order[0][0].agg and q.limit and q.limit > 1 and q.group and q.group[0].table is q.main:
        p, d = q.order[0]  # "top 5 products by revenue"
        text = f"the {'top' if d == 'desc' else 'bottom'} {q.limit} {subject} by {_proj(p)}" + text[len(f"the {head} of {subject}"):]
    elif q.order:
        p, d = q.order[0]
        if q.limit == 1:
            text += f", only the one with the {'highest' if d == 'desc' else 'lowest'} {_proj(p)}"
        else:
            text += f", ordered by {_proj(p)} {'descending' if d == 'desc' else 'ascending'}"
            if q.limit:
                text += f", first {q.limit}"
    elif q.limit:
        text += f", first {q.limit}"
    if q.setop:
        op, other = q.setop
        text += {"INTERSECT": "; also ", "EXCEPT": "; except ", "UNION": "; or "}[op] + interpret(other)
    return text
