"""The older intent reader, stage 3: an `Intent` written as SQL for the datasource's dialect."""
from __future__ import annotations

import re


from tabletalk.core.metadata.schema import Column, Table
from tabletalk.core.nlq.dates import bucket_sql
from tabletalk.core.nlq.lexicon import MONEY_COLUMNS, ColumnRef, Lexicon, stem

from tabletalk.core.nlq.intent_read import ADJECTIVE_COLUMNS
from tabletalk.core.nlq.intent_read import Intent, Measure
from tabletalk.core.nlq.intent_subject import _Sql, _choose_measure, _date_column, _fmt_number, _literal, _money_measures, _numeric

def build_sql(intent: Intent, lex: Lexicon, dialect: str) -> tuple[str | None, list[str], str | None]:
    """SQL for an intent, the pieces understood, and a chart hint; (None, understood, None) when unmappable."""
    understood: list[str] = []
    entity = intent.entity
    group_anchor_tables = [r.table for r in intent.groups] + intent.group_tables
    filter_tables = [f.ref.table for f in intent.filters]
    if entity is None and intent.filters and not intent.groups and not intent.group_tables and intent.agg == "count":
        entity = intent.filters[0].ref.table
    measure = intent.measure
    if measure is None:
        anchors = [t for t in [entity, *group_anchor_tables, *filter_tables] if t is not None]
        measure = _choose_measure(intent, lex, anchors)
        if measure is not None and intent.agg == "count" and not intent.money:
            named_measure = any(_numeric(r.column) and r.column.name == measure.label for _, r in intent.mentioned_columns)
            if not named_measure:
                measure = None
    agg = intent.agg
    if agg is None:
        if measure is not None and (intent.money or intent.groups or intent.group_tables or intent.bucket or intent.which
                                    or intent.subject_measure):
            agg = "sum"
        elif intent.groups or intent.group_tables or intent.bucket:
            agg = "count"
    if agg in ("sum", "avg", "max", "min") and measure is None:
        if entity is not None and intent.agg in ("max", "min"):
            pass  # e.g. "latest order": handled as ordering below
        else:
            return None, understood, None
    if entity is None and measure is not None:
        entity = measure.table
    if entity is None and (intent.groups or intent.group_tables):
        entity = intent.groups[0].table if intent.groups else intent.group_tables[0]  # "which category ..."
    if entity is None:
        return None, understood, None
    others = [t for _, t in sorted(intent.mentioned_tables, key=lambda x: x[0]) if t is not entity]
    count_base = None
    ranking = intent.top or intent.superlative or intent.which
    if ranking and not intent.groups and not intent.group_tables and not intent.bucket and not intent.row_pick:
        # "top 5 products by revenue", "top 3 customers by number of orders": rank the entity by a
        # measure or a count that lives in another table.
        if measure is not None and measure.table is not entity and lex.join_path(measure.table.name, entity.name):
            intent.group_tables = [entity]
            agg = agg if agg in ("sum", "avg", "max", "min") else "sum"
        elif agg == "count" and others and lex.join_path(others[0].name, entity.name):
            intent.group_tables = [entity]
            count_base = others[0]
    distinct_fk = None
    having_like = any(any(p > pos and p - pos < 40 for p, _ in intent.mentioned_tables) for _, _, pos in intent.compares)
    if agg in ("count", "count_distinct") and not intent.groups and not intent.group_tables and not intent.bucket \
            and not having_like:
        # "how many customers ordered in 2025": count the distinct references from the event table.
        for t in others:
            edge = next((e for e in lex.edges.get(t.name, []) if e[0] == t.name and e[2] == entity.name), None)
            if edge is not None:
                count_base, distinct_fk = t, edge[1]
                break
    base = measure.table if (measure is not None and agg in ("sum", "avg", "max", "min")) else (count_base or entity)
    s = _Sql(lex, base, dialect)
    understood.append(f"table: {base.name}")
    chart_hint = None

    # Filters on values, numbers, dates.
    for f in intent.filters:
        if not s.need(f.ref.table):
            return None, understood + [f"cannot join {f.ref.table.name}"], None
        s.where.append(f"{s.col(f.ref.table.name, f.ref.column.name)} = {_literal(f.value, dialect)}")
        understood.append(f"filter: {f.label}")
    having_count = None
    for op, number, pos in intent.compares:
        # "customers with more than 5 orders": a count of a related table.
        after = [t for p, t in intent.mentioned_tables if p > pos and p - pos < 40]
        if after and after[0] is not base and lex.join_path(base.name, after[0].name):
            having_count = (op, number, after[0])
            continue
        target = _compare_target(intent, lex, pos, measure, base)
        if target is None:
            return None, understood + [f"comparison {op} {number} (no numeric column found)"], None
        t, c = target
        s.need(t)
        s.where.append(f"{s.col(t.name, c.name)} {op} {_fmt_number(number)}")
        understood.append(f"filter: {t.name}.{c.name} {op} {_fmt_number(number)}")
    if intent.between:
        target = _compare_target(intent, lex, 10**6, measure, base)
        if target:
            t, c = target
            s.need(t)
            lo, hi = intent.between
            s.where.append(f"{s.col(t.name, c.name)} BETWEEN {_fmt_number(lo)} AND {_fmt_number(hi)}")
            understood.append(f"filter: {t.name}.{c.name} between {_fmt_number(lo)} and {_fmt_number(hi)}")
    date_ref = None
    year_col = _year_column(intent, base) if intent.window and not intent.bucket else None
    if year_col is not None:
        w = intent.window
        if w.start:
            s.where.append(f"{s.col(base.name, year_col.name)} >= {w.start.year}")
        if w.end:
            s.where.append(f"{s.col(base.name, year_col.name)} < {w.end.year + (1 if (w.end.month, w.end.day) != (1, 1) else 0)}")
        understood.append(f"year: {base.name}.{year_col.name} {w.label}")
    elif intent.window or intent.bucket:
        hint = {stem(w) for w in re.findall(r"[a-z]+", " ".join(intent.unknown))} | {stem(t.name) for _, t in intent.mentioned_tables}
        date_ref = _date_column(base, lex, hint, [t for t in group_anchor_tables + filter_tables])
        if date_ref is None:
            return None, understood + ["a date window, but no date column"], None
        s.need(date_ref.table)
        dcol = s.col(date_ref.table.name, date_ref.column.name)
        if intent.window:
            w = intent.window
            if w.start:
                s.where.append(f"{dcol} >= '{w.start.isoformat()}'")
            if w.end:
                s.where.append(f"{dcol} < '{w.end.isoformat()}'")
            understood.append(f"date: {date_ref.table.name}.{date_ref.column.name} {w.label}")

    if intent.anti is not None:
        link = _anti_link(lex, base, intent.anti_candidates or [intent.anti])
        if link is None:
            return None, understood + [f"no link between {base.name} and {intent.anti.name}"], None
        other, (t1, c1, t2, c2) = link
        s.where.append(f"NOT EXISTS (SELECT 1 FROM {s.ident(other)} WHERE {s.col(t1, c1)} = {s.col(t2, c2)})")
        understood.append(f"without: {other}")

    # Group by columns (or an entity's label column), time buckets.
    group_exprs: list[tuple[str, str]] = []
    hidden_keys: list[str] = []
    for ref in intent.groups:
        if not s.need(ref.table):
            return None, understood + [f"cannot join {ref.table.name}"], None
        group_exprs.append((s.col(ref.table.name, ref.column.name), ref.column.name))
        understood.append(f"group by: {ref.table.name}.{ref.column.name}")
    for table in intent.group_tables:
        if not s.need(table):
            return None, understood + [f"cannot join {table.name}"], None
        label = lex.label_column(table)
        if label is None:
            return None, understood, None
        group_exprs.append((s.col(table.name, label.name), f"{stem(table.name)}_{label.name}" if label.name in ("name", "title") else label.name))
        pk_col = table.primary_key
        if pk_col is not None and pk_col.name != label.name:
            hidden_keys.append(s.col(table.name, pk_col.name))  # two rows with the same name stay apart
        understood.append(f"group by: {table.name}.{label.name}")
    if intent.bucket and date_ref is not None:
        group_exprs.append((bucket_sql(intent.bucket, s.col(date_ref.table.name, date_ref.column.name), dialect), intent.bucket))
        understood.append(f"per {intent.bucket}")
        chart_hint = "line"

    pk = base.primary_key
    count_expr = f"COUNT(DISTINCT {s.col(base.name, pk.name)})" if (s.fanout and pk) else "COUNT(*)"
    if distinct_fk is not None:
        count_expr = f"COUNT(DISTINCT {s.col(base.name, distinct_fk)})"
        understood.append(f"distinct: {base.name}.{distinct_fk}")
        agg = "count"
    elif agg == "count_distinct":
        ref = _distinct_target(intent, base, lex)
        if ref is not None:
            s.need(ref.table)
            count_expr = f"COUNT(DISTINCT {s.col(ref.table.name, ref.column.name)})"
            understood.append(f"distinct: {ref.table.name}.{ref.column.name}")
        agg = "count"

    value_expr, value_alias = None, None
    if agg == "count":
        value_expr, value_alias = count_expr, "count"
        understood.append("measure: count")
    elif agg in ("sum", "avg", "max", "min") and measure is not None:
        s.need(measure.table)
        fn = {"sum": "SUM", "avg": "AVG", "max": "MAX", "min": "MIN"}[agg]
        value_expr = f"{fn}({s.expr(measure)})"
        value_alias = {"sum": "total_", "avg": "average_", "max": "max_", "min": "min_"}[agg] + measure.label
        understood.append(f"measure: {fn}({measure.table.name}.{'*'.join(measure.columns)})")

    if having_count is not None:
        op, number, child = having_count
        label = lex.label_column(base)
        s.need(child)
        child_pk = child.primary_key
        counted = f"COUNT(DISTINCT {s.col(child.name, child_pk.name)})" if child_pk else "COUNT(*)"
        keys = [s.col(base.name, pk.name)] if pk else []
        if label is not None and (not pk or label.name != pk.name):
            keys.append(s.col(base.name, label.name))
        inner = (f"SELECT {', '.join(keys)}, {counted} AS {s.ident(stem(child.name) + '_count')} {s.from_clause()}{s.where_clause()} "
                 f"GROUP BY {', '.join(keys)} HAVING {counted} {op} {_fmt_number(number)}")
        understood.append(f"having: count of {child.name} {op} {_fmt_number(number)}")
        if intent.agg == "count":
            return f"SELECT COUNT(*) AS count FROM ({inner}) AS matched", understood, None
        return inner, understood, None

    if group_exprs:
        if value_expr is None:
            value_expr, value_alias = count_expr, "count"
        select = ", ".join(f"{e} AS {s.ident(a)}" for e, a in group_exprs)
        group = ", ".join([*hidden_keys, *(e for e, _ in group_exprs)])
        sql = f"SELECT {select}, {value_expr} AS {s.ident(value_alias)} {s.from_clause()}{s.where_clause()} GROUP BY {group}"
        if intent.bucket and not intent.top and not intent.superlative:
            sql += f" ORDER BY {', '.join(e for e, _ in group_exprs)}"
        else:
            direction = (intent.top or (None, intent.superlative or "desc"))[1].upper()
            sql += f" ORDER BY {s.ident(value_alias)} {direction}"
            limit = intent.top[0] if intent.top else (1 if (intent.which or intent.superlative) else None)
            if limit:
                sql += f" LIMIT {limit}"
            chart_hint = chart_hint or "bar"
        return sql, understood, chart_hint
    if value_expr is not None and not intent.top and not (intent.superlative and agg == "count" and intent.agg != "count"):
        return f"SELECT {value_expr} AS {s.ident(value_alias)} {s.from_clause()}{s.where_clause()}", understood, None

    # Listing rows, possibly ordered ("top 5 most expensive products", "latest order").
    cols = f"{s.ident(base.name)}.*"
    order = ""
    direction = (intent.top[1] if intent.top else intent.superlative or ("desc" if intent.agg == "max" else "asc")).upper()
    order_ref = None
    ranking_rows = bool(intent.top or intent.superlative or intent.row_pick)
    if measure is not None and ranking_rows and not intent.row_pick:
        order = f" ORDER BY {s.expr(measure)} {direction}"
        order_ref = measure.label
    elif intent.row_pick and not re.search(r"latest|recent|newest|earliest", intent.row_pick):
        pick = _adjective_column(intent.row_pick, base)
        if pick is not None:
            order = f" ORDER BY {s.col(base.name, pick.name)} {direction}"
            order_ref = pick.name
    if not order and (intent.agg in ("max", "min") or intent.row_pick):
        dref = _date_column(base, lex, set(), [])
        if dref is not None:
            order = f" ORDER BY {s.col(dref.table.name, dref.column.name)} {direction}"
            order_ref = dref.column.name
    limit = intent.top[0] if intent.top else (1 if order else None)  # plain lists: the executor's row cap applies
    if intent.top or order:
        understood.append(f"order by: {order_ref or 'value'} {direction.lower()}, limit {limit}")
    if s.fanout:
        cols = f"DISTINCT {cols}"
    return f"SELECT {cols} {s.from_clause()}{s.where_clause()}{order}" + (f" LIMIT {limit}" if limit else ""), understood, None


def _year_column(intent: Intent, table: Table) -> Column | None:
    """An integer year column ("published_year") that a year window should filter, when the
    question names it or the table has no date column."""
    years = [c for c in table.columns if c.kind == "number" and "year" in c.name.lower()]
    if not years:
        return None
    named = [c for c in years if set(w for w in re.split(r"[_\W]+", c.name.lower()) if w != "year") & intent.words
             or any(w.startswith(x[:5]) for w in intent.words for x in c.name.lower().split("_") if len(x) > 4 and x != "year")]
    if named:
        return named[0]
    return years[0] if not any(c.kind == "date" for c in table.columns) else None


def _anti_link(lex: Lexicon, base: Table, candidates: list[Table]):
    """The table whose rows reference `base` for "X with no Y": Y itself when it points at X,
    else a link table that points at both ("members who never borrowed a book" → loans)."""
    for target in candidates:
        edge = next((e for e in lex.edges.get(base.name, []) if e[0] == target.name and e[2] == base.name), None)
        if edge is not None:
            return target.name, edge
    for target in candidates:
        for e in lex.edges.get(base.name, []):
            if e[2] == base.name and any(x[0] == e[0] and x[2] == target.name for x in lex.edges.get(e[0], [])):
                return e[0], e
    return None


def _adjective_column(adjective: str, table: Table) -> Column | None:
    nums = [c for c in table.columns if _numeric(c)]
    for pattern, stems in ADJECTIVE_COLUMNS:
        if re.search(pattern, adjective):
            for want in stems:
                hit = next((c for c in nums if want in c.name.lower()), None)
                if hit is not None:
                    return hit
    money = [c for c in nums if any(k in c.name.lower() for k in MONEY_COLUMNS)]
    return (money or nums or [None])[0]


def _compare_target(intent: Intent, lex: Lexicon, pos: int, measure: Measure | None, base: Table) -> tuple[Table, Column] | None:
    if pos in intent.compare_words:
        col = _adjective_column(intent.compare_words[pos], base)
        if col is not None:
            return base, col
    before = [(p, r) for p, r in intent.mentioned_columns if _numeric(r.column) and p < pos]
    if before:
        p, ref = max(before, key=lambda x: (x[0], x[1].table is base, -lex.distance(base.name, x[1].table.name)))
        return ref.table, ref.column
    if measure is not None and len(measure.columns) == 1:
        return measure.table, measure.table.column(measure.columns[0])
    money = _money_measures(lex)
    for m in sorted(money, key=lambda m: lex.distance(base.name, m.table.name)):
        if len(m.columns) == 1:
            return m.table, m.table.column(m.columns[0])
    nums = [c for c in base.columns if _numeric(c)]
    return (base, nums[0]) if nums else None


def _distinct_target(intent: Intent, base: Table, lex: Lexicon) -> ColumnRef | None:
    # "how many distinct customers ordered" → the key of customers as seen from the base table.
    for _, t in intent.mentioned_tables:
        if t is not base:
            for t1, c1, t2, c2 in lex.edges.get(base.name, []):
                if t1 == base.name and t2 == t.name:
                    return ColumnRef(base, base.column(c1))
            pk = t.primary_key
            return ColumnRef(t, pk) if pk else None
    cols = [r for _, r in intent.mentioned_columns if r.table is base and not r.column.primary_key]
    if cols:
        return cols[0]
    pk = base.primary_key
    return ColumnRef(base, pk) if pk else None
