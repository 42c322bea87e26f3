"""The single-turn history: every question→SQL (q2s) and question→answer (q2a) result, whichever
REST surface asked it, kept with its request so it can be listed later (newest first). A key that
is not an admin lists only its own questions: an answer may hold rows only its asker may see."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Column, func
from sqlmodel import Field, SQLModel, select

from tabletalk.core.store.db import Store
from tabletalk.core.store.models import utcnow

if TYPE_CHECKING:
    from tabletalk.core.nlq.pipeline import Answer, Ask

KINDS = ("q2s", "q2a")
_REQUEST_FIELDS = ("datasource_id", "question", "role_id", "role_variables", "max_rows")


class HistoryRecord(SQLModel, table=True):
    __tablename__ = "query_history"
    id: str = Field(primary_key=True)  # the answer's id
    kind: str = Field(index=True)
    datasource_id: str = Field(index=True)
    owner_key_id: str | None = Field(default=None, index=True)
    request: dict = Field(default_factory=dict, sa_column=Column(JSON))
    answer: dict = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class QueryHistory:
    def __init__(self, store: Store):
        self.store = store

    async def record(self, kind: str, ask: Ask, answer: Answer, *, owner_key_id: str | None = None,
                     **request) -> HistoryRecord:
        """Store one result; `request` adds what the caller asked beyond the `Ask` (e.g. with_json)."""
        asked = {k: getattr(ask, k) for k in _REQUEST_FIELDS}
        row = HistoryRecord(id=answer.id, kind=kind, datasource_id=ask.datasource_id, owner_key_id=owner_key_id,
                            request={**asked, **request}, answer=answer.to_dict(kind))
        async with self.store.session() as s:
            s.add(row)
            await s.commit()
        return row

    async def list(self, kind: str, *, datasource_id: str | None = None, owner_key_id: str | None = None,
                   page: int = 1, size: int = 50) -> tuple[list[HistoryRecord], int]:
        """Newest first; `owner_key_id` limits it to one key's questions."""
        conds = [HistoryRecord.kind == kind]
        if datasource_id:
            conds.append(HistoryRecord.datasource_id == datasource_id)
        if owner_key_id is not None:
            conds.append(HistoryRecord.owner_key_id == owner_key_id)
        async with self.store.session() as s:
            total = (await s.exec(select(func.count()).select_from(HistoryRecord).where(*conds))).one()
            rows = (await s.exec(select(HistoryRecord).where(*conds)
                                 .order_by(HistoryRecord.created_at.desc(), HistoryRecord.id)
                                 .offset((page - 1) * size).limit(size))).all()
        return list(rows), int(total)
