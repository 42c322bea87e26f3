"""The one place exceptions become `{"detail": ...}` responses, and where API keys are checked."""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from tabletalk.adapters.rest.http import API_KEY, json_response
from tabletalk.core.auth import require_scope
from tabletalk.core.errors import TableTalkError, shown_to
from tabletalk.core.pacing import turn

log = logging.getLogger("tabletalk.http")

API_PREFIX = "/api/v1"


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except TableTalkError as exc:
        if exc.status >= 500:
            log.warning("%s %s -> %s: %s", request.method, request.path, exc.status, exc.detail)
        key = request.get(API_KEY)
        return json_response({"detail": shown_to(exc, key is not None and key.scope == "priv_admin")}, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = {404: "Not found: no such route.", 405: f"Method {request.method} is not allowed on this route.",
                  413: "The request body is too large."}.get(exc.status, exc.reason)
        return json_response({"detail": detail}, status=exc.status)
    except IntegrityError:  # a unique key taken by a concurrent request that committed first
        log.warning("%s %s -> 409: integrity error", request.method, request.path, exc_info=True)
        return json_response({"detail": "The request conflicts with a concurrent change to the same object; "
                                        "reload it and retry."}, status=409)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_response({"detail": "Internal server error; the incident was logged."}, status=500)


def auth_middleware(keys_of, prefix: str = API_PREFIX):
    """Authenticate every request under `prefix` (/api/v1; /v1 for the AskTable surface) and enforce
    the scope its handler declares."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        if not request.path.startswith(prefix):
            return await handler(request)
        route_handler = request.match_info.handler
        scope = getattr(route_handler, "__scope__", "priv_admin")
        if scope is None:
            return await handler(request)
        # A burst of API requests is read a few per loop iteration (core/pacing.py), so that webhooks
        # and health checks arriving meanwhile are answered between them.
        await turn()
        key = await keys_of(request.app).authenticate(request.headers.get("Authorization"))
        request[API_KEY] = key
        # Unknown routes are 404 for any valid key, whatever their scope.
        if request.match_info.http_exception is None:
            require_scope(key, scope)
        return await handler(request)

    return middleware
