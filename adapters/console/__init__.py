"""The web console: static files (HTML, CSS, ES modules) served at `/`, speaking only the public /api/v1.

No build step and no outside host: every asset ships inside the package. The page itself signs in
with an API key, so neither `/` nor the assets need one.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
# The page may load and call only this origin; charts are drawn in the page and exported via blob:/data:.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return web.FileResponse(STATIC / "index.html", headers={
        "Content-Security-Policy": CSP, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer"})


@routes.get("/console/{path:.+}")
async def asset(request: web.Request) -> web.Response:
    """A file under static/; revalidated on every load so an upgrade never runs stale modules."""
    root = STATIC.resolve()
    path = (root / request.match_info["path"]).resolve()
    if root not in path.parents or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
