"""Training question/SQL pairs: stored per datasource, used as few-shot examples and exact matches."""
from __future__ import annotations

import time

from sqlmodel import select

from tabletalk.core.errors import Forbidden, NotFound
from tabletalk.core.nlq.examples import sql_tables
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import Datasource, TrainingPair, iso

_TTL = 30.0


def reads_only(sql: str, tables: set[str], dialect: str) -> bool:
    """True when the SQL parses and reads no table but `tables` (lower-case)."""
    read = sql_tables(sql, dialect)
    return read is not None and read <= tables


def pairs_within(pairs: list[tuple[str, str]], tables: set[str], dialect: str) -> list[tuple[str, str]]:
    """The pairs whose SQL reads only `tables` (lower-case): the others name a table the asker may not see."""
    return [(question, sql) for question, sql in pairs if reads_only(sql, tables, dialect)]


def training_view(t: TrainingPair) -> dict:
    return {"id": t.id, "datasource_id": t.datasource_id, "question": t.question, "sql": t.sql, "active": t.active,
            "created_at": iso(t.created_at)}


class TrainingService:
    def __init__(self, store: Store, policies=None, metadata=None):
        self.store = store
        self.policies = policies  # PolicyService and MetadataService: what `seen_by` shows whom
        self.metadata = metadata
        self._pairs: dict[str, tuple[float, list[tuple[str, str]]]] = {}

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
        """The pairs one caller may read, by the rule its questions' examples follow (`pairs_within`):
        all of them for an administrator asking without a role; for anyone else, on each datasource,
        those whose SQL reads only the tables its role sees there (`PolicyService.scope_for` decides
        the role and refuses as it does for a question). Listing every datasource leaves out the ones
        it may not ask at all without a role."""
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
            full = await self.metadata.schema(ds_id)
            names = {t.name.lower() for t in full.tables}
            tables = names if (visible := scope.visible(names)) is None else names & visible
            seen.update(p.id for p in group if reads_only(p.sql, tables, full.dialect))
        return [p for p in pairs if p.id in seen]

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
