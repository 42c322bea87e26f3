"""The AskTable surface: `/v1`, shaped exactly as the official AskTable Python SDK's models and
requests, beside `/api/v1`. Each module translates one resource area onto the same core services
the spec surface uses; nothing here decides a business rule."""
from __future__ import annotations

import importlib

from aiohttp import web

from tabletalk.adapters.rest.app import CORE, DISPATCHER
from tabletalk.adapters.rest.middleware import auth_middleware

PREFIX = "/v1"
MODULES = ("auth", "datasources", "meta", "answers", "roles", "trainings", "bots", "chats")


def install(app: web.Application) -> None:
    """Mount `/v1` on the main app: its own key check, the main app's services and error mapping."""
    sub = web.Application(middlewares=[auth_middleware(lambda a: a[CORE].keys, PREFIX)])
    sub[CORE], sub[DISPATCHER] = app[CORE], app[DISPATCHER]
    for name in MODULES:
        module = importlib.import_module(f"tabletalk.adapters.asktable.{name}")
        sub.router.add_routes(module.routes)
    app.add_subapp(PREFIX, sub)
