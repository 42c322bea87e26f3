"""Stored metadata: one SQLModel table per concept. Works on SQLite and PostgreSQL alike."""
from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id(prefix: str) -> str:
    """`prefix_`, the time in milliseconds (11 hex digits) and 64 random bits: as unguessable as a
    random id, and ids made one after another sort together, so a table's primary-key index grows
    at its end instead of each insert dirtying a random page (a burst's query history: 2 pages less
    per row written to the WAL, 20 -> 12 µs CPU a row)."""
    return f"{prefix}_{time.time_ns() // 1_000_000:011x}{secrets.token_hex(8)}"


def iso(dt: datetime | None) -> str | None:
    """Timestamps are stored in UTC and shown as ISO 8601 with a Z."""
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.isoformat(timespec="milliseconds") + "Z"


def _json(default=None) -> Any:
    return Field(default_factory=(lambda: default() if callable(default) else default), sa_column=Column(JSON))


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    id: str = Field(default_factory=lambda: new_id("key"), primary_key=True)
    name: str = ""
    prefix: str = Field(index=True)
    key_hash: str = Field(unique=True)
    scope: str  # priv_admin | priv_asker | priv_visitor
    # For visitors: the bots (and so the chats of those bots) this key may use.
    bot_ids: list[str] = _json(list)
    kind: str = "key"  # key | token (short-lived, minted for one end user)
    # A bound role scopes every query made with the key, whatever a request body says.
    role_id: str | None = None
    role_variables: dict = _json(dict)
    user_profile: dict = _json(dict)
    expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class Datasource(SQLModel, table=True):
    __tablename__ = "datasources"
    id: str = Field(default_factory=lambda: new_id("ds"), primary_key=True)
    name: str = Field(index=True)
    engine: str
    # Secrets inside are stored encrypted (see core/secrets.py).
    access_config: dict = _json(dict)
    desc: str = ""
    sample_questions: list[str] = _json(list)
    meta_status: str = "pending"  # pending | running | success | failed
    meta_error: str | None = None
    schema_count: int = 0
    table_count: int = 0
    field_count: int = 0
    source_file: str | None = None  # set when declared in a bot YAML file
    created_at: datetime = Field(default_factory=utcnow)
    modified_at: datetime = Field(default_factory=utcnow)


class MetaTable(SQLModel, table=True):
    """One table or view of a datasource, with its fields as a JSON list (loaded as a whole)."""

    __tablename__ = "meta_tables"
    __table_args__ = (UniqueConstraint("datasource_id", "schema_name", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    datasource_id: str = Field(index=True)
    schema_name: str = ""
    name: str
    kind: str = "table"
    view_sql: str | None = Field(default=None, sa_column=Column(Text))
    description: str = ""
    description_by_user: bool = False
    visibility: bool = True
    # [{name, data_type, description, description_by_user, visibility, primary_key, references}]
    fields: list[dict] = _json(list)


class ValueIndex(SQLModel, table=True):
    """Distinct values of a column (value index) used to map question words to filters."""

    __tablename__ = "value_indexes"
    __table_args__ = (UniqueConstraint("datasource_id", "table_name", "field_name", "kind"),)
    id: str = Field(default_factory=lambda: new_id("idx"), primary_key=True)
    datasource_id: str = Field(index=True)
    schema_name: str = ""
    table_name: str
    field_name: str
    kind: str = "value"  # value | vector
    status: str = "success"
    auto: bool = True  # created by sync rather than by a user
    values: list[str] = _json(list)
    created_at: datetime = Field(default_factory=utcnow)


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    id: str = Field(default_factory=lambda: new_id("job"), primary_key=True)
    kind: str
    target_id: str = Field(index=True)
    status: str = "running"
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class TrainingPair(SQLModel, table=True):
    __tablename__ = "training_pairs"
    id: str = Field(default_factory=lambda: new_id("train"), primary_key=True)
    datasource_id: str = Field(index=True)
    question: str
    sql: str = Field(sa_column=Column(Text))
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class Role(SQLModel, table=True):
    __tablename__ = "roles"
    id: str = Field(default_factory=lambda: new_id("role"), primary_key=True)
    name: str = Field(index=True)
    # [{name, type, required}]
    variables: list[dict] = _json(list)
    created_at: datetime = Field(default_factory=utcnow)
    modified_at: datetime = Field(default_factory=utcnow)


class Policy(SQLModel, table=True):
    __tablename__ = "policies"
    id: str = Field(default_factory=lambda: new_id("policy"), primary_key=True)
    name: str = ""
    role_id: str = Field(index=True)
    datasource_id: str = Field(index=True)
    # [{table, row_filter}]
    rules: list[dict] = _json(list)
    created_at: datetime = Field(default_factory=utcnow)
    modified_at: datetime = Field(default_factory=utcnow)


class Bot(SQLModel, table=True):
    __tablename__ = "bots"
    id: str = Field(primary_key=True)  # slug, used in webhook URLs
    name: str
    datasource_ids: list[str] = _json(list)
    welcome_message: str = ""
    sample_questions: list[str] = _json(list)
    max_rows: int = 50
    access: dict = _json(dict)
    channels: dict = _json(dict)  # secrets encrypted
    group_privacy: str = "private"
    source_file: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    modified_at: datetime = Field(default_factory=utcnow)


class Chat(SQLModel, table=True):
    __tablename__ = "chats"
    id: str = Field(default_factory=lambda: new_id("chat"), primary_key=True)
    bot_id: str = Field(index=True)
    # Platform conversation key (e.g. "slack:C123:1700000.0001"); REST chats use their own id.
    conversation_key: str = Field(index=True)
    status: str = "active"
    owner_key_id: str | None = None  # the API key that created a REST chat
    user_id: str | None = None
    role_id: str | None = None
    role_variables: dict = _json(dict)
    datasource_id: str | None = None  # a chat on one datasource, without a bot (bot_id is then "")
    name: str = ""  # the first question, as a title for listings
    # The seq of the newest message, bumped in the same UPDATE that hands out the next one: the
    # database's row lock makes concurrent messages of one chat take distinct numbers.
    last_seq: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    modified_at: datetime = Field(default_factory=utcnow)


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_chat_seq", "chat_id", "seq"),)
    id: str = Field(default_factory=lambda: new_id("msg"), primary_key=True)
    chat_id: str
    seq: int = 0
    role: str  # human | assistant
    content: dict = _json(dict)
    status: str = "success"  # pending | success | failed (older rows: done)
    error: str | None = None
    # A pending question is owned by the instance answering it until `lease_until` (bot/leases.py);
    # `turn` holds what answering it again after a crash needs.
    lease_owner: str | None = Field(default=None, index=True)
    lease_until: datetime | None = None
    turn: dict | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class SeenEvent(SQLModel, table=True):
    """Webhook deliveries already accepted: the primary key makes a redelivery a no-op, across instances."""

    __tablename__ = "seen_events"
    platform: str = Field(primary_key=True)
    bot_id: str = Field(primary_key=True)
    event_id: str = Field(primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class QueryRecord(SQLModel, table=True):
    """A single-turn result kept so its chart can be rendered later (q2w PNG), for its asker only."""

    __tablename__ = "query_records"
    id: str = Field(primary_key=True)
    kind: str
    datasource_id: str
    owner_key_id: str | None = None  # the key that asked; None (older rows): administrators only
    question: str = ""
    result: dict = _json(dict)
    created_at: datetime = Field(default_factory=utcnow, index=True)
