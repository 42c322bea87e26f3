"""OpenAPI 3.1 description generated from the registered routes and their pydantic body models."""
from __future__ import annotations

import re

from aiohttp import web

from tabletalk.adapters.rest.http import json_response, public
from tabletalk.adapters.rest.middleware import API_PREFIX

_ERROR = {"description": "Error", "content": {"application/json": {"schema": {
    "type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}}}}


def build_openapi(app: web.Application) -> dict:
    paths: dict = {}
    components: dict = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith(API_PREFIX) or route.method in ("HEAD", "*") or path.endswith("openapi.json"):
            continue
        handler = route.handler
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"{(\w+)}", path)]
        query = getattr(handler, "__query__", None)
        if query is not None:
            for name, field in query.model_fields.items():
                params.append({"name": name, "in": "query", "required": field.is_required(),
                               "schema": query.model_json_schema()["properties"].get(name, {})})
        op: dict = {"summary": getattr(handler, "__summary__", "") or handler.__name__, "operationId": handler.__name__,
                    "parameters": params,
                    "responses": {"200": {"description": "OK"}, "400": _ERROR, "401": _ERROR, "403": _ERROR,
                                  "404": _ERROR, "422": _ERROR}}
        scope = getattr(handler, "__scope__", "priv_admin")
        if scope:
            op["security"] = [{"bearer": []}]
            op["x-scope"] = scope
        body = getattr(handler, "__body__", None)
        if body is not None:
            schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in schema.pop("$defs", {}).items():
                components[name] = sub
            components[body.__name__] = schema
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{body.__name__}"}}}}
        paths.setdefault(path, {})[route.method.lower()] = op
    return {"openapi": "3.1.0",
            "info": {"title": "TableTalk API", "version": "0.1.0",
                     "description": "Talk to your data: NL->SQL with row-level policies, chats, bots, table generation."},
            "servers": [{"url": "/"}], "paths": paths,
            "components": {"schemas": components,
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}}


@public
async def openapi_handler(request: web.Request) -> web.Response:
    return json_response(build_openapi(request.app))
