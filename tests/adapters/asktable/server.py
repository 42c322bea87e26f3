"""A real TableTalk on a real port, served from its own thread, for the synchronous AskTable SDK,
plus `strict`: an SDK call whose raw reply is validated against the SDK's declared model."""
from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from tests.conftest import ADMIN_KEY, make_settings


class Served:
    """`with Served(home) as s:` → s.base_url (no /api prefix: the SDK adds /v1), s.app, s.call(coro)."""

    def __init__(self, home, **env):
        self.home, self.env = home, env
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="tabletalk-served", daemon=True)

    def call(self, coro, timeout: float = 60):
        """Run a coroutine on the server's loop (e.g. a core service call) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        from tabletalk.adapters.rest.app import create_app

        self.app = create_app(make_settings(self.home, **self.env))
        self.runner = web.AppRunner(self.app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        self.call(self._start(), timeout=300)
        return self

    def __exit__(self, *exc) -> None:
        self.call(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def sdk(base_url: str, key: str = ADMIN_KEY):
    from asktable import Asktable

    return Asktable(api_key=key, base_url=base_url, max_retries=0, timeout=60)


class NotTheModel(AssertionError):
    """The SDK accepted a reply that its declared model rejects; carries the reply."""

    def __init__(self, raw, parsed, error: ValidationError):
        super().__init__(f"the reply does not match the SDK's model: {error}")
        self.raw, self.parsed, self.error = raw, parsed, error


def strict(resource, method: str, model: Any, *args, **kwargs):
    """Call `resource.method` through the SDK, validate the raw JSON strictly against `model`
    (`model_validate`, not the SDK's lenient construction) and return (parsed, raw)."""
    resp = getattr(resource.with_raw_response, method)(*args, **kwargs)
    raw = resp.http_response.json() if resp.http_response.content else None
    parsed = resp.parse()
    if model is not None:
        try:
            TypeAdapter(model).validate_python(raw)
        except ValidationError as exc:
            raise NotTheModel(raw, parsed, exc) from None
    return parsed, raw


def strict_page(resource, method: str, model: Any, *args, **kwargs):
    """A list call: the page's envelope and every item validated; returns (page, raw)."""
    page, raw = strict(resource, method, None, *args, **kwargs)
    try:
        assert isinstance(raw["items"], list) and isinstance(raw["page"], int) and isinstance(raw["pages"], int), raw
        for item in raw["items"]:
            TypeAdapter(model).validate_python(item)
    except (AssertionError, KeyError, TypeError, ValidationError) as exc:
        raise NotTheModel(raw, page, exc) from None
    return page, raw


def every(page, limit: int = 200) -> list:
    """All items of an SDK list through its own auto-paging, failing if it does not end."""
    out = []
    for item in page:  # SyncPage.__iter__ follows next_page_info()
        out.append(item)
        assert len(out) <= limit, "the SDK's auto-paging did not end"
    return out
