"""Datasets: lists of values or CSV rows that pick columns draw from.

An update changes only what it names: a description-only update keeps every row, new CSV content
replaces the old, and a dataset's type never changes.
"""
from __future__ import annotations

import csv
import io

from sqlmodel import select

from tabletalk.core.errors import Conflict, Invalid, NotFound
from tabletalk.core.store.db import Store
from tabletalk.core.tables.models import Dataset

PREVIEW_ROWS = 100
TYPES = ("list", "csv")


def parse_csv(raw: bytes) -> tuple[list[str], list[list[str]]]:
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error):
        raise Invalid("The file is not a readable UTF-8 CSV.") from None
    if not rows or not rows[0]:
        raise Invalid("The CSV file is empty.")
    return rows[0], rows[1:]


def dataset_view(d: Dataset) -> dict:
    """The spec's shape: list items in `data`; a CSV's header in `columns` (rows via preview)."""
    is_list = d.type == "list"
    return {"id": d.id, "name": d.name, "description": d.description, "type": d.type,
            "column_count": 0 if is_list else len(d.columns), "value_count": len(d.values) if is_list else 0,
            "data": list(d.values) if is_list else [], "columns": [] if is_list else list(d.columns),
            "row_count": 0 if is_list else len(d.values)}


def preview(d: Dataset) -> dict:
    if d.type == "list":
        return {"type": "list", "data": list(d.values), "rows": None}
    return {"type": "csv", "data": None, "rows": [dict(zip(d.columns, r)) for r in d.values[:PREVIEW_ROWS]]}


class DatasetService:
    def __init__(self, store: Store):
        self.store = store

    async def list(self) -> list[Dataset]:
        async with self.store.session() as s:
            return list((await s.exec(select(Dataset).order_by(Dataset.created_at))).all())

    async def get(self, ref: str) -> Dataset:
        async with self.store.session() as s:
            ds = await s.get(Dataset, ref) or (await s.exec(select(Dataset).where(Dataset.name == ref))).first()
        if ds is None:
            raise NotFound(f"Dataset '{ref}' does not exist.")
        return ds

    async def create(self, *, name: str | None, description: str = "", type: str = "list",
                     values: list | None = None, csv_files: list[bytes] | None = None) -> Dataset:
        if not name:
            raise Invalid("A dataset needs a 'name'.")
        if type not in TYPES:
            raise Invalid("Dataset 'type' must be 'list' or 'csv'.")
        columns, rows = self._content(type, values, csv_files, required=True)
        async with self.store.session() as s:
            if (await s.exec(select(Dataset).where(Dataset.name == name))).first():
                raise Conflict(f"A dataset named '{name}' already exists.")
            ds = Dataset(name=name, description=description or "", type=type, columns=columns, values=rows)
            s.add(ds)
            await s.commit()
        return ds

    def _content(self, kind: str, values, csv_files, *, required: bool) -> tuple[list, list]:
        if kind == "list":
            return [], list(values or [])
        if not csv_files:
            if required:
                raise Invalid("A csv dataset needs a file in the 'files' field.")
            return [], []
        header, rows = None, []
        for raw in csv_files:  # several files merge when their headers agree
            cols, body = parse_csv(raw)
            if header is not None and cols != header:
                raise Invalid("All CSV files of a dataset need the same header.")
            header = cols
            rows.extend(body)
        return header, rows

    async def update(self, ref: str, *, name: str | None = None, description: str | None = None, type: str | None = None,
                     values: list | None = None, csv_files: list[bytes] | None = None) -> Dataset:
        ds = await self.get(ref)
        if type and type != ds.type:
            raise Invalid(f"A dataset's type cannot change (this one is '{ds.type}').")
        async with self.store.session() as s:
            row = await s.get(Dataset, ds.id)
            if name and name != row.name:
                if (await s.exec(select(Dataset).where(Dataset.name == name))).first():
                    raise Conflict(f"A dataset named '{name}' already exists.")
                row.name = name
            if description is not None:
                row.description = description
            if row.type == "list" and values is not None:
                row.values = list(values)
            elif row.type == "csv" and csv_files:
                row.columns, row.values = self._content("csv", None, csv_files, required=True)
            s.add(row)
            await s.commit()
        return row

    async def delete(self, ref: str) -> None:
        ds = await self.get(ref)
        async with self.store.session() as s:
            await s.delete(await s.get(Dataset, ds.id))
            await s.commit()
