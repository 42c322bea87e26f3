"""Money words ("revenue", "sales", "turnover") as a measure: the column the schema says holds money, or
quantity × unit price, on the subject or the nearest table whose rows belong to it."""
from __future__ import annotations

from tabletalk.core.metadata.schema import Table
from tabletalk.core.nlq.engine.link import MONEY_NAMES, Col, SchemaIndex
from tabletalk.core.nlq.engine.logical_form import Proj
from tabletalk.core.nlq.engine.tokens import name_words

QUANTITY = {"quantity", "qty", "unit", "units", "count"}
UNIT_PRICE = {"price", "cost", "rate"}


def _numeric(c) -> bool:
    return c.kind == "number" and not c.primary_key and not c.references and not c.name.lower().endswith("id")


def measure_of(t: Table) -> Proj | None:
    """SUM over the table's money: a column described as revenue, quantity × price, or a money-named column."""
    nums = [c for c in t.columns if _numeric(c)]
    said = [c for c in nums if "revenue" in (c.description or "").lower() or "sales" in (c.description or "").lower()]
    if len(said) == 1:
        return Proj(agg="sum", col=Col(t, said[0]))
    qty = next((c for c in nums if set(name_words(c.name)) & QUANTITY), None)
    price = next((c for c in nums if set(name_words(c.name)) & UNIT_PRICE), None)
    if qty is not None and price is not None:
        return Proj(agg="sum", col=Col(t, qty), times=Col(t, price))
    money = [c for c in nums if set(name_words(c.name)) & (MONEY_NAMES - UNIT_PRICE)]
    return Proj(agg="sum", col=Col(t, money[0])) if len(money) == 1 else None


def money_measure(ix: SchemaIndex, main: Table | None) -> Proj | None:
    """The revenue of `main`: its own money column, else that of the nearest table whose rows reference it."""
    if main is None:
        found = [p for p in (measure_of(t) for t in ix.schema.tables) if p is not None]
        described = [p for p in found if "revenue" in (p.col.column.description or "").lower()]
        plain = [p for p in found if p.times is None]
        pick = described or (found if len(found) == 1 else plain if len(plain) == 1 else [])
        return pick[0] if pick else None
    own = measure_of(main)
    if own is not None:
        return own
    ranked = []
    for t in ix.schema.tables:
        path = ix.join_path(main.name, t.name)
        p = measure_of(t) if path else None
        if p is not None and path and path[-1][0] == t.name:  # t references its way back to main
            ranked.append((len(path), 0 if p.times is not None and len(path) > 1 else 1, p))
    ranked.sort(key=lambda x: (x[0], -x[1]))
    return ranked[0][2] if ranked else None
