"""How table-generation routes stream: the spec's SSE (`event:message` / `data:<json>`, then
`data:[DONE]`), and stopping a job whose client went away."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from tabletalk.adapters.rest.http import dumps
from tabletalk.core.errors import TableTalkError


def gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def collect(request: web.Request, events: AsyncIterator[list[dict]]) -> list[dict]:
    """Every row of a batch stream; a dropped client stops (and so cancels) the job."""
    rows: list[dict] = []
    try:
        async for batch in events:
            rows.extend(batch)
            if gone(request):
                break
    finally:
        await events.aclose()
    return rows


async def sse(request: web.Request, events: AsyncIterator, wrap: Callable = lambda item: item) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    try:
        async for item in events:
            await resp.write(f"event:message\ndata:{dumps(wrap(item))}\n\n".encode())
    except TableTalkError as exc:
        await resp.write(f"event:error\ndata:{dumps({'detail': exc.detail})}\n\n".encode())
    except (ConnectionResetError, ConnectionError):
        return resp  # the client left: closing `events` below cancels the rest of the job
    finally:
        await events.aclose()
    await resp.write(b"event:message\ndata:[DONE]\n\n")
    await resp.write_eof()
    return resp
