"""Datasources as stored objects: CRUD, secrets sealed at rest, one cached connector each."""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from sqlalchemy import delete, update
from sqlmodel import select

from tabletalk.core.datasources.base import Connector, connector_for
from tabletalk.core.cache import TtlCache
from tabletalk.core.errors import Conflict, NotFound, Upstream
from tabletalk.core.secrets import SECRET_FIELDS, SecretBox, merge_secrets
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import (Datasource, Job, MetaTable, Policy, QueryRecord, TrainingPair, ValueIndex,
                                         iso, utcnow)

log = logging.getLogger(__name__)
_ROW_TTL = 5.0  # seconds a datasource row is reused without a lookup (bounds staleness across instances)


def datasource_view(ds: Datasource, *, full: bool = True) -> dict:
    """The public shape of a datasource: secrets are omitted entirely, never masked or echoed."""
    view = {"id": ds.id, "name": ds.name, "engine": ds.engine, "desc": ds.desc, "meta_status": ds.meta_status,
            "schema_count": ds.schema_count, "table_count": ds.table_count, "field_count": ds.field_count,
            "created_at": iso(ds.created_at), "modified_at": iso(ds.modified_at)}
    if full:
        view["access_config"] = {k: v for k, v in ds.access_config.items() if k not in SECRET_FIELDS}
        view["sample_questions"] = ds.sample_questions
        view["meta_error"] = ds.meta_error
        if ds.source_file:
            view["source_file"] = ds.source_file
    return view


async def lock_datasource(session, ds_id: str, **values) -> None:
    """First statement of a transaction writing a datasource's dependent rows: update (and so lock)
    the datasource row, or NotFound once it is deleted. Syncs, index builds and deletes of one
    datasource so apply one after the other, and nothing is written for a deleted one."""
    values = values or {"meta_status": Datasource.meta_status}
    result = await session.exec(update(Datasource).where(Datasource.id == ds_id).values(**values))
    if not result.rowcount:
        raise NotFound(f"Datasource '{ds_id}' does not exist.")


class DatasourceService:
    def __init__(self, store: Store, box: SecretBox, home: Path):
        self.store = store
        self.box = box
        self.home = home
        self._connectors: dict[str, tuple[object, Connector]] = {}
        self._rows: TtlCache[Datasource | None] = TtlCache(_ROW_TTL)
        self._gone: set[str] = set()  # deleted here: never re-cached by a read that raced the delete
        self._all: tuple[float, list[Datasource]] | None = None

    async def create(self, name: str, engine: str, access_config: dict, *, desc: str = "",
                     sample_questions: list[str] | None = None, source_file: str | None = None,
                     ds_id: str | None = None) -> Datasource:
        connector_for(engine, access_config, home=self.home)  # validates engine and config, opens nothing
        ds = Datasource(name=name, engine=engine, access_config=self.box.seal(access_config), desc=desc,
                        sample_questions=sample_questions or [], source_file=source_file)
        if ds_id:
            ds.id = ds_id
        async with self.store.session() as s:
            s.add(ds)
            await s.commit()
        self._all = None
        return ds

    async def get(self, ds_id: str, *, fresh: bool = False) -> Datasource:
        """A datasource by id; answered from a short-lived cache on the query hot path."""
        ds = await (self._load(ds_id) if fresh else self._rows.get(ds_id, lambda: self._load(ds_id)))
        if ds is None:
            self._rows.pop(ds_id)
            raise NotFound(f"Datasource '{ds_id}' does not exist.")
        if ds_id in self._gone:  # a read that raced the delete must not keep it alive
            self._rows.pop(ds_id)
        elif fresh:
            self._rows.put(ds_id, ds)
        return ds

    async def _load(self, ds_id: str) -> Datasource | None:
        async with self.store.session() as s:
            return await s.get(Datasource, ds_id)

    async def find(self, id_or_name: str) -> Datasource:
        """Resolve a datasource by id, or else by exact name (bot files may name datasources)."""
        async with self.store.session() as s:
            ds = await s.get(Datasource, id_or_name)
            if ds is None:
                ds = (await s.exec(select(Datasource).where(Datasource.name == id_or_name))).first()
        if ds is None:
            raise NotFound(f"Datasource '{id_or_name}' does not exist.")
        return ds

    async def list(self, *, name: str | None = None, page: int = 1, size: int = 50) -> tuple[list[Datasource], int]:
        """Paged listing, filtered by a name substring. The full list is read at most every
        `_ROW_TTL` seconds (local writes refresh it at once): listing is the hottest read."""
        if self._all is None or self._all[0] <= time.monotonic():
            async with self.store.session() as s:
                rows = list((await s.exec(select(Datasource).order_by(Datasource.created_at, Datasource.id))).all())
            self._all = (time.monotonic() + _ROW_TTL, rows)
        items = [d for d in self._all[1] if not name or name.lower() in d.name.lower()]
        return items[(page - 1) * size: page * size], len(items)

    async def update(self, ds_id: str, changes: dict, *, allow_file_owned: bool = False) -> Datasource:
        async with self.store.session() as s:
            ds = await s.get(Datasource, ds_id)
            if ds is None:
                raise NotFound(f"Datasource '{ds_id}' does not exist.")
            if ds.source_file and not allow_file_owned:
                raise Conflict(f"Datasource '{ds.name}' is defined in {ds.source_file}; edit that file instead.")
            if "access_config" in changes and changes["access_config"] is not None:
                merged = merge_secrets(self.box.open(ds.access_config), changes["access_config"])
                connector_for(ds.engine, merged, home=self.home)
                ds.access_config = self.box.seal(merged)
            for field in ("name", "desc", "sample_questions"):
                if changes.get(field) is not None:
                    setattr(ds, field, changes[field])
            ds.modified_at = utcnow()
            s.add(ds)
            await s.commit()
        self._rows.pop(ds_id)
        self._all = None
        await self._drop_connector(ds_id)
        return ds

    def forget(self, ds_id: str) -> None:
        """Drop cached copies of a datasource row changed elsewhere."""
        self._rows.pop(ds_id)
        self._all = None

    async def set_status(self, ds_id: str, **fields) -> None:
        async with self.store.session() as s:
            ds = await s.get(Datasource, ds_id)
            if ds is None:
                return
            for k, v in fields.items():
                setattr(ds, k, v)
            s.add(ds)
            await s.commit()
        self._rows.pop(ds_id)
        self._all = None

    async def delete(self, ds_id: str, *, allow_file_owned: bool = False) -> None:
        ds = await self.get(ds_id, fresh=True)
        self._rows.pop(ds_id)
        if ds.source_file and not allow_file_owned:
            raise Conflict(f"Datasource '{ds.name}' is defined in {ds.source_file}; remove it from that file instead.")
        async with self.store.session() as s:
            await lock_datasource(s, ds_id)  # waits for a sync writing right now; later ones write nothing
            for model in (MetaTable, ValueIndex, TrainingPair, Policy, QueryRecord):
                await s.exec(delete(model).where(model.datasource_id == ds_id))
            await s.exec(delete(Job).where(Job.target_id == ds_id))
            await s.exec(delete(Datasource).where(Datasource.id == ds_id))
            await s.commit()
        self._gone.add(ds_id)
        self._rows.pop(ds_id)
        self._all = None
        await self._drop_connector(ds_id)

    async def connector(self, ds: Datasource) -> Connector:
        """The long-lived connector of a datasource, rebuilt when its configuration changed."""
        version = ds.modified_at
        hit = self._connectors.get(ds.id)
        if hit and hit[0] == version:
            return hit[1]
        if hit:
            await _close_quietly(hit[1])
        conn = connector_for(ds.engine, self.box.open(ds.access_config), home=self.home)
        self._connectors[ds.id] = (version, conn)
        return conn

    async def test_connection(self, engine: str, access_config: dict, timeout: float = 8.0) -> dict:
        conn = connector_for(engine, access_config, home=self.home)
        try:
            message = await asyncio.wait_for(conn.test(), timeout)
            return {"success": True, "message": message}
        except Upstream as exc:
            return {"success": False, "message": exc.detail}
        except asyncio.TimeoutError:
            return {"success": False, "message": f"No answer within {timeout:.0f} s."}
        except Exception as exc:  # a driver error of any kind is an answer, not a 500
            return {"success": False, "message": _driver_message(exc)}
        finally:
            await _close_quietly(conn)

    async def _drop_connector(self, ds_id: str) -> None:
        hit = self._connectors.pop(ds_id, None)
        if hit:
            await _close_quietly(hit[1])

    async def close(self) -> None:
        for _, conn in list(self._connectors.values()):
            await _close_quietly(conn)
        self._connectors.clear()


def _driver_message(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"Connection failed: {text}"


async def _close_quietly(conn: Connector) -> None:
    try:
        await conn.close()
    except Exception:  # closing a broken pool must not break the caller
        log.debug("connector close failed", exc_info=True)
