"""Small pieces every REST handler uses: body parsing, scope declaration, JSON responses, paging."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError
from tabletalk.core.errors import Invalid, Unprocessable
from tabletalk.core.jsoncodec import dumps, dumps_bytes  # noqa: F401 - dumps: for the SSE writers
from tabletalk.core.store.models import ApiKey

M = TypeVar("M", bound=BaseModel)
API_KEY = web.RequestKey("api_key", ApiKey)  # the authenticated key of a /api/v1 request


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps_bytes(data), status=status, content_type="application/json", charset="utf-8")


def no_content() -> web.Response:
    return web.Response(status=204)


def requires(scope: str, *, body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
             summary: str = "") -> Callable:
    """Declare the scope a handler needs (checked by the auth middleware) and its documented body."""

    def mark(handler):
        handler.__scope__ = scope
        handler.__body__ = body
        handler.__query__ = query
        handler.__summary__ = summary or (handler.__doc__ or "").strip().split("\n")[0]
        return handler

    return mark


def public(handler):
    """A route that needs no API key (health, OpenAPI, signed webhooks)."""
    handler.__scope__ = None
    return handler


def validation_detail(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__") or "body"
        parts.append(f"'{loc}': {err.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts)


MAX_JSON_DEPTH = 64  # far beyond any real body; bounds the recursion of everything that walks it later


def loads_bounded(raw: bytes | str) -> Any:
    """Parse JSON whose arrays and objects nest at most MAX_JSON_DEPTH deep (Invalid otherwise)."""
    too_deep = Invalid(f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise too_deep from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"Malformed JSON body: {exc}") from None
    opening = raw.count(b"[" if isinstance(raw, bytes) else "[") + raw.count(b"{" if isinstance(raw, bytes) else "{")
    if opening > MAX_JSON_DEPTH and _depth(data) > MAX_JSON_DEPTH:
        raise too_deep
    return data


def _depth(data: Any) -> int:
    """Nesting depth of containers, walked without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise Invalid("The request body is empty; send a JSON object.")
    return loads_bounded(raw)


async def parse_body(request: web.Request, model: type[M]) -> M:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise Unprocessable("Invalid request: 'body': a JSON object is required.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable(validation_detail(exc)) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise Unprocessable(validation_detail(exc)) from None


MAX_PAGE = 1_000_000  # keeps (page - 1) * size inside every database's 64-bit OFFSET


class Paging(BaseModel):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    size: int = Field(50, ge=1, le=1000)


def page_of(items: list, total: int, paging: Paging) -> dict:
    return {"items": items, "total": total, "page": paging.page, "size": paging.size}


def paged(items: list, paging: Paging) -> dict:
    """`page_of` for a service that returns the whole list: the requested slice of it."""
    start = (paging.page - 1) * paging.size
    return page_of(items[start:start + paging.size], len(items), paging)


class EventStream:
    """A server-sent event stream whose client may leave at any time. Writes after that are
    dropped instead of raising, so the work behind the stream runs to its end and stores its result."""

    def __init__(self, resp: web.StreamResponse):
        self.resp = resp
        self.gone = False

    @classmethod
    async def open(cls, request: web.Request) -> "EventStream":
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        return cls(resp)

    async def write(self, text: str) -> None:
        if self.gone:
            return
        try:
            await self.resp.write(text.encode())
        except (ConnectionError, RuntimeError):  # reset by the peer, or the transport already closed
            self.gone = True

    async def close(self) -> web.StreamResponse:
        if not self.gone:
            try:
                await self.resp.write_eof()
            except (ConnectionError, RuntimeError):
                self.gone = True
        return self.resp
