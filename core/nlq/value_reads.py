"""The bounded database reads value hints make, each through the asker's policy.

A read's SQL has one shape per (table, column, dialect, kind, number of literals): `LIKE` searches of
an over-the-cap column, `IN` confirmations of index values for a role under row filters. The shape is
built once with sqlglot, with placeholder string literals. Every read still goes through
`Lookup.enforce` (the role's policy rewrite), with the shape's unchanging text, which the rewriter's
memo answers without parsing again; the read's literals then take the placeholders' places in the
rewritten text. That is the text the rewriter makes of the read's own SQL (it treats string
literals as opaque values), and it is the same checked read-only query, so the connector is told it
needs no second parse. When a literal does not read back as one string token, or the rewrite does
not give back each placeholder exactly once, the read's own SQL is rewritten instead.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import TokenType
from tabletalk.core.errors import TableTalkError
from tabletalk.core.metadata.schema import Column, Table
from tabletalk.core.policy.readonly import dialect_of, read_only_sql, remember_checked

log = logging.getLogger(__name__)

LOOKUP_ROWS = 200
_SLOT = f"tt{secrets.token_hex(8)}s"  # placeholder literals: f"{_SLOT}{i}", never in a row filter


@dataclass(frozen=True)
class Lookup:
    """How value hints read the database: `enforce` turns SQL into the SQL this asker may run (the
    role's policy: row filters, hidden tables and columns); `execute` runs it and returns rows.
    `execute` is only ever given SQL that `enforce` rewrote (see the module's note)."""
    enforce: Callable[[str], str]
    execute: Callable[[str], Awaitable[Sequence[Sequence]]]


@lru_cache(maxsize=8)
def _dialect(dialect: str) -> tuple[Dialect, object]:
    d = dialect_of(dialect)
    return d, d.generator()


@lru_cache(maxsize=65_536)
def literal(text: str, dialect: str) -> tuple[str, bool]:
    """`text` as the dialect's SQL string literal, exactly as sqlglot writes `exp.Literal.string(text)`,
    and whether it reads back as one string token holding `text` (so that putting it where another
    string literal stood changes that literal's value and nothing else in the query)."""
    d, generator = _dialect(dialect)
    sql = generator.literal_sql(exp.Literal.string(text))
    try:
        tokens = d.tokenize(sql)
    except Exception:  # noqa: BLE001 - anything the tokenizer refuses is just not one token
        return sql, False
    return sql, len(tokens) == 1 and tokens[0].token_type == TokenType.STRING and tokens[0].text == text


def _select(table: Table, col: Column, dialect: str, where: exp.Expression) -> str:
    column = exp.column(col.name, quoted=True)
    query = (exp.select(column).from_(exp.table_(table.name, db=table.schema or None, quoted=True))
             .where(exp.and_(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())), where)).limit(LOOKUP_ROWS))
    return query.sql(dialect=dialect)


@lru_cache(maxsize=4096)
def _shape(schema: str | None, table: str, column: str, dialect: str, kind: str, n: int) -> str:
    """The read's SQL with placeholder literals: LIKE (any of n patterns, case-insensitive) or IN (n values)."""
    slots = [exp.Literal.string(f"{_SLOT}{i}") for i in range(n)]
    col = exp.column(column, quoted=True)
    if kind == "like":
        lowered = exp.func("LOWER", col)
        where = exp.or_(*(exp.Like(this=lowered.copy(), expression=s) for s in slots))
    else:
        where = exp.In(this=col.copy(), expressions=slots)
    return _select(Table(table, [], schema=schema), Column(column, "TEXT"), dialect, where)


@lru_cache(maxsize=4096)
def _pieces(sql: str, dialect: str, n: int) -> tuple[tuple[str, ...], tuple[int, ...]] | None:
    """`sql` cut at its n placeholders: (text between them, which slot each is), or None unless each
    placeholder occurs exactly once."""
    found = []
    for i in range(n):
        mark = literal(f"{_SLOT}{i}", dialect)[0]
        at = sql.find(mark)
        if at < 0 or sql.find(mark, at + 1) >= 0:
            return None
        found.append((at, len(mark), i))
    found.sort()
    texts, order, pos = [], [], 0
    for at, size, i in found:
        texts.append(sql[pos:at])
        order.append(i)
        pos = at + size
    texts.append(sql[pos:])
    return tuple(texts), tuple(order)


def _fill(sql: str, dialect: str, literals: Sequence[str]) -> str | None:
    cut = _pieces(sql, dialect, len(literals))
    if cut is None:
        return None
    texts, order = cut
    out = [texts[0]]
    for k, i in enumerate(order):
        out += (literals[i], texts[k + 1])
    return "".join(out)


def read_sql(table: Table, col: Column, dialect: str, kind: str, texts: Sequence[str], enforce: Callable[[str], str]) -> str:
    """The SQL, as `enforce` lets this asker run it, reading `col` rows whose value is LIKE one of
    `texts` (kind 'like', patterns) or IN `texts` (kind 'in')."""
    shape = _shape(table.schema or None, table.name, col.name, dialect, kind, len(texts))
    literals = [literal(t, dialect) for t in texts]
    rewritten = enforce(shape)
    if all(single for _, single in literals) and read_only_sql(rewritten, dialect) == rewritten:
        sql = _fill(rewritten, dialect, [lit for lit, _ in literals])
        if sql is not None:
            # The checked query with other one-token string literals in the same places is the same
            # read-only query (and the text sqlglot regenerates from it): the connector need not parse it.
            return remember_checked(dialect, sql)
    # A literal that does not read back as itself, or a rewrite that moved or repeated a placeholder:
    # rewrite this read's own SQL.
    return enforce(_fill(shape, dialect, [lit for lit, _ in literals]))


async def read_values(lookup: Lookup, table: Table, col: Column, dialect: str, kind: str,
                      texts: Sequence[str]) -> list[str] | None:
    """The string values of the rows read (at most LOOKUP_ROWS); None when the read was refused or failed."""
    try:
        rows = await lookup.execute(read_sql(table, col, dialect, kind, texts, lookup.enforce))
    except TableTalkError as exc:  # hidden table, filter error, timeout: no hints from it
        log.debug("value lookup skipped: %s", exc.detail)
        return None
    return [r[0] for r in rows if isinstance(r[0], str)]
