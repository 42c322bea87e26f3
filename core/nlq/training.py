"""Training question/SQL pairs: stored per datasource, used as few-shot examples and exact matches.

Who is shown which pair is decided here once, for listings and for every question's examples and
exact matches alike (`TrainingService.shown_to`): a pair names nothing its asker may not read.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from dataclasses import dataclass

from sqlglot import exp
from sqlmodel import select

from tabletalk.core.cache import IdentityMemo, TtlCache
from tabletalk.core.errors import Forbidden, NotFound
from tabletalk.core.metadata.schema import Schema, Table
from tabletalk.core.nlq.reads import sql_reads
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import Datasource, TrainingPair, iso

log = logging.getLogger(__name__)

_TTL = 30.0
LOOKUP_TIMEOUT = 5.0  # seconds a literal's confirmation may take before the pair is left out
MAX_VIEWS = 8  # views a pair may read through (nested ones counted), as the policy rewriter's depth


@dataclass(frozen=True)
class _Hidden:
    """What a datasource's schema holds, by lower-case name: its tables, the columns an administrator
    hid in each, and the definitions of its views (built once per cached schema)."""
    tables: dict[str, Table]
    columns: dict[str, frozenset[str]]
    views: dict[str, str]


_hidden_of = IdentityMemo(lambda full: _Hidden(
    {t.name.lower(): t for t in full.tables},
    {t.name.lower(): frozenset(c.lower() for c in t.hidden) for t in full.tables if t.hidden},
    {t.name.lower(): t.view_sql for t in full.tables if t.kind == "view" and t.view_sql}), max_items=8)


def readable(sql: str, visible: set[str], full: Schema) -> bool:
    """True when a role seeing the tables `visible` (lower-case) could read all `sql` names: it
    parses, every table it reads, through views too, is visible, and it names no hidden column: one
    named through its table or alias, and one whose table the text does not tell, by its name
    against every table read. When unsure, False."""
    hidden = _hidden_of(full)
    tables: set[str] = set()
    pending, views = [sql_reads(sql, full.dialect)], 0
    while pending:
        reads = pending.pop()
        if reads is None or not reads.sure:
            return False
        if not reads.tables <= visible:
            return False
        if any(column in hidden.columns.get(table, ()) for table, column in reads.columns):
            return False
        if reads.loose and reads.loose & frozenset().union(*(hidden.columns.get(t, ()) for t in reads.tables)):
            return False
        for name in reads.tables - tables:
            if name in hidden.views:
                views += 1
                if views > MAX_VIEWS:
                    return False
                pending.append(sql_reads(hidden.views[name], full.dialect))
        tables |= reads.tables
    return True


def literal_checks(sql: str, full: Schema, shaped: set[str]) -> list[tuple[str, str, str]] | None:
    """For a role whose row filters shape the tables `shaped` (lower-case; views count as shaped):
    the (table, column, value) lookups that would confirm `sql`'s string literals are values of rows
    it reads; None when one cannot be confirmed. A literal compared with a column of a table no filter
    shapes, or with a number or date column (a bound, not a stored text), needs none; one compared
    with a text column of a shaped table needs `=`, `<>` or `IN`; any other (a LIKE pattern, inside a
    function, compared with nothing, a column whose table the text does not tell) cannot be."""
    reads = sql_reads(sql, full.dialect)
    if reads is None or not reads.sure:
        return None
    hidden = _hidden_of(full)
    if not reads.literals or not (reads.tables & shaped or reads.tables & hidden.views.keys()):
        return []
    checks = []
    for lit in reads.literals:
        owners = [hidden.tables[t] for t in lit.tables if t in hidden.tables and hidden.tables[t].column(lit.column)]
        if lit.how == "other" or len(owners) != 1:
            return None
        table = owners[0]
        column = table.column(lit.column)
        if column.kind != "text" or (table.name.lower() not in shaped and table.kind != "view"):
            continue
        if lit.how != "equal":
            return None
        checks.append((table.name, column.name, lit.value))
    return checks


def visible_tables(scope, full: Schema) -> set[str]:
    """Lower-case names of the tables (and views) of `full` a scope may query."""
    names = {t.name.lower() for t in full.tables}
    visible = scope.visible(names)
    return names if visible is None else names & visible


def training_view(t: TrainingPair) -> dict:
    return {"id": t.id, "datasource_id": t.datasource_id, "question": t.question, "sql": t.sql, "active": t.active,
            "created_at": iso(t.created_at)}


class TrainingService:
    def __init__(self, store: Store, policies=None, metadata=None):
        self.store = store
        self.policies = policies  # PolicyService and MetadataService: what `seen_by` shows whom
        self.metadata = metadata
        self._pairs: dict[str, tuple[float, list[tuple[str, str]]]] = {}
        # per (datasource, role, rules, values): (pairs, schema, the pairs shown); one load per burst
        self._scoped: TtlCache[tuple] = TtlCache(_TTL, max_items=1000)

    async def create(self, datasource_id: str, question: str, sql: str, dialect: str) -> TrainingPair:
        from tabletalk.core.policy.readonly import parse_read_only

        parse_read_only(sql, dialect)  # a pair must itself be a read-only query
        async with self.store.session() as s:
            if await s.get(Datasource, datasource_id) is None:
                raise NotFound(f"Datasource '{datasource_id}' does not exist.")
            pair = TrainingPair(datasource_id=datasource_id, question=question.strip(), sql=sql.strip().rstrip(";"))
            s.add(pair)
            await s.commit()
        self._pairs.pop(datasource_id, None)
        return pair

    async def list(self, datasource_id: str | None = None) -> list[TrainingPair]:
        q = select(TrainingPair)
        if datasource_id:
            q = q.where(TrainingPair.datasource_id == datasource_id)
        async with self.store.session() as s:
            return list((await s.exec(q.order_by(TrainingPair.created_at))).all())

    async def seen_by(self, principal, datasource_id: str | None = None, role_id: str | None = None,
                      role_variables: dict | None = None) -> list[TrainingPair]:
        """The pairs one caller may read, by the rule its questions' examples follow (`shown_to`):
        all of them for an administrator asking without a role; for anyone else, on each datasource,
        those its role is shown there (`PolicyService.scope_for` decides the role and refuses as it
        does for a question). Listing every datasource leaves out the ones it may not ask at all
        without a role."""
        pairs = await self.list(datasource_id)
        by_ds: dict[str, list[TrainingPair]] = {datasource_id: []} if datasource_id else {}
        for p in pairs:
            by_ds.setdefault(p.datasource_id, []).append(p)
        seen: set[str] = set()
        for ds_id, group in by_ds.items():
            try:
                scope = await self.policies.scope_for(principal, ds_id, role_id, role_variables)
            except Forbidden:
                if datasource_id or role_id is not None or principal.bound:
                    raise
                continue  # no role named, and this datasource needs one
            if not scope.restricted:
                seen.update(p.id for p in group)
                continue
            shown = await self.shown_to(scope, ds_id, {p.sql for p in group})
            seen.update(p.id for p in group if p.sql in shown)
        return [p for p in pairs if p.id in seen]

    async def shown_to(self, scope, datasource_id: str, sqls: set[str], full: Schema | None = None) -> set[str]:
        """Those of `sqls` a restricted `scope` may be shown on a datasource: they name nothing it may
        not read (`readable`) and, under row filters, carry no string of rows it cannot read
        (`literal_checks`, each looked up through its policy as value hints are)."""
        full = full or await self.metadata.schema(datasource_id)
        visible = visible_tables(scope, full)
        shown = {sql for sql in sqls if readable(sql, visible, full)}
        if not scope.filtered or not shown:
            return shown
        shaped = scope.shaped_tables({t.name.lower() for t in full.tables})
        checks = {sql: literal_checks(sql, full, shaped) for sql in shown}
        wanted: dict[tuple[str, str], set[str]] = {}
        for needed in checks.values():
            for table, column, value in needed or ():
                wanted.setdefault((table, column), set()).add(value)
        confirmed = await self._confirmed(scope, datasource_id, full, wanted) if wanted else set()
        return {sql for sql, needed in checks.items() if needed is not None and set(needed) <= confirmed}

    async def _confirmed(self, scope, datasource_id: str, full: Schema,
                         wanted: dict[tuple[str, str], set[str]]) -> set[tuple[str, str, str]]:
        """The (table, column, value) of `wanted` that a row the scope reads holds, read through its
        policy; a lookup that fails confirms nothing."""
        datasources = self.metadata.datasources
        conn = await datasources.connector(await datasources.get(datasource_id))
        sem = asyncio.Semaphore(4)

        async def lookup(table: str, column: str, values: set[str]) -> set[tuple[str, str, str]]:
            col = exp.column(exp.to_identifier(column, quoted=True))
            sql = (exp.select(col.copy()).distinct().from_(exp.to_table(table, quoted=True))
                   .where(exp.In(this=col, expressions=[exp.Literal.string(v) for v in sorted(values)]))
                   .sql(dialect=full.dialect))
            async with sem:
                try:
                    result = await conn.execute(scope.enforce(sql, full), max_rows=len(values) + 1,
                                                timeout=LOOKUP_TIMEOUT)
                except Exception as exc:  # noqa: BLE001 - fail closed: an unconfirmed pair is not shown
                    log.info("training literal lookup %s.%s failed: %s", table, column, exc)
                    return set()
            return {(table, column, str(row[0])) for row in result.data if row and row[0] is not None}

        found = await asyncio.gather(*(lookup(t, c, v) for (t, c), v in wanted.items()))
        return set().union(*found)

    async def pairs_for(self, datasource_id: str, scope) -> list[tuple[str, str]]:
        """(question, sql) of the active pairs one asker's questions may use: all for an administrator
        without a role, else those `shown_to` its scope; kept per scope while the pairs and the
        schema stay the same objects (the hot path of every question)."""
        pairs = await self.pairs(datasource_id)
        if not scope.restricted:
            return pairs
        full = await self.metadata.schema(datasource_id)
        key = (datasource_id, scope.role_id, tuple((r.table, r.row_filter) for r in scope.rules),
               json.dumps(scope.values, sort_keys=True, default=str))

        async def load():
            shown = await self.shown_to(scope, datasource_id, {sql for _, sql in pairs}, full)
            # The schema by weak reference: an idle scope's entry does not keep an old schema alive.
            return pairs, weakref.ref(full), [(q, sql) for q, sql in pairs if sql in shown]

        hit = await self._scoped.get(key, load)
        if hit[0] is not pairs or hit[1]() is not full:  # pairs edited or schema reloaded since
            self._scoped.pop(key)
            hit = await self._scoped.get(key, load)
        return hit[2]

    async def update(self, training_id: str, changes: dict, dialect: str) -> TrainingPair:
        """Change a pair's question, SQL (still read-only) or whether it is used (active)."""
        from tabletalk.core.policy.readonly import parse_read_only

        if changes.get("sql") is not None:
            parse_read_only(changes["sql"], dialect)
        async with self.store.session() as s:
            pair = await s.get(TrainingPair, training_id)
            if pair is None:
                raise NotFound(f"Training pair '{training_id}' does not exist.")
            if changes.get("question") is not None:
                pair.question = changes["question"].strip()
            if changes.get("sql") is not None:
                pair.sql = changes["sql"].strip().rstrip(";")
            if changes.get("active") is not None:
                pair.active = bool(changes["active"])
            s.add(pair)
            await s.commit()
        self._pairs.pop(pair.datasource_id, None)
        return pair

    async def delete(self, training_id: str) -> None:
        pair = await self.store.remove(TrainingPair, training_id, "Training pair")
        self._pairs.pop(pair.datasource_id, None)

    async def pairs(self, datasource_id: str) -> list[tuple[str, str]]:
        """(question, sql) of the active pairs, cached briefly."""
        hit = self._pairs.get(datasource_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        pairs = [(p.question, p.sql) for p in await self.list(datasource_id) if p.active]
        self._pairs[datasource_id] = (time.monotonic() + _TTL, pairs)
        return pairs
