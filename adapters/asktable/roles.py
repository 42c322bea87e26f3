"""/v1/roles and /v1/policies in AskTable's shapes: policies stand alone and roles attach them by
`policy_ids`. The mapping onto TableTalk's per-role policies lives in core (SharedPolicies)."""
from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from tabletalk.adapters.asktable.wire import Body, sliced, stamped
from tabletalk.adapters.rest.app import DISPATCHER, core_of
from tabletalk.adapters.rest.http import Paging, json_response, no_content, parse_body, parse_query, requires
from tabletalk.core.policy.asktable_map import SharedView
from tabletalk.core.store.models import iso

routes = web.RouteTableDef()


def policy_out(v: SharedView) -> dict:
    return stamped({"id": v.id, "name": v.name, "permission": v.permission, "dataset_config": v.dataset_config,
                    "description": v.description, "created_at": v.created_at, "modified_at": v.modified_at})


async def role_out(core, role) -> dict:
    return stamped({"id": role.id, "name": role.name, "description": None, "created_at": iso(role.created_at),
                    "modified_at": iso(role.modified_at), "variables": [v["name"] for v in role.variables],
                    "policy_ids": await core.shared_policies.role_policy_ids(role.id)})


class RoleCreate(Body):
    name: str = Field(min_length=1)
    policy_ids: list[str] | None = None


class RoleUpdate(Body):
    name: str | None = Field(None, min_length=1)
    policy_ids: list[str] | None = None


class NamedQuery(Paging):
    name: str | None = None


def _filtered(request: web.Request, items: list, ids_param: str) -> list:
    q = parse_query(request, NamedQuery)
    ids = request.query.getall(ids_param, [])
    return [i for i in items if (not q.name or q.name.lower() in i.name.lower()) and (not ids or i.id in ids)]


@routes.post("/roles")
@requires("priv_admin", body=RoleCreate)
async def create_role(request: web.Request) -> web.Response:
    """Create a role and attach the given policies (their filters' variables become the role's)."""
    body = await parse_body(request, RoleCreate)
    core = core_of(request)
    role = await core.policies.create_role(body.name, [])
    try:
        await core.shared_policies.set_role_policies(role.id, body.policy_ids or [])
    except BaseException:  # a role is made with its policies, or not at all
        await core.shared_policies.forget_role(role.id)
        await core.policies.delete_role(role.id)
        raise
    return json_response(await role_out(core, await core.policies.get_role(role.id)))


@routes.get("/roles")
@requires("priv_admin", query=NamedQuery)
async def list_roles(request: web.Request) -> web.Response:
    core = core_of(request)
    roles = _filtered(request, await core.policies.list_roles(), "role_ids")
    return json_response(sliced([await role_out(core, r) for r in roles], parse_query(request, NamedQuery)))


@routes.get("/roles/{role_id}")
@requires("priv_admin")
async def retrieve_role(request: web.Request) -> web.Response:
    core = core_of(request)
    return json_response(await role_out(core, await core.policies.get_role(request.match_info["role_id"])))


@routes.patch("/roles/{role_id}")
@requires("priv_admin", body=RoleUpdate)
async def update_role(request: web.Request) -> web.Response:
    """Rename a role and/or make its policies exactly policy_ids."""
    body = await parse_body(request, RoleUpdate)
    core = core_of(request)
    role = await core.policies.get_role(request.match_info["role_id"])
    if body.policy_ids is not None:
        await core.shared_policies.set_role_policies(role.id, body.policy_ids)
    if body.name is not None:
        await core.policies.update_role(role.id, body.name, None)
    return json_response(await role_out(core, await core.policies.get_role(role.id)))


@routes.delete("/roles/{role_id}")
@requires("priv_admin")
async def delete_role(request: web.Request) -> web.Response:
    core = core_of(request)
    role = await core.policies.get_role(request.match_info["role_id"])
    await core.shared_policies.forget_role(role.id)
    await core.policies.delete_role(role.id)
    return no_content()


@routes.get("/roles/{role_id}/policies")
@requires("priv_admin")
async def role_policies(request: web.Request) -> web.Response:
    core = core_of(request)
    role = await core.policies.get_role(request.match_info["role_id"])
    return json_response([policy_out(await core.shared_policies.get(pid))
                          for pid in await core.shared_policies.role_policy_ids(role.id)])


@routes.get("/roles/{role_id}/variables")
@requires("priv_admin")
async def role_variables(request: web.Request) -> web.Response:
    """The variable names the role's filters use (on a bot's or the given datasources)."""
    core = core_of(request)
    ds_ids = request.query.getall("datasource_ids", [])
    if request.query.get("bot_id"):
        ds_ids += (await request.app[DISPATCHER].bots.get_row(request.query["bot_id"])).datasource_ids
    return json_response(await core.shared_policies.variables(request.match_info["role_id"], ds_ids or None))


class RegexPatterns(Body):
    fields_regex_pattern: str | None = None
    schemas_regex_pattern: str | None = None
    tables_regex_pattern: str | None = None


class DatasetConfig(Body):
    datasource_ids: list[str]
    regex_patterns: RegexPatterns | None = None
    rows_filters: dict[str, list[str]] | None = None


class PolicyCreate(Body):
    name: str = Field(min_length=1)
    permission: Literal["allow", "deny"]
    dataset_config: DatasetConfig
    description: str | None = None


class PolicyUpdate(Body):
    name: str | None = Field(None, min_length=1)
    permission: Literal["allow", "deny"] | None = None
    dataset_config: DatasetConfig | None = None


@routes.post("/policies")
@requires("priv_admin", body=PolicyCreate)
async def create_policy(request: web.Request) -> web.Response:
    """A policy (allow) granting tables and filtering rows; a role holds it once listed in its policy_ids."""
    body = await parse_body(request, PolicyCreate)
    view = await core_of(request).shared_policies.create(body.name, body.permission,
                                                         body.dataset_config.model_dump(exclude_none=True),
                                                         description=body.description)
    return json_response(policy_out(view))


@routes.get("/policies")
@requires("priv_admin", query=NamedQuery)
async def list_policies(request: web.Request) -> web.Response:
    """Every policy, made on /v1 or on /api/v1."""
    items = _filtered(request, await core_of(request).shared_policies.list(), "policy_ids")
    return json_response(sliced([policy_out(v) for v in items], parse_query(request, NamedQuery)))


@routes.get("/policies/{policy_id}")
@requires("priv_admin")
async def retrieve_policy(request: web.Request) -> web.Response:
    return json_response(policy_out(await core_of(request).shared_policies.get(request.match_info["policy_id"])))


@routes.patch("/policies/{policy_id}")
@requires("priv_admin", body=PolicyUpdate)
async def update_policy(request: web.Request) -> web.Response:
    """Change a policy; every role holding it is enforced with the new rules at once."""
    body = await parse_body(request, PolicyUpdate)
    config = body.dataset_config.model_dump(exclude_none=True) if body.dataset_config else None
    view = await core_of(request).shared_policies.update(request.match_info["policy_id"], name=body.name,
                                                         permission=body.permission, dataset_config=config)
    return json_response(policy_out(view))


@routes.delete("/policies/{policy_id}")
@requires("priv_admin")
async def delete_policy(request: web.Request) -> web.Response:
    await core_of(request).shared_policies.delete(request.match_info["policy_id"])
    return no_content()
