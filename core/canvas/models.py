"""Stored canvas boards and their nodes."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from tabletalk.core.store.models import new_id, utcnow


class Canvas(SQLModel, table=True):
    __tablename__ = "canvases"
    id: str = Field(default_factory=lambda: new_id("canvas"), primary_key=True)
    name: str
    datasource_id: str = Field(index=True)
    role_id: str | None = None
    role_variables: dict = Field(default_factory=dict, sa_column=Column(JSON))
    owner_key_id: str | None = None  # the key that created it: askers see only their own
    created_at: datetime = Field(default_factory=utcnow)
    modified_at: datetime = Field(default_factory=utcnow)


class CanvasNode(SQLModel, table=True):
    __tablename__ = "canvas_nodes"
    id: str = Field(default_factory=lambda: new_id("node"), primary_key=True)
    canvas_id: str = Field(index=True)
    type: str  # data | chart | text | sql
    title: str = ""
    question: str = ""
    sql: str | None = None
    parent_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    status: str = "pending"  # pending | running | completed | failed | skipped
    data: dict = Field(default_factory=dict, sa_column=Column(JSON))
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    # While `running`: the instance running it and until when (renewed as it runs; core/canvas/runs.py).
    run_owner: str | None = None
    run_until: datetime | None = None
