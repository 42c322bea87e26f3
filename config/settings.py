"""Service settings, read from the environment (and nothing else) with pydantic-settings."""
from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; each field's alias is the environment variable that sets it."""

    model_config = SettingsConfigDict(extra="ignore")

    home: Path = Field(Path("./.tabletalk"), alias="TABLETALK_HOME")
    database_url: str | None = Field(None, alias="TABLETALK_DATABASE_URL")
    admin_key: SecretStr | None = Field(None, alias="TABLETALK_ADMIN_KEY")
    secret_key: SecretStr | None = Field(None, alias="TABLETALK_SECRET_KEY")
    log_level: str = Field("INFO", alias="TABLETALK_LOG_LEVEL")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    llm_model: str = Field("gpt-4o-mini", validation_alias=AliasChoices("TABLETALK_LLM_MODEL", "OPENAI_MODEL"))
    embedding_model: str | None = Field(None, alias="TABLETALK_EMBEDDING_MODEL")
    llm_timeout: float = Field(30.0, alias="TABLETALK_LLM_TIMEOUT")
    llm_retries: int = Field(3, alias="TABLETALK_LLM_RETRIES")
    max_rows: int = Field(1000, alias="TABLETALK_MAX_ROWS")
    # Seconds an instance owns a question it accepted without renewing; after that another may answer it.
    turn_lease: float = Field(30.0, alias="TABLETALK_TURN_LEASE")
    query_timeout: float = Field(30.0, alias="TABLETALK_QUERY_TIMEOUT")
    demo: bool = Field(True, alias="TABLETALK_DEMO")
    max_body_bytes: int = Field(20 * 1024 * 1024, alias="TABLETALK_MAX_BODY_BYTES")
    value_index_cap: int = Field(200, alias="TABLETALK_VALUE_INDEX_CAP")
    bot_paths: list[str] = Field(default_factory=list, alias="TABLETALK_BOT_PATHS")

    @property
    def resolved_database_url(self) -> str:
        """SQLAlchemy async URL of the metadata store (SQLite in the home unless told otherwise)."""
        url = self.database_url or f"sqlite:///{(self.home / 'tabletalk.db').resolve()}"
        return to_async_url(url)

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_base_url or self.openai_api_key)


def to_async_url(url: str) -> str:
    """Map a plain database URL to the async driver SQLAlchemy needs."""
    for plain, async_ in (
        ("postgresql+asyncpg://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite+aiosqlite://", "sqlite+aiosqlite://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return async_ + url[len(plain):]
    raise ValueError(f"TABLETALK_DATABASE_URL must be sqlite:// or postgresql://, got {url.split(':', 1)[0]}://")
