"""/roles and /policies: RBAC with variables and row filters."""
from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from tabletalk.adapters.rest.app import core_of
from tabletalk.adapters.rest.http import Paging, json_response, no_content, paged, parse_body, parse_query, requires
from tabletalk.core.policy.service import policy_view, role_view

routes = web.RouteTableDef()


class Strict(BaseModel):
    """Unknown fields are a 422 naming them (e.g. AskTable's policy_ids or dataset_config sent here)."""

    model_config = ConfigDict(extra="forbid")


class Variable(Strict):
    name: str = Field(min_length=1)
    type: Literal["string", "number", "list"] = "string"
    required: bool = True


class RoleCreate(Strict):
    name: str = Field(min_length=1)
    variables: list[Variable] = []


class RolePatch(Strict):
    name: str | None = Field(None, min_length=1)
    variables: list[Variable] | None = None


class RuleIn(Strict):
    table: str = Field(min_length=1)
    row_filter: str | None = None


class PolicyCreate(Strict):
    name: str = ""
    role_id: str = Field(min_length=1)
    datasource_id: str = Field(min_length=1)
    rules: list[RuleIn] = Field(min_length=1)


class PolicyPatch(Strict):
    name: str | None = None
    rules: list[RuleIn] | None = None


class PolicyQuery(Paging):
    role_id: str | None = None
    datasource_id: str | None = None


@routes.post("/roles")
@requires("priv_admin", body=RoleCreate)
async def create_role(request: web.Request) -> web.Response:
    """Create a role with its variables."""
    body = await parse_body(request, RoleCreate)
    role = await core_of(request).policies.create_role(body.name, [v.model_dump() for v in body.variables])
    return json_response(role_view(role), status=201)


@routes.get("/roles")
@requires("priv_admin", query=Paging)
async def list_roles(request: web.Request) -> web.Response:
    """List roles, paged."""
    q = parse_query(request, Paging)
    return json_response(paged([role_view(r) for r in await core_of(request).policies.list_roles()], q))


@routes.get("/roles/{role_id}")
@requires("priv_admin")
async def get_role(request: web.Request) -> web.Response:
    """One role."""
    return json_response(role_view(await core_of(request).policies.get_role(request.match_info["role_id"])))


@routes.patch("/roles/{role_id}")
@requires("priv_admin", body=RolePatch)
async def patch_role(request: web.Request) -> web.Response:
    """Rename a role or replace its variables."""
    body = await parse_body(request, RolePatch)
    variables = None if body.variables is None else [v.model_dump() for v in body.variables]
    role = await core_of(request).policies.update_role(request.match_info["role_id"], body.name, variables)
    return json_response(role_view(role))


@routes.delete("/roles/{role_id}")
@requires("priv_admin")
async def delete_role(request: web.Request) -> web.Response:
    """Delete a role and its policies."""
    await core_of(request).policies.delete_role(request.match_info["role_id"])
    return no_content()


@routes.post("/policies")
@requires("priv_admin", body=PolicyCreate)
async def create_policy(request: web.Request) -> web.Response:
    """Attach row-filter rules for a role on a datasource."""
    body = await parse_body(request, PolicyCreate)
    policy = await core_of(request).policies.create_policy(body.name, body.role_id, body.datasource_id,
                                                           [r.model_dump() for r in body.rules])
    return json_response(policy_view(policy), status=201)


@routes.get("/policies")
@requires("priv_admin", query=PolicyQuery)
async def list_policies(request: web.Request) -> web.Response:
    """List policies, optionally by role or datasource, paged."""
    q = parse_query(request, PolicyQuery)
    items = [policy_view(p) for p in await core_of(request).policies.list_policies(q.role_id, q.datasource_id)]
    return json_response(paged(items, q))


@routes.get("/policies/{policy_id}")
@requires("priv_admin")
async def get_policy(request: web.Request) -> web.Response:
    """One policy."""
    return json_response(policy_view(await core_of(request).policies.get_policy(request.match_info["policy_id"])))


@routes.patch("/policies/{policy_id}")
@requires("priv_admin", body=PolicyPatch)
async def patch_policy(request: web.Request) -> web.Response:
    """Rename a policy or replace its rules."""
    body = await parse_body(request, PolicyPatch)
    changes = body.model_dump(exclude_unset=True)
    if body.rules is not None:
        changes["rules"] = [r.model_dump() for r in body.rules]
    return json_response(policy_view(await core_of(request).policies.update_policy(request.match_info["policy_id"], changes)))


@routes.delete("/policies/{policy_id}")
@requires("priv_admin")
async def delete_policy(request: web.Request) -> web.Response:
    """Delete a policy."""
    await core_of(request).policies.delete_policy(request.match_info["policy_id"])
    return no_content()
