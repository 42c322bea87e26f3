"""What every /v1 module shares: the one project, role names, strict bodies, refusals, paging."""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from tabletalk.adapters.rest.http import API_KEY, Paging, page_of, paged
from tabletalk.core.errors import Unprocessable

# One project per installation: every reply names it.
PROJECT_ID = "tabletalk"
PROJECT_NAME = "TableTalk"

# AskTable's API-key roles and TableTalk's scopes ('sys' has no counterpart: refused).
AK_ROLES = {"admin": "priv_admin", "asker": "priv_asker", "visitor": "priv_visitor"}
SCOPE_ROLES = {v: k for k, v in AK_ROLES.items()}


class Body(BaseModel):
    """A /v1 request body: a field TableTalk does not know is a 422 naming it, never dropped."""

    model_config = ConfigDict(extra="forbid")


def stamped(view: dict) -> dict:
    return {**view, "project_id": PROJECT_ID}


def refuse_unserved(body: BaseModel, names: tuple[str, ...], why: str) -> None:
    """Fields the SDK may send but TableTalk cannot honour: a 422 naming the ones actually set."""
    given = [n for n in names if getattr(body, n, None) not in (None, False, [], {}, "")]
    if given:
        raise Unprocessable(f"TableTalk cannot serve {', '.join(repr(n) for n in given)}: {why}")


def lines(text: str | None) -> list[str] | None:
    """AskTable sends sample questions as one string; TableTalk keeps a list (one per line)."""
    if text is None:
        return None
    return [q.strip() for q in text.splitlines() if q.strip()]


def key_of(request: web.Request):
    return request[API_KEY]


def page(items: list, total: int, paging: Paging) -> dict:
    """The spec surface's page plus `pages`, which the SDK's auto-paging reads to know when to stop."""
    return {**page_of(items, total, paging), "pages": max(1, -(-total // paging.size))}


def sliced(items: list, paging: Paging) -> dict:
    """`page` for a service that returns a whole list."""
    return {**paged(items, paging), "pages": max(1, -(-len(items) // paging.size))}


async def visible_tables(request: web.Request, core, ds_id: str, names: set[str]) -> set[str] | None:
    """The tables the calling key may see on a datasource (None: all), as core's scope_for decides:
    a role-bound token sees its role's tables only."""
    from tabletalk.core.policy.principal import Principal

    return (await core.policies.scope_for(Principal.of_key(key_of(request)), ds_id)).visible(names)
