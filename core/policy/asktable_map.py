"""AskTable's policy model mapped onto TableTalk's, so one set of rules is enforced whichever REST
surface defined them.

AskTable: a policy stands alone — `{name, permission, dataset_config: {datasource_ids, rows_filters:
{ds: ["schema.table.field <expression>"]}, regex_patterns}}` — and roles attach policies through
`policy_ids`; the variables a role needs are the `{{name}}`s its filters use.
TableTalk: a policy belongs to one role on one datasource and holds rules `{table, row_filter}`.

A shared (AskTable) policy is stored as given; attaching it to a role *materialises* it: one
TableTalk policy per datasource, with its patterns expanded against that datasource's metadata
and its variables declared on the role. Enforcement then is the one policy rewriter's, through
`PolicyService.scope`. Updating a shared policy re-materialises it for every role holding it.
TableTalk's own policies (made on /api/v1) are shown in AskTable's shape the other way round:
`*.<table>.<row_filter>` per filtered rule, the granted tables as a `tables_regex_pattern`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel, select

from tabletalk.core.errors import Invalid, NotFound
from tabletalk.core.policy.variables import PLACEHOLDER
from tabletalk.core.store.models import Policy, iso, new_id, utcnow

ALL_DATASOURCES = ("*", "_")
_CONDITION = re.compile(r"^\s*([^.\s]+)\.([^.\s]+)\.([^\s=<>!]+)\s*(.+?)\s*$", re.S)
_BARE_VALUE = re.compile(r"^(=|!=|<>|>=|<=|>|<|(?:NOT\s+)?LIKE)\s+([^'\"{(].*?)\s*$", re.I | re.S)
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


class SharedPolicy(SQLModel, table=True):
    """A policy as AskTable defines it: not tied to a role until a role lists it in `policy_ids`."""

    __tablename__ = "shared_policies"
    id: str = Field(default_factory=lambda: new_id("policy"), primary_key=True)
    name: str = ""
    description: str | None = None
    permission: str = "allow"
    dataset_config: dict = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    modified_at: datetime = Field(default_factory=utcnow)


class RolePolicyLink(SQLModel, table=True):
    """A shared policy attached to a role, with the TableTalk policies it was materialised into."""

    __tablename__ = "role_policy_links"
    __table_args__ = (UniqueConstraint("role_id", "shared_policy_id"),)
    id: str = Field(default_factory=lambda: new_id("link"), primary_key=True)
    role_id: str = Field(index=True)
    shared_policy_id: str = Field(index=True)
    policy_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


@dataclass
class SharedView:
    """One policy in AskTable's terms, whichever surface made it."""

    id: str
    name: str
    permission: str
    dataset_config: dict
    created_at: str | None
    modified_at: str | None
    description: str | None = None
    native_role_id: str | None = None  # set for a TableTalk policy (it belongs to this role)


def native_view(p: Policy) -> SharedView:
    """A TableTalk policy in AskTable's shape."""
    filters = [f"*.{r['table']}.{r['row_filter']}" for r in p.rules if r.get("row_filter")]
    tables = sorted({r["table"] for r in p.rules})
    regex = None if "*" in tables else {"tables_regex_pattern": "^(" + "|".join(re.escape(t) for t in tables) + ")$"}
    config = {"datasource_ids": [p.datasource_id], "rows_filters": {p.datasource_id: filters} if filters else None,
              "regex_patterns": regex}
    return SharedView(p.id, p.name, "allow", config, iso(p.created_at), iso(p.modified_at), native_role_id=p.role_id)


def shared_view(sp: SharedPolicy) -> SharedView:
    return SharedView(sp.id, sp.name, sp.permission, sp.dataset_config, iso(sp.created_at), iso(sp.modified_at),
                      description=sp.description)


class SharedPolicies:
    """AskTable-shaped policies and role attachments over `PolicyService` and the metadata."""

    def __init__(self, store, policies, datasources, metadata):
        self.store, self.policies, self.datasources, self.metadata = store, policies, datasources, metadata

    # --- policies ---------------------------------------------------------------------------
    async def create(self, name: str, permission: str, dataset_config: dict, description: str | None = None) -> SharedView:
        config = await self._checked(permission, dataset_config)
        sp = SharedPolicy(name=name, permission=permission, dataset_config=config, description=description)
        await self.store.add(sp)
        return shared_view(sp)

    async def list(self) -> list[SharedView]:
        """Shared policies, then TableTalk's own (those not materialised from a shared one)."""
        async with self.store.session() as s:
            shared = (await s.exec(select(SharedPolicy).order_by(SharedPolicy.created_at))).all()
        made = await self._materialised()
        native = [native_view(p) for p in await self.policies.list_policies() if p.id not in made]
        return [shared_view(sp) for sp in shared] + native

    async def get(self, policy_id: str) -> SharedView:
        async with self.store.session() as s:
            sp = await s.get(SharedPolicy, policy_id)
        if sp is not None:
            return shared_view(sp)
        if policy_id in await self._materialised():
            raise NotFound(f"Policy '{policy_id}' does not exist (it is a copy made from a shared policy).")
        return native_view(await self.policies.get_policy(policy_id))

    async def update(self, policy_id: str, *, name: str | None = None, permission: str | None = None,
                     dataset_config: dict | None = None) -> SharedView:
        async with self.store.session() as s:
            sp = await s.get(SharedPolicy, policy_id)
        if sp is None:
            return await self._update_native(policy_id, name, permission, dataset_config)
        if dataset_config is not None or permission is not None:
            sp.dataset_config = await self._checked(permission or sp.permission, dataset_config or sp.dataset_config)
            sp.permission = permission or sp.permission
        if name is not None:
            sp.name = name
        sp.modified_at = utcnow()
        await self.store.add(sp)
        for link in await self._links(shared_policy_id=sp.id):
            try:
                await self.policies.get_role(link.role_id)
            except NotFound:  # the role was deleted (e.g. on /api/v1): its attachment goes too
                await self.store.remove(RolePolicyLink, link.id, "Link")
                continue
            await self._materialise(link, sp)
        return shared_view(sp)

    async def delete(self, policy_id: str) -> None:
        async with self.store.session() as s:
            sp = await s.get(SharedPolicy, policy_id)
        if sp is None:
            await self.get(policy_id)  # NotFound for materialised copies and unknown ids
            await self.policies.delete_policy(policy_id)
            return
        for link in await self._links(shared_policy_id=policy_id):
            await self._detach(link)
        await self.store.remove(SharedPolicy, policy_id, "Policy")

    async def _update_native(self, policy_id, name, permission, dataset_config) -> SharedView:
        current = await self.get(policy_id)
        changes: dict = {"name": name}
        if permission not in (None, "allow"):
            raise Invalid("TableTalk policies only allow: what no policy grants is denied.")
        if dataset_config is not None:
            config = await self._checked("allow", dataset_config)
            ds_ids = config["datasource_ids"]
            if ds_ids != current.dataset_config["datasource_ids"]:
                raise Invalid(f"Policy '{policy_id}' was made on /api/v1 for one datasource "
                              f"('{current.dataset_config['datasource_ids'][0]}'); its datasource_ids cannot change.")
            changes["rules"] = await self._rules(config, ds_ids[0])
        await self.policies.update_policy(policy_id, changes)
        return await self.get(policy_id)

    # --- roles ------------------------------------------------------------------------------
    async def role_policy_ids(self, role_id: str) -> list[str]:
        """What AskTable calls the role's policy_ids: shared ones attached, and the role's own."""
        made = await self._materialised()
        shared = [link.shared_policy_id for link in await self._links(role_id=role_id)]
        return shared + [p.id for p in await self.policies.list_policies(role_id=role_id) if p.id not in made]

    async def set_role_policies(self, role_id: str, policy_ids: list[str]) -> None:
        """Make the role's policies exactly `policy_ids` (shared ones are attached or detached)."""
        role = await self.policies.get_role(role_id)
        wanted = list(dict.fromkeys(policy_ids))
        made = await self._materialised()
        own = {p.id for p in await self.policies.list_policies(role_id=role.id) if p.id not in made}
        shared: list[SharedPolicy] = []
        for pid in wanted:
            if pid in own:
                continue
            async with self.store.session() as s:
                sp = await s.get(SharedPolicy, pid)
            if sp is None:
                view = await self.get(pid)
                raise Invalid(f"Policy '{pid}' belongs to role '{view.native_role_id}' (it was made on /api/v1); only "
                              "policies made on /v1 can be attached to several roles.")
            shared.append(sp)
        dropped = own - set(wanted)
        if dropped:
            raise Invalid(f"Policies {', '.join(sorted(dropped))} were made on /api/v1 for this role; keep them in "
                          "policy_ids, or delete them with policies.delete.")
        links = {link.shared_policy_id: link for link in await self._links(role_id=role.id)}
        for pid, link in links.items():
            if pid not in wanted:
                await self._detach(link)
        for sp in shared:
            link = links.get(sp.id) or RolePolicyLink(role_id=role.id, shared_policy_id=sp.id)
            await self._materialise(link, sp)

    async def forget_role(self, role_id: str) -> None:
        """Drop a role's attachments (its TableTalk policies go with the role itself)."""
        for link in await self._links(role_id=role_id):
            await self.store.remove(RolePolicyLink, link.id, "Link")

    async def variables(self, role_id: str, datasource_ids: list[str] | None = None) -> list[str]:
        """The variable names a role's filters use (on the given datasources, or on all)."""
        role = await self.policies.get_role(role_id)
        names: list[str] = []
        for p in await self.policies.list_policies(role_id=role.id):
            if datasource_ids and p.datasource_id not in datasource_ids:
                continue
            for r in p.rules:
                names += PLACEHOLDER.findall(r.get("row_filter") or "")
        return list(dict.fromkeys(names))

    # --- materialising ----------------------------------------------------------------------
    async def _materialise(self, link: RolePolicyLink, sp: SharedPolicy) -> None:
        for pid in link.policy_ids:
            await self._delete_quietly(pid)
        config = sp.dataset_config
        ds_ids = await self._datasource_ids(config["datasource_ids"])
        made = []
        for ds_id in ds_ids:
            rules = await self._rules(config, ds_id)
            if not rules:  # nothing of this datasource matches: the role sees none of it
                continue
            await self._declare(link.role_id, rules)
            made.append((await self.policies.create_policy(sp.name, link.role_id, ds_id, rules)).id)
        link.policy_ids = made
        await self.store.add(link)
        await self._declare(link.role_id)

    async def _detach(self, link: RolePolicyLink) -> None:
        for pid in link.policy_ids:
            await self._delete_quietly(pid)
        await self.store.remove(RolePolicyLink, link.id, "Link")
        try:
            await self._declare(link.role_id)
        except NotFound:  # detached because the role is going
            pass

    async def _delete_quietly(self, policy_id: str) -> None:
        try:
            await self.policies.delete_policy(policy_id)
        except NotFound:  # already gone with its role or datasource
            pass

    async def _declare(self, role_id: str, rules: list[dict] = ()) -> None:
        """Make the role's variables those its policies (and `rules`, about to be added) use:
        missing ones are declared (AskTable's variables are strings); unused ones are dropped,
        unless the role also has /api/v1 policies (then its declarations are left to the user)."""
        role = await self.policies.get_role(role_id)
        policies = await self.policies.list_policies(role_id=role.id)
        every_rule = [r for p in policies for r in p.rules] + list(rules)
        used = list(dict.fromkeys(n for r in every_rule for n in PLACEHOLDER.findall(r.get("row_filter") or "")))
        made = await self._materialised()
        if any(p.id not in made for p in policies):  # the role has /api/v1 policies: its declarations are the user's
            used += [v["name"] for v in role.variables if v["name"] not in used]
        kept = [v for v in role.variables if v["name"] in used]
        wanted = kept + [{"name": n, "type": "string", "required": True} for n in used
                         if n not in {v["name"] for v in kept}]
        if wanted != role.variables:
            await self.policies.update_role(role.id, None, wanted)

    async def _rules(self, config: dict, ds_id: str) -> list[dict]:
        """TableTalk rules of one datasource: the granted tables, then each filter on the tables it matches."""
        tables = await self.metadata.tables(ds_id)
        pattern = (config.get("regex_patterns") or {}).get("tables_regex_pattern")
        if pattern:
            granted = [t for t in tables if re.search(pattern, t.name)]
            rules = [{"table": t.name, "row_filter": None} for t in granted]
        else:
            granted, rules = tables, [{"table": "*", "row_filter": None}]
        for condition in ((config.get("rows_filters") or {}).get(ds_id) or []):
            matched = _filter_rules(condition, granted)
            if not matched:  # a filter that filters nothing would leave its rows open: refuse it
                raise Invalid(f"The row filter '{condition}' matches no field of a granted table in datasource "
                              f"'{ds_id}' (is its metadata synced?).")
            rules += matched
        return rules

    async def _datasource_ids(self, ids: list[str]) -> list[str]:
        """The datasources a policy covers now ('*': all of them; deleted ones are skipped)."""
        existing = [d.id for d in (await self.datasources.list(size=100_000))[0]]
        if any(i in ALL_DATASOURCES for i in ids):
            return existing
        return [i for i in ids if i in existing]

    async def _checked(self, permission: str, config: dict) -> dict:
        if permission != "allow":
            raise Invalid(f"TableTalk cannot serve permission '{permission}': its policies only allow, and what no "
                          "policy grants is denied.")
        regex = config.get("regex_patterns") or {}
        unserved = [k for k in ("schemas_regex_pattern", "fields_regex_pattern") if regex.get(k)]
        if unserved:
            raise Invalid(f"TableTalk cannot serve {', '.join(unserved)}: policies grant tables (tables_regex_pattern) "
                          "and filter rows; fields are hidden for everyone in the metadata (visibility).")
        for key in ("tables_regex_pattern",):
            if regex.get(key):
                try:
                    re.compile(regex[key])
                except re.error as exc:
                    raise Invalid(f"regex_patterns.{key} is not a valid regular expression: {exc}.") from None
        ids = list(config.get("datasource_ids") or [])
        if not ids:
            raise Invalid("dataset_config.datasource_ids must name at least one datasource (or '*').")
        for ds_id in ids:
            if ds_id not in ALL_DATASOURCES:
                await self.datasources.get(ds_id)
        filters = config.get("rows_filters") or {}
        for ds_id, conditions in filters.items():
            if ds_id in ALL_DATASOURCES or (ds_id not in ids and not any(i in ALL_DATASOURCES for i in ids)):
                raise Invalid(f"rows_filters names datasource '{ds_id}', which is not one of datasource_ids "
                              "(filters need a concrete datasource id).")
            for condition in conditions:
                _parse_condition(condition)
        checked = {"datasource_ids": ids, "rows_filters": filters or None, "regex_patterns": regex or None}
        for ds_id in filters:
            await self._rules(checked, ds_id)  # every filter must match a field now
        return checked

    async def _links(self, *, role_id: str | None = None, shared_policy_id: str | None = None) -> list[RolePolicyLink]:
        q = select(RolePolicyLink)
        if role_id:
            q = q.where(RolePolicyLink.role_id == role_id)
        if shared_policy_id:
            q = q.where(RolePolicyLink.shared_policy_id == shared_policy_id)
        async with self.store.session() as s:
            return list((await s.exec(q.order_by(RolePolicyLink.created_at))).all())

    async def _materialised(self) -> set[str]:
        return {pid for link in await self._links() for pid in link.policy_ids}


def _parse_condition(condition: str) -> tuple[str, str, str, str]:
    """`schema.table.field <expression>` → (schema, table, field, expression), patterns allowed in names."""
    m = _CONDITION.match(condition or "")
    if not m:
        raise Invalid(f"The row filter '{condition}' is not '<schema>.<table>.<field> <expression>', "
                      "e.g. 'public.orders.city = {{city}}'.")
    return m.group(1), m.group(2), m.group(3), _quoted(m.group(4))


def _quoted(expression: str) -> str:
    """AskTable writes constants bare (`name = Alice`); SQL needs `'Alice'`. Numbers, quoted text,
    placeholders and lists stay as they are."""
    m = _BARE_VALUE.match(expression)
    if not m or _NUMBER.match(m.group(2)) or m.group(2).upper() in ("NULL", "TRUE", "FALSE") or "(" in m.group(2):
        return expression
    return f"{m.group(1)} '" + m.group(2).replace("'", "''") + "'"


def _filter_rules(condition: str, tables) -> list[dict]:
    schema, table, field, expression = _parse_condition(condition)
    rules = []
    for t in tables:
        schemas = {(t.schema_name or "main").lower()} | ({"main", "public"} if not t.schema_name else set())
        if not (fnmatchcase(t.name.lower(), table.lower()) and any(fnmatchcase(x, schema.lower()) for x in schemas)):
            continue
        for f in t.fields:
            if fnmatchcase(f["name"].lower(), field.lower()):
                rules.append({"table": t.name, "row_filter": f'{f["name"]} {expression}'})
    return rules
