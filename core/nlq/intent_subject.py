"""The older intent reader, stage 2: choosing the subject table, the measure and the date column, and the
FROM/JOIN/WHERE collector its SQL writer uses."""
from __future__ import annotations

import re

from sqlglot import exp

from tabletalk.core.metadata.schema import Table
from tabletalk.core.nlq.lexicon import MONEY_COLUMNS, UNIT_PRICE_COLUMNS, ColumnRef, Lexicon, stem


from tabletalk.core.nlq.intent_read import Intent, Measure, _numeric

# ---------------------------------------------------------------------------------------------
# Choosing the subject




def _money_measures(lex: Lexicon) -> list[Measure]:
    out = []
    for t in lex.schema.tables:
        qty = next((c for c in t.columns if _numeric(c) and stem(c.name.lower()) in ("quantity", "qty", "unit", "count")), None)
        price = next((c for c in t.columns if _numeric(c) and any(k in c.name.lower() for k in ("price", "cost", "rate"))), None)
        if qty and price:
            out.append(Measure(t, f"{{t}}.{_q(qty.name)} * {{t}}.{_q(price.name)}", "revenue", (qty.name, price.name)))
        for c in t.columns:
            if _numeric(c) and any(k in c.name.lower() for k in MONEY_COLUMNS):
                out.append(Measure(t, f"{{t}}.{_q(c.name)}", c.name, (c.name,)))
    return out


def _q(name: str) -> str:
    """A placeholder-quoted identifier; real quoting happens per dialect when SQL is rendered."""
    return "\x01" + name + "\x02"


def _choose_measure(intent: Intent, lex: Lexicon, anchors: list[Table]) -> Measure | None:
    # An explicitly named numeric column wins (closest to the entity/anchors).
    named = [(pos, ref) for pos, ref in intent.mentioned_columns if _numeric(ref.column)]
    cmp_positions = {p for _, _, p in intent.compares}
    if named:
        def score(item):
            pos, ref = item
            near_cmp = any(0 <= cp - pos < 25 for cp in cmp_positions)
            dist = min((lex.distance(ref.table.name, a.name) for a in anchors), default=0)
            return (near_cmp and len(named) > 1, -intent.direct_hits.get(ref.key, 0), dist,
                    "price" in ref.column.name.lower() and intent.money)
        pos, ref = sorted(named, key=score)[0]
        if not (intent.money and any(k in ref.column.name.lower() for k in ("price", "cost")) and _money_measures(lex)):
            return Measure(ref.table, f"{{t}}.{_q(ref.column.name)}", ref.column.name, (ref.column.name,))
    if intent.money or intent.agg in ("sum", "avg", "max", "min"):
        candidates = _money_measures(lex)
        if not candidates and intent.entity is not None:
            candidates = [Measure(intent.entity, f"{{t}}.{_q(c.name)}", c.name, (c.name,))
                          for c in intent.entity.columns if _numeric(c)]
        if not candidates:
            return None
        others = [a for a in anchors if a is not None]

        def mscore(m: Measure):
            col = m.table.column(m.columns[0])
            said = 0 if col is not None and re.search(r"\b(revenue|sales|turnover)\b", col.description.lower()) else 1
            unit_price = len(m.columns) == 1 and any(k in m.label.lower() for k in UNIT_PRICE_COLUMNS)
            dist = sum(lex.distance(m.table.name, a.name) for a in others)
            name_rank = 0 if m.label == "revenue" and intent.money else min(
                (i for i, k in enumerate(MONEY_COLUMNS) if k in m.label.lower()), default=len(MONEY_COLUMNS))
            entity_bonus = 0 if intent.entity is None or m.table is intent.entity else 1
            composite = len(m.columns) > 1 and not others
            return (intent.money and unit_price, said, dist, composite, entity_bonus, name_rank)

        return sorted(candidates, key=mscore)[0]
    return None


def _choose_entity(intent: Intent) -> Table | None:
    if intent.mentioned_tables:
        # The first table named is usually the subject ("how many orders ... in Berlin").
        grouped = {r.table.name for r in intent.groups} | {t.name for t in intent.group_tables}
        ordered = [t for _, t in sorted(intent.mentioned_tables, key=lambda x: x[0])]
        for t in ordered:
            if t.name not in grouped or len(set(x.name for x in ordered)) == 1:
                return t
        return ordered[0]
    return None


def _date_column(table: Table, lex: Lexicon, hint_words: set[str], others: list[Table]) -> ColumnRef | None:
    cands = []
    for t in [table, *others]:
        for c in t.columns:
            if c.kind == "date":
                words = {stem(w) for w in re.split(r"[_\W]+", c.name.lower()) if w}
                cands.append((0 if words & hint_words else 1, 0 if t is table else lex.distance(table.name, t.name),
                              0 if any(k in c.name.lower() for k in ("date", "created", "at", "time")) else 1, ColumnRef(t, c)))
    if not cands:
        for t in lex.schema.tables:
            for c in t.columns:
                if c.kind == "date" and lex.join_path(table.name, t.name) is not None:
                    cands.append((1, lex.distance(table.name, t.name), 1, ColumnRef(t, c)))
    return sorted(cands, key=lambda x: x[:3])[0][3] if cands else None


# ---------------------------------------------------------------------------------------------
# Writing SQL


class _Sql:
    """Collects FROM/JOIN/WHERE pieces with tables joined along the shortest FK paths."""

    def __init__(self, lex: Lexicon, base: Table, dialect: str):
        self.lex, self.base, self.dialect = lex, base, dialect
        self.joined = [base.name]
        self.joins: list[str] = []
        self.where: list[str] = []
        self.fanout = False

    def ident(self, name: str) -> str:
        return exp.to_identifier(name).sql(dialect=self.dialect) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and \
            name.lower() not in _RESERVED else exp.to_identifier(name, quoted=True).sql(dialect=self.dialect)

    def col(self, table: str, column: str) -> str:
        return f"{self.ident(table)}.{self.ident(column)}"

    def expr(self, measure: Measure) -> str:
        return re.sub("\x01(.*?)\x02", lambda m: self.ident(m.group(1)), measure.sql.replace("{t}", self.ident(measure.table.name)))

    def need(self, table: Table) -> bool:
        if table.name in self.joined:
            return True
        best = None
        for have in self.joined:
            path = self.lex.join_path(have, table.name)
            if path is not None and (best is None or len(path) < len(best[1])):
                best = (have, path)
        if best is None:
            return False
        current = best[0]
        for t1, c1, t2, c2 in best[1]:
            nxt = t2 if t1 == current else t1
            if nxt not in self.joined:
                # Walking from the referenced side (t2) to the referencing side (t1) multiplies rows.
                if nxt == t1:
                    self.fanout = True
                self.joins.append(f"JOIN {self.ident(nxt)} ON {self.col(t1, c1)} = {self.col(t2, c2)}")
                self.joined.append(nxt)
            current = nxt
        return True

    def from_clause(self) -> str:
        return " ".join([f"FROM {self.ident(self.base.name)}", *self.joins])

    def where_clause(self) -> str:
        return f" WHERE {' AND '.join(self.where)}" if self.where else ""


_RESERVED = {"order", "group", "user", "select", "from", "where", "table", "desc", "asc", "limit", "offset", "values",
             "key", "index", "date", "time", "year", "month", "day", "status", "type", "name", "value", "level",
             "rank", "position", "comment", "default", "check", "column", "row", "rows", "range", "case", "end",
             "to", "by", "in", "is", "as", "on", "or", "and", "not", "all", "any", "some", "user", "role", "session"}


def _literal(value, dialect: str) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    return exp.Literal.string(str(value)).sql(dialect=dialect)


def _fmt_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)
