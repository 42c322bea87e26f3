"""Roles, their variables, and row-filter policies as stored objects; `scope()` turns a role and
its variable values into the filter set the pipeline enforces on every query."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import select

from tabletalk.core.cache import IdentityMemo
from tabletalk.core.errors import Conflict, Forbidden, Invalid, NotFound
from tabletalk.core.policy.principal import Principal
from tabletalk.core.metadata.schema import ENGINE_DIALECTS, Schema
from tabletalk.core.policy.rewrite import Rule, apply_policies, rule_targets, visible_tables
from tabletalk.core.policy.variables import VariableSpec, check_row_filter, validate_variables
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import Datasource, Policy, Role, iso, utcnow

VARIABLE_TYPES = ("string", "number", "list")


def role_view(r: Role) -> dict:
    return {"id": r.id, "name": r.name, "variables": r.variables, "created_at": iso(r.created_at),
            "modified_at": iso(r.modified_at)}


def policy_view(p: Policy) -> dict:
    return {"id": p.id, "name": p.name, "role_id": p.role_id, "datasource_id": p.datasource_id, "rules": p.rules,
            "created_at": iso(p.created_at), "modified_at": iso(p.modified_at)}


def _guard(full: Schema) -> dict:
    """What the rewriter must know of a datasource's whole schema: its tables and views' real names,
    the views' definitions, its own schemas, and the readable columns of tables with hidden ones."""
    return dict(all_tables={t.name for t in full.tables},
                views={t.name: t.view_sql for t in full.tables if t.kind == "view" and t.view_sql},
                schemas={t.schema.lower() for t in full.tables if t.schema},
                columns={t.name: [c.name for c in t.columns] for t in full.tables if t.hidden})


_guard_of = IdentityMemo(_guard, max_items=64)  # once per cached schema object
_names_of = IdentityMemo(lambda full: frozenset(t.name.lower() for t in full.tables), max_items=64)


@dataclass
class Scope:
    """What one asker may see on one datasource: rules plus bound variable values."""

    rules: list[Rule] = field(default_factory=list)
    values: dict = field(default_factory=dict)
    role_name: str | None = None
    role_id: str | None = None
    # False only for an administrator asking without a role: everyone else is held to the rewriter
    # (hidden columns and tables, table names checked) even on a datasource without policies.
    restricted: bool = True
    _visible_in: dict = field(default_factory=dict, repr=False, compare=False)  # id(full) -> (full, visible)

    @property
    def filtered(self) -> bool:
        """A row filter shapes this asker's answers (so they are private in shared channels)."""
        return any(r.row_filter for r in self.rules)

    def visible(self, all_tables: set[str]) -> set[str] | None:
        return visible_tables(self.rules, all_tables) if self.rules else None

    def visible_in(self, full: Schema) -> set[str] | None:
        """`visible` over a datasource's whole schema, worked out once per scope and schema object
        (a question's pipeline and its schema both ask)."""
        hit = self._visible_in.get(id(full))
        if hit is None or hit[0] is not full:
            hit = self._visible_in[id(full)] = (full, self.visible(_names_of(full)))
        return hit[1]

    def shaped_tables(self, all_tables: set[str]) -> set[str]:
        """Lower-case names of the tables one of this scope's row filters applies to."""
        shaped: set[str] = set()
        for r in self.rules:
            if r.row_filter:
                shaped |= set(all_tables) if r.table.strip() == "*" else rule_targets(r.table, set(all_tables))
        return {t.lower() for t in shaped}

    def enforce(self, sql: str, full: Schema) -> str:
        """`apply` against the datasource's whole schema `full` (its tables, views, schemas, hidden columns)."""
        return self.apply(sql, full.dialect, **_guard_of(full))

    def apply(self, sql: str, dialect: str, *, all_tables: set[str], views: dict[str, str] | None = None,
              schemas: set[str] | None = None, columns: dict[str, list[str]] | None = None) -> str:
        """The SQL as this asker may run it. Anyone but an administrator without a role goes through the
        rewriter, even with no policy on the datasource: hidden columns and tables stay out of reach
        and table names are checked. `all_tables` and `views` by real names; `columns`: the readable
        columns of tables with hidden ones."""
        if not self.restricted:
            return apply_policies(sql, dialect, [], {}, all_tables=all_tables)
        return apply_policies(sql, dialect, self.rules or [Rule("*")], self.values, all_tables=all_tables, views=views,
                              schemas=schemas, columns=columns)


class PolicyService:
    def __init__(self, store: Store):
        self.store = store

    # --- roles ------------------------------------------------------------------------------
    async def create_role(self, name: str, variables: list[dict]) -> Role:
        role = Role(name=name, variables=_check_variables(variables))
        async with self.store.session() as s:
            await _name_is_free(s, name)
            s.add(role)
            await s.commit()
        return role

    async def get_role(self, role_id: str) -> Role:
        async with self.store.session() as s:
            role = await s.get(Role, role_id)
            if role is None:  # bots and YAML files may name roles instead of ids
                role = (await s.exec(select(Role).where(Role.name == role_id))).first()
        if role is None:
            raise NotFound(f"Role '{role_id}' does not exist.")
        return role

    async def list_roles(self) -> list[Role]:
        async with self.store.session() as s:
            return list((await s.exec(select(Role).order_by(Role.created_at))).all())

    async def update_role(self, role_id: str, name: str | None, variables: list[dict] | None) -> Role:
        async with self.store.session() as s:
            role = await s.get(Role, role_id)
            if role is None:
                raise NotFound(f"Role '{role_id}' does not exist.")
            if name is not None and name != role.name:
                await _name_is_free(s, name, but=role.id)
                role.name = name
            if variables is not None:
                role.variables = _check_variables(variables)
            role.modified_at = utcnow()
            s.add(role)
            await s.commit()
        return role

    async def delete_role(self, role_id: str) -> None:
        async with self.store.session() as s:
            role = await s.get(Role, role_id)
            if role is None:
                raise NotFound(f"Role '{role_id}' does not exist.")
            for p in (await s.exec(select(Policy).where(Policy.role_id == role_id))).all():
                await s.delete(p)
            await s.delete(role)
            await s.commit()

    # --- policies ---------------------------------------------------------------------------
    async def create_policy(self, name: str, role_id: str, datasource_id: str, rules: list[dict]) -> Policy:
        role = await self.get_role(role_id)
        async with self.store.session() as s:
            ds = await s.get(Datasource, datasource_id)
        if ds is None:
            raise NotFound(f"Datasource '{datasource_id}' does not exist.")
        policy = Policy(name=name, role_id=role.id, datasource_id=datasource_id,
                        rules=_check_rules(rules, role, ENGINE_DIALECTS.get(ds.engine, "sqlite")))
        async with self.store.session() as s:
            s.add(policy)
            await s.commit()
        return policy

    async def get_policy(self, policy_id: str) -> Policy:
        return await self.store.fetch(Policy, policy_id, "Policy")

    async def list_policies(self, role_id: str | None = None, datasource_id: str | None = None) -> list[Policy]:
        q = select(Policy)
        if role_id:
            q = q.where(Policy.role_id == role_id)
        if datasource_id:
            q = q.where(Policy.datasource_id == datasource_id)
        async with self.store.session() as s:
            return list((await s.exec(q.order_by(Policy.created_at))).all())

    async def update_policy(self, policy_id: str, changes: dict) -> Policy:
        async with self.store.session() as s:
            policy = await s.get(Policy, policy_id)
            if policy is None:
                raise NotFound(f"Policy '{policy_id}' does not exist.")
            if changes.get("name") is not None:
                policy.name = changes["name"]
            if changes.get("rules") is not None:
                ds = await s.get(Datasource, policy.datasource_id)
                dialect = ENGINE_DIALECTS.get(ds.engine, "sqlite") if ds is not None else "sqlite"
                policy.rules = _check_rules(changes["rules"], await self.get_role(policy.role_id), dialect)
            policy.modified_at = utcnow()
            s.add(policy)
            await s.commit()
        return policy

    async def delete_policy(self, policy_id: str) -> None:
        await self.store.remove(Policy, policy_id, "Policy")

    # --- enforcement ------------------------------------------------------------------------
    @staticmethod
    def visible_for(rules: list[dict], all_tables: set[str]) -> set[str]:
        """The tables a role's stored rules let it see (none without rules: deny by default)."""
        if not rules:
            return set()
        return visible_tables([Rule(table=r["table"], row_filter=r.get("row_filter")) for r in rules], all_tables) or set()

    async def scope_for(self, principal: Principal, datasource_id: str, role_id: str | None = None,
                        role_variables: dict | None = None) -> Scope:
        """Which role applies to one request, decided here for every door (REST, chats, bots, canvas).

        A role bound to the key or token wins over whatever the request names. Otherwise the named
        role applies; an empty name is refused, never read as "no filter". With no role at all an
        administrator is unscoped, and anyone else is refused on a datasource that has policies."""
        if principal.bound:
            role_id, role_variables = principal.role_id, principal.role_variables
        if role_id is not None:
            if not str(role_id).strip():
                raise Forbidden("An empty role grants no access; name a role, or ask an administrator to map you to one.")
            return await self.scope(role_id, role_variables, datasource_id)
        if principal.admin:
            return Scope(restricted=False)
        if await self.has_policies(datasource_id):
            raise Forbidden("This datasource has row-level policies, so every question needs a role: send role_id, "
                            "or use an API key or token bound to a role.")
        return Scope()

    async def has_policies(self, datasource_id: str) -> bool:
        async with self.store.session() as s:
            return (await s.exec(select(Policy.id).where(Policy.datasource_id == datasource_id).limit(1))).first() is not None

    async def scope(self, role_id: str, values: dict | None, datasource_id: str) -> Scope:
        """Bind a named role's variables for one datasource (unknown role: NotFound)."""
        if not role_id or not str(role_id).strip():
            raise Forbidden("An empty role grants no access; name a role, or ask an administrator to map you to one.")
        role = await self.get_role(role_id)
        specs = [VariableSpec(name=v["name"], type=v.get("type", "string"), required=v.get("required", True))
                 for v in role.variables]
        bound = validate_variables(specs, dict(values or {}))
        policies = await self.list_policies(role_id=role.id, datasource_id=datasource_id)
        rules = [Rule(table=r["table"], row_filter=r.get("row_filter") or None) for p in policies for r in p.rules]
        if not rules:
            # A role with no policy on this datasource sees nothing of it (deny by default).
            return Scope(rules=[Rule(table="\x00no-table")], values=bound, role_name=role.name, role_id=role.id)
        return Scope(rules=rules, values=bound, role_name=role.name, role_id=role.id)


async def _name_is_free(s, name: str, but: str | None = None) -> None:
    """Role names are unique per installation (bots and bot files refer to roles by name)."""
    wanted = name.strip().lower()
    for other in (await s.exec(select(Role).where(Role.id != (but or "")))).all():
        if other.name.strip().lower() == wanted:
            raise Conflict(f"A role named '{other.name}' already exists ({other.id}).")


def _check_variables(variables: list[dict]) -> list[dict]:
    out, seen = [], set()
    for v in variables:
        name = str(v.get("name", "")).strip()
        if not name.isidentifier():
            raise Invalid(f"Role variable name '{name}' must be a plain identifier (letters, digits, underscore).")
        if name in seen:
            raise Invalid(f"Role variable '{name}' is declared twice.")
        if v.get("type", "string") not in VARIABLE_TYPES:
            raise Invalid(f"Role variable '{name}' has type '{v.get('type')}'; use one of: {', '.join(VARIABLE_TYPES)}.")
        seen.add(name)
        out.append({"name": name, "type": v.get("type", "string"), "required": bool(v.get("required", True))})
    return out


def _check_rules(rules: list[dict], role: Role, dialect: str) -> list[dict]:
    import re

    declared = {v["name"] for v in role.variables}
    out = []
    for r in rules:
        table = str(r.get("table", "")).strip()
        if not table:
            raise Invalid("Every policy rule needs a 'table' (or '*').")
        row_filter = (r.get("row_filter") or "").strip() or None
        if row_filter:
            for var in re.findall(r"{{\s*(\w+)\s*}}", row_filter):
                if var not in declared:
                    raise Invalid(f"Rule on '{table}' uses variable '{var}', which role '{role.name}' does not declare.")
            check_row_filter(row_filter, dialect)  # a filter that cannot be parsed is refused now, not at query time
        out.append({"table": table, "row_filter": row_filter})
    return out
