"""Stored generated tables, their rows, datasets, user providers and workflows."""
from __future__ import annotations

import secrets
import string
from datetime import datetime

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from tabletalk.core.store.models import new_id, utcnow

_ALPHABET = string.ascii_letters + string.digits


def row_id() -> str:
    """Short stable row ids like the spec's "rsClYt"."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


class GenTable(SQLModel, table=True):
    __tablename__ = "gen_tables"
    id: str = Field(default_factory=lambda: new_id("tbl"), primary_key=True)
    name: str = Field(unique=True)
    description: str = ""
    model: str = ""
    columns: list[dict] = Field(default_factory=list, sa_column=Column(JSON))
    sources: list[dict] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class GenRow(SQLModel, table=True):
    __tablename__ = "gen_rows"
    __table_args__ = (Index("ix_gen_rows_table_seq", "table_id", "seq"),)
    id: str = Field(default_factory=row_id, primary_key=True)
    table_id: str
    seq: int
    data: dict = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class Dataset(SQLModel, table=True):
    __tablename__ = "datasets"
    id: str = Field(default_factory=lambda: new_id("dataset"), primary_key=True)
    name: str = Field(unique=True)
    description: str = ""
    type: str = "list"  # list | csv
    columns: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    values: list = Field(default_factory=list, sa_column=Column(JSON))  # list items, or csv rows (lists)
    created_at: datetime = Field(default_factory=utcnow)


class ProviderRow(SQLModel, table=True):
    __tablename__ = "providers"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    type: str = "openaicompatible"
    key: str = ""  # encrypted
    base_url: str = ""
    enabled: bool = True
    models: list[dict] = Field(default_factory=list, sa_column=Column(JSON))


class Workflow(SQLModel, table=True):
    __tablename__ = "workflows"
    id: str = Field(default_factory=lambda: new_id("wf"), primary_key=True)
    name: str = Field(unique=True)
    description: str = ""
    definition: dict = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
