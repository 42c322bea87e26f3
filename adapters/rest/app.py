"""Builds the aiohttp application: Core services in app state, middlewares, every route module."""
from __future__ import annotations

import importlib
import logging

from aiohttp import web

from tabletalk.adapters.rest.http import json_response, public
from tabletalk.adapters.rest.loop_lag import LoopLag
from tabletalk.adapters.rest.quiet_gc import QuietGC
from tabletalk.adapters.rest.middleware import API_PREFIX, auth_middleware, error_middleware
from tabletalk.config.settings import Settings
from tabletalk.core.runtime import Core

log = logging.getLogger(__name__)

CORE = web.AppKey("core", Core)
DISPATCHER = web.AppKey("dispatcher", object)  # tabletalk.bot.dispatcher.Dispatcher

# Route modules under /api/v1, each exposing `routes` (a RouteTableDef with paths relative to the prefix).
API_MODULES = ("auth", "datasources", "meta", "query", "training", "roles", "bots", "chats", "canvas", "tables")
# Modules with routes outside /api/v1 (webhooks), each exposing `routes` with absolute paths.
ROOT_MODULES = ("tabletalk.adapters.slack", "tabletalk.adapters.telegram", "tabletalk.adapters.feishu",
                "tabletalk.adapters.console")  # the web console at /


def core_of(request_or_app) -> Core:
    app = request_or_app.app if isinstance(request_or_app, web.Request) else request_or_app
    return app[CORE]


def _optional(module: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if module.startswith(exc.name or "?"):
            return None
        raise


LOOP_LAG = web.AppKey("loop_lag", LoopLag)
QUIET_GC = web.AppKey("quiet_gc", QuietGC)


def route_modules() -> tuple[list, list]:
    """The route modules under /api/v1 and at the root (imported once; `serve --workers` imports
    them before forking so the workers share them)."""
    api = [m for m in (_optional(f"tabletalk.adapters.rest.{name}") for name in API_MODULES) if m is not None]
    root = [m for m in (_optional(name) for name in ROOT_MODULES) if m is not None]
    return api, root


@public
async def healthz(request: web.Request) -> web.Response:
    """Open: liveness, plus the worst event-loop lag of the last ten seconds (no secrets)."""
    lag = request.app[LOOP_LAG]
    return json_response({"status": "ok", "loop_lag_max_ms": lag.max_ms(), "gc_pause_max_ms": lag.gc_max_ms(),
                          "gc_full_collections": request.app[QUIET_GC].full_collections})


def create_app(settings: Settings | None = None, *, core: Core | None = None) -> web.Application:
    settings = settings or Settings()
    quiet_gc = QuietGC()
    app = web.Application(client_max_size=settings.max_body_bytes,
                          middlewares=[quiet_gc.middleware, error_middleware, auth_middleware(lambda a: a[CORE].keys)])
    app[QUIET_GC] = quiet_gc
    app[CORE] = core or Core(settings)
    from tabletalk.bot.dispatcher import Dispatcher

    app[DISPATCHER] = Dispatcher(app[CORE])
    from tabletalk.adapters.delivery import install

    install(app)

    app[LOOP_LAG] = LoopLag()

    async def lifecycle(app: web.Application):
        c = app[CORE]
        await c.start()
        await app[DISPATCHER].start(resume=True)
        app[LOOP_LAG].start()
        app[QUIET_GC].start()
        if c.generated_admin_key:
            # Printed once: only its hash is stored.
            print(f"Generated admin API key (shown only once, store it now): {c.generated_admin_key}", flush=True)
        yield
        await app[LOOP_LAG].stop()
        await app[QUIET_GC].stop()
        await app[DISPATCHER].close()
        await c.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    api, root = route_modules()
    for module in api:
        for route in module.routes:
            app.router.add_route(route.method, API_PREFIX + route.path, route.handler)
    for module in root:
        app.router.add_routes(module.routes)
        if hasattr(module, "late_reply"):  # how an answer given after a restart reaches the platform
            app[DISPATCHER].late_replies[module.__name__.rsplit(".", 1)[1]] = module.late_reply
        if hasattr(module, "install"):  # per-app state of an adapter (Feishu's Open API sessions)
            module.install(app)
    from tabletalk.adapters.rest.openapi import openapi_handler
    app.router.add_get(API_PREFIX + "/openapi.json", openapi_handler)
    from tabletalk.adapters.asktable import install as install_asktable  # /v1, the AskTable SDK's surface
    install_asktable(app)
    return app
