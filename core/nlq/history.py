"""The single-turn history: every question→SQL (q2s) and question→answer (q2a) result, whichever
REST surface asked it, kept with its request so it can be listed later (newest first). A key that
is not an admin lists only its own questions: an answer may hold rows only its asker may see."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Column, func
from sqlmodel import Field, SQLModel, select

from tabletalk.core.store.db import Store
from tabletalk.core.store.models import utcnow

if TYPE_CHECKING:
    from tabletalk.core.nlq.pipeline import Answer, Ask

log = logging.getLogger(__name__)
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


FLUSH_AFTER = 0.05  # seconds a result waits so that a burst of answers is stored in one transaction
BATCH_ROWS = 50  # rows per INSERT where SQLAlchemy encodes them on the event loop (PostgreSQL), so a big burst goes in slices


class QueryHistory:
    """Results are written behind the answer, in batches (one INSERT of many rows per burst): the
    answer does not wait for the metadata store, and a burst costs one transaction, not one each.
    Listing flushes first, so a caller always sees its own results."""

    def __init__(self, store: Store):
        self.store = store
        self._pending: list[dict] = []
        self._flusher: asyncio.Task | None = None
        self._flushing = asyncio.Lock()

    async def record(self, kind: str, ask: Ask, answer: Answer, *, owner_key_id: str | None = None,
                     **request) -> dict:
        """Store one result; `request` adds what the caller asked beyond the `Ask` (e.g. with_json).
        Returns the row as stored (`HistoryRecord(**row)` for the model object)."""
        asked = {k: getattr(ask, k) for k in _REQUEST_FIELDS}
        row = {"id": answer.id, "kind": kind, "datasource_id": ask.datasource_id, "owner_key_id": owner_key_id,
               "request": {**asked, **request}, "answer": answer.to_dict(kind), "created_at": utcnow()}
        self._pending.append(row)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())
        return row

    async def _flush_soon(self) -> None:
        # Rows that arrive while a batch is being written wait FLUSH_AFTER for the next one: writing
        # them straight away made a burst's history dozens of transactions of a few rows each.
        while self._pending:
            await asyncio.sleep(FLUSH_AFTER)
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - the rows stay pending; the next answer or list retries
                log.warning("storing %d query-history rows failed, will retry: %s", len(self._pending), exc)
                return

    async def flush(self) -> None:
        """Store every result pending now (one transaction); on failure they stay pending."""
        async with self._flushing:  # a caller listing waits for a flush under way to commit
            if not self._pending:
                return
            rows, self._pending = self._pending, []
            try:
                await self.store.append(HistoryRecord.__table__, rows, batch=BATCH_ROWS)
            except BaseException:
                self._pending[:0] = rows
                raise

    async def close(self) -> None:
        """Wait for a flush under way (cancelling it mid-transaction would leave SQLite locked), then
        store what is left."""
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        try:
            await self.flush()
        except Exception as exc:  # noqa: BLE001 - shutting down: say what was not stored
            log.warning("%d query-history rows were not stored at shutdown: %s", len(self._pending), exc)

    async def list(self, kind: str, *, datasource_id: str | None = None, owner_key_id: str | None = None,
                   page: int = 1, size: int = 50) -> tuple[list[HistoryRecord], int]:
        """Newest first; `owner_key_id` limits it to one key's questions."""
        await self.flush()
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
