"""One real TableTalk per test module, driven by the real AskTable SDK over a real port."""
from __future__ import annotations

import pytest

from tests.adapters.asktable.server import Served, sdk


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with Served(tmp_path_factory.mktemp("asktable") / "home") as s:
        yield s


@pytest.fixture(scope="module")
def client(served):
    return sdk(served.base_url)


@pytest.fixture(scope="module")
def demo(client) -> str:
    return next(d.id for d in client.datasources.list() if d.name == "Demo shop")


@pytest.fixture(scope="module")
def demo_db(served, demo):
    """A read connection to the demo database itself: the truth answers are checked against."""
    import sqlite3

    path = served.home / "demo" / "shop.db"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    yield conn
    conn.close()
