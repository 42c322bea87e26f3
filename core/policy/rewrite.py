"""Row-level policies enforced by rewriting a query's syntax tree (pure: no I/O).

Every reference to a policed table — wherever it sits: FROM, JOIN, subqueries, CTE bodies, set
operations, IN/EXISTS/scalar subqueries — becomes `(SELECT * FROM t WHERE <filter>) AS <alias>`,
the pattern Superset's RLS transformer uses. A role sees only the tables its rules name (deny by
default; `*` grants all), so any other table, a system catalog or a table function is refused.
Several rules filtering the same table are AND-ed: the most restrictive reading wins.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from tabletalk.core.errors import Forbidden, Invalid
from tabletalk.core.policy.readonly import parse_read_only
from tabletalk.core.policy.variables import bind_filter

CATALOG_SCHEMAS = {"information_schema", "pg_catalog", "mysql", "performance_schema", "sys", "sqlite_temp_master"}
CATALOG_PREFIXES = ("sqlite_", "pg_")
DEFAULT_SCHEMAS = {"main", "public", ""}


@dataclass
class Rule:
    table: str                 # table name, or "*" for every table
    row_filter: str | None = None


def _norm(name: str) -> str:
    return name.strip().strip('"`[]').split(".")[-1].strip('"`[]').lower()


def visible_tables(rules: list[Rule], all_tables: set[str]) -> set[str] | None:
    """Lower-case names a role may query; None when there are no rules (no restriction)."""
    if not rules:
        return None
    if any(r.table.strip() == "*" for r in rules):
        return set(all_tables)
    return {_norm(r.table) for r in rules} & set(all_tables)


def _cte_names_in_scope(table: exp.Table) -> tuple[set[str], set[str]]:
    """CTE names a table reference can resolve to: earlier CTEs of the same WITH (all of them
    when RECURSIVE), and every CTE of enclosing WITHs when the reference is in their main body.
    Also returns the subset defined by RECURSIVE clauses."""
    names: set[str] = set()
    recursive: set[str] = set()
    path = [table]
    node = table
    while node.parent is not None:
        node = node.parent
        path.append(node)
        with_ = node.args.get("with_") if isinstance(node, exp.Expression) else None
        if not isinstance(with_, exp.With):
            continue
        ctes = with_.expressions
        aliases = [c.alias_or_name.lower() for c in ctes]
        inside = next((i for i, c in enumerate(ctes) if any(p is c for p in path)), None)
        if with_.args.get("recursive"):
            names.update(aliases)
            recursive.update(aliases)
        elif inside is None:
            names.update(aliases)
        else:
            names.update(aliases[:inside])
    return names, recursive


def _is_function_table(table: exp.Table) -> bool:
    return not isinstance(table.this, exp.Identifier)


def apply_policies(sql: str | exp.Expression, dialect: str, rules: list[Rule], values: dict, *,
                   all_tables: set[str], views: dict[str, str] | None = None,
                   schemas: set[str] | None = None) -> str:
    """Return `sql` rewritten so that only rows and tables the rules allow can be read."""
    tree = parse_read_only(sql, dialect) if isinstance(sql, str) else sql.copy()
    if not rules:
        return tree.sql(dialect=dialect, comments=False)
    all_tables = {t.lower() for t in all_tables}
    visible = visible_tables(rules, all_tables) or set()
    allowed_schemas = {s.lower() for s in (schemas or set())} | DEFAULT_SCHEMAS
    filters: dict[str, list[exp.Expression]] = {}
    for rule in rules:
        if rule.row_filter and rule.table.strip() != "*":
            filters.setdefault(_norm(rule.table), []).append(bind_filter(rule.row_filter, values, dialect))
    for cte in tree.find_all(exp.CTE):
        if cte.alias_or_name.lower() in all_tables:
            # Engines disagree on what the name means inside the CTE (SQLite: circular reference,
            # PostgreSQL: the real table), so a CTE may never stand in for a real table.
            raise Invalid(f"A WITH clause may not reuse the name of the table '{cte.alias_or_name}'.")
    _rewrite(tree, dialect, visible, all_tables, filters, {k.lower(): v for k, v in (views or {}).items()},
             allowed_schemas, depth=0)
    return tree.sql(dialect=dialect, comments=False)


def _rewrite(tree: exp.Expression, dialect: str, visible: set[str], all_tables: set[str],
             filters: dict[str, list[exp.Expression]], views: dict[str, str], schemas: set[str], depth: int) -> None:
    if depth > 8:
        raise Invalid("Views nest too deeply to be checked.")
    for table in list(tree.find_all(exp.Table)):
        if _is_function_table(table):
            raise Forbidden("Table functions cannot be used in queries under a row policy.")
        name = table.name.lower()
        db, catalog = table.db.lower(), table.catalog.lower()
        if db in CATALOG_SCHEMAS or catalog or name.startswith(CATALOG_PREFIXES) or name in CATALOG_SCHEMAS:
            raise Forbidden("System catalogs cannot be queried under a row policy.")
        if db and db not in schemas:
            raise Forbidden(f"Only tables of this datasource can be queried; '{table.db}.{table.name}' is outside it.")
        in_scope, recursive = _cte_names_in_scope(table) if not db else (set(), set())
        if name in in_scope:
            continue  # a CTE reference; the tables inside the CTE's body are rewritten on their own
        if name in views and name in all_tables:
            if name not in visible:
                raise Forbidden(f"You are not permitted to query the view '{table.name}'.")
            _inline_view(table, views[name], dialect, visible, all_tables, filters, views, schemas, depth)
            continue
        if name not in all_tables:
            raise Invalid(f"Unknown table '{table.name}'.")
        if name not in visible:
            raise Forbidden(f"You are not permitted to query the table '{table.name}'.")
        if name in filters:
            _wrap(table, filters[name])


def _alias_for(table: exp.Table) -> exp.TableAlias:
    alias = table.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.this is not None:
        return alias.copy()
    ident = table.this.copy() if isinstance(table.this, exp.Identifier) else exp.to_identifier(table.name)
    return exp.TableAlias(this=ident, columns=[c.copy() for c in alias.columns] if alias else [])


def _wrap(table: exp.Table, conditions: list[exp.Expression]) -> None:
    base = exp.Table(this=table.this.copy(), db=table.args.get("db") and table.args["db"].copy())
    condition = conditions[0].copy()
    for extra in conditions[1:]:
        condition = exp.and_(condition, extra.copy())
    inner = exp.select("*").from_(base).where(exp.paren(condition, copy=False), copy=False)
    sub = exp.Subquery(this=inner, alias=_alias_for(table))
    for arg in ("pivots", "joins", "laterals"):
        if table.args.get(arg):
            sub.set(arg, table.args[arg])
    table.replace(sub)


def _inline_view(table: exp.Table, view_sql: str, dialect: str, visible, all_tables, filters, views, schemas, depth) -> None:
    body = parse_read_only(view_sql, dialect)
    _rewrite(body, dialect, visible, all_tables, filters, views, schemas, depth + 1)
    table.replace(exp.Subquery(this=body, alias=_alias_for(table)))
