from pathlib import Path

import pytest

from tabletalk.config.settings import Settings, to_async_url


def test_defaults_put_sqlite_metadata_in_the_home(monkeypatch):
    for var in ("TABLETALK_HOME", "TABLETALK_DATABASE_URL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    s = Settings()
    assert s.home == Path("./.tabletalk")
    assert s.resolved_database_url.startswith("sqlite+aiosqlite:///") and s.resolved_database_url.endswith("tabletalk.db")
    assert not s.llm_configured


def test_environment_configures_postgres_and_llm(monkeypatch):
    monkeypatch.setenv("TABLETALK_DATABASE_URL", "postgresql://u:p@127.0.0.1:5432/tt")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    s = Settings()
    assert s.resolved_database_url == "postgresql+asyncpg://u:p@127.0.0.1:5432/tt"
    assert s.llm_configured


def test_unknown_database_scheme_is_refused():
    with pytest.raises(ValueError, match="sqlite:// or postgresql://"):
        to_async_url("oracle://x")
