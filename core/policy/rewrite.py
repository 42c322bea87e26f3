"""Row-level policies enforced by rewriting a query's syntax tree (pure: no I/O).

Every reference to a policed table, wherever it sits (FROM, JOIN, subqueries, CTE bodies, set
operations, IN/EXISTS/scalar subqueries, LATERAL), becomes `(SELECT * FROM t WHERE <filter>) AS t`,
keeping the reference's alias so `t.col` still resolves. Decisions:

* Visibility is deny by default: a role sees only the tables its rules name; `*` names them all.
* Names follow the engine's rules: SQLite and DuckDB match table names case-insensitively,
  PostgreSQL folds unquoted names to lower case and matches quoted ones exactly, MySQL/MariaDB
  match exactly (case-sensitive, as on Linux). A reference naming no table of the datasource under
  those rules is refused, so `"SALES"` never receives the filter of `sales`.
* Columns an administrator hid (`columns` lists what may be read of such a table) are projected
  away inside the derived table, so neither `SELECT *` nor naming them reaches their values.
* Several filters for one table are AND-ed, the most restrictive reading; a `*` rule's filter is
  AND-ed onto every base table. A filter's variables are bound (as literals) where its table is read.
* A table that is neither a table of the datasource, a view of it nor a CTE in scope is `Invalid`
  (unknown name); system catalogs, other schemas and table functions are `Forbidden`.
* Every CTE is renamed to a fresh name and its references re-pointed, so the rewritten SQL never
  depends on an engine's own idea of CTE scoping: `WITH sales AS (SELECT * FROM sales) ...` reads
  the filtered real table inside the body and the CTE outside it, on every engine.
* A view (given as `views`) is inlined as a derived table and its definition rewritten like any
  subquery, so the policies on its base tables hold. A view is visible when a rule names it or when
  every table it reads is visible.
"""
from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache

from sqlglot import exp

from tabletalk.core.errors import Forbidden, Invalid
from tabletalk.core.policy.readonly import (READ_ROOTS, check_read_only, checked_sql, parse_read_only, parse_statement,
                                            remember_checked)
from tabletalk.core.policy.variables import bind_filter

CATALOG_SCHEMAS = frozenset({"information_schema", "pg_catalog", "pg_toast", "mysql", "performance_schema", "sys"})
CATALOG_PREFIXES = ("sqlite_", "pg_")
DEFAULT_SCHEMAS = frozenset({"main", "public"})
_SOURCES = (exp.Table, exp.Subquery, exp.Values, exp.Unnest, exp.Lateral)
_NAME_ARGS = frozenset({"this", "db", "catalog", "alias", "indexed"})   # parts of a Table that are names, not queries
_MOVED_ARGS = ("joins", "laterals", "pivots")                           # belong to the outer derived table
_LEAVES = (exp.Identifier, exp.Literal, exp.Star, exp.DataType)
# A LIMIT/OFFSET that keeps nothing out stops engines from merging the filtered table into the outer
# query, where they may evaluate the asker's conditions on rows the filter rejects and reveal them in
# an error (PostgreSQL: `invalid input syntax for type integer: "<hidden value>"`) or a warning: the
# problem PostgreSQL's security_barrier views solve. SQLite's OFFSET comes out as LIMIT -1 OFFSET 0.
_FENCES = {"mysql": ("limit", exp.Limit, "18446744073709551615")}
_DEFAULT_FENCE = ("offset", exp.Offset, "0")
MAX_VIEW_DEPTH = 8


@dataclass
class Rule:
    table: str                 # table name, or "*" for every table
    row_filter: str | None = None


def table_key(name: str) -> str:
    """A table name as rules and queries are matched: unquoted, schema-stripped, lower-case."""
    return name.strip().strip('"`[]').split(".")[-1].strip().strip('"`[]').lower()


def _bare(name: str) -> str:
    """A rule's table name without quotes or schema, case kept."""
    return name.strip().strip('"`[]').split(".")[-1].strip().strip('"`[]')


def rule_targets(rule_table: str, names: set[str]) -> set[str]:
    """The tables (real names) a rule's table names: the exact name, else every case-insensitive match."""
    bare = _bare(rule_table)
    if bare in names:
        return {bare}
    return {n for n in names if n.lower() == bare.lower()}


def visible_tables(rules: list[Rule], all_tables: set[str]) -> set[str] | None:
    """Lower-case names a role may query; None when there are no rules (no policy, all visible)."""
    if not rules:
        return None
    tables = {t.lower() for t in all_tables}
    if any(r.table.strip() == "*" for r in rules):
        return tables
    return {table_key(r.table) for r in rules} & tables


# Rewrites are pure functions of their inputs: the same question asked again (a dashboard refresh,
# a burst of one question) reuses the rewritten text instead of parsing and rewriting it again.
_MEMO: OrderedDict[tuple, str] = OrderedDict()
_MEMO_MAX = 2048


def forget_rewrites() -> None:
    """Empty the memo of rewritten texts (benchmarks time the rewrite itself)."""
    _MEMO.clear()


def apply_policies(sql: str | exp.Expression, dialect: str, rules: list[Rule], values: dict, *,
                   all_tables: set[str], views: dict[str, str] | None = None,
                   schemas: set[str] | None = None, columns: dict[str, list[str]] | None = None) -> str:
    """Return `sql` (checked read-only) rewritten in `dialect` so that only the rows and tables the
    rules allow can be read. With no rules the SQL is returned as given. `all_tables` and `views`
    use the tables' real names (case kept); `schemas` names the datasource's own schemas, which may
    qualify a table (`main` and `public` always may); `columns` gives, for a table some of whose
    columns are hidden, the columns that may be read."""
    kw = dict(all_tables=all_tables, views=views, schemas=schemas, columns=columns)
    if not isinstance(sql, str):
        return _apply_policies(sql, dialect, rules, values, **kw)
    try:
        key = (sql, dialect, tuple((r.table, r.row_filter) for r in rules),
               json.dumps(values, sort_keys=True) if values else "",
               frozenset(all_tables), tuple(sorted((views or {}).items())), frozenset(schemas or ()),
               tuple(sorted((t, tuple(c)) for t, c in (columns or {}).items())))
    except TypeError:  # values that JSON cannot hold: no memo
        return _apply_policies(sql, dialect, rules, values, **kw)
    hit = _MEMO.get(key)
    if hit is not None:
        _MEMO.move_to_end(key)
        if rules:
            remember_checked(dialect, hit)
        return hit
    out = _apply_policies(sql, dialect, rules, values, **kw)
    _MEMO[key] = out
    if len(_MEMO) > _MEMO_MAX:
        _MEMO.popitem(last=False)
    return out


def _apply_policies(sql: str | exp.Expression, dialect: str, rules: list[Rule], values: dict, *,
                    all_tables: set[str], views: dict[str, str] | None = None,
                    schemas: set[str] | None = None, columns: dict[str, list[str]] | None = None) -> str:
    tree = parse_statement(sql, dialect) if isinstance(sql, str) else (sql.copy() if rules else sql)
    if rules and isinstance(tree, READ_ROOTS):
        _refuse_table_functions(tree, dialect)  # Forbidden under a policy, even those the guard would refuse
    check_read_only(tree, dialect)
    if not rules:
        if isinstance(sql, str):  # the tree parsed here: generating may use it up
            checked_sql(tree, dialect, consume=True)  # remembered: when `sql` is already that text, it runs unparsed
            return sql
        return checked_sql(tree, dialect)  # the caller's own tree
    policy = _Policy.build(dialect, rules, values, all_tables, views or {}, schemas or set(), columns or {})
    _Rewriter(policy).rewrite(tree)
    return checked_sql(check_read_only(tree, dialect), dialect, consume=True)  # a tree of its own (parsed or copied)


@dataclass
class _Policy:
    """One role's rules, normalised once per query; tables and views by their real names."""

    dialect: str
    tables: set[str]
    views: dict[str, str]
    visible: set[str]
    schemas: set[str]
    values: dict
    filters: dict[str, list[str]]                # row filters by table, bound afresh for each reference
    everywhere: list[str]                        # filters of `*` rules: AND-ed onto every base table
    columns: dict[str, list[str]]                # readable columns of tables with hidden ones
    folded: dict[str, str] = field(default_factory=dict)   # lower-case name -> real name
    fresh_names: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, dialect, rules, values, all_tables, views, schemas, columns) -> _Policy:
        tables, views = set(all_tables), {_bare(k): v for k, v in views.items()}
        names = tables | set(views)
        filters: dict[str, list[str]] = {}
        everywhere: list[str] = []
        visible: set[str] = set()
        for rule in rules:
            star = rule.table.strip() == "*"
            targets = names if star else rule_targets(rule.table, names)
            visible |= targets
            if rule.row_filter and rule.row_filter.strip():
                if star:
                    everywhere.append(rule.row_filter)
                for target in () if star else targets:
                    filters.setdefault(target, []).append(rule.row_filter)
        folded = {n.lower(): n for n in sorted(names, reverse=True)}
        return cls(dialect, tables, views, visible, {s.lower() for s in schemas} | DEFAULT_SCHEMAS, values, filters,
                   everywhere, {_bare(k): list(v) for k, v in columns.items()}, folded,
                   fresh_names={n.lower() for n in names})

    def resolve(self, identifier: exp.Identifier) -> str | None:
        """The real table or view an identifier names under the engine's case rules, or None."""
        name = identifier.this
        if self.dialect == "mysql":
            real = name
        elif self.dialect == "postgres":
            real = name if identifier.quoted else name.lower()
        else:
            real = self.folded.get(name.lower(), name)
        return real if real in self.tables or real in self.views else None

    def conditions(self, row_filters: list[str]) -> list[exp.Expression]:
        """Fresh trees of the given filters with the role's values bound (one per reference)."""
        return [bind_filter(f, self.values, self.dialect) for f in row_filters]

    def fresh(self, name: str) -> str:
        """A CTE name no table, view or other CTE of the rewritten query uses."""
        base = re.sub(r"\W", "_", name)[:40] or "cte"
        candidate, n = f"_tt_{base}", 1
        while candidate.lower() in self.fresh_names:
            n += 1
            candidate = f"_tt{n}_{base}"
        self.fresh_names.add(candidate.lower())
        return candidate


class _Rewriter:
    """One pass over a tree, carrying the CTE names in scope (lower-case name -> fresh name; None
    marks a non-recursive CTE's own name inside its body, which is the real table there)."""

    def __init__(self, policy: _Policy, depth: int = 0):
        self.p = policy
        self.depth = depth

    def rewrite(self, tree: exp.Expression) -> None:
        stack: list[tuple[exp.Expression, dict]] = [(tree, {})]
        while stack:
            node, scope = stack.pop()
            if isinstance(node, exp.Table):
                stack.extend((c, scope) for k, v in node.args.items() if k not in _NAME_ARGS for c in _children(v))
                self._table(node, scope)
                continue
            if isinstance(node, _LEAVES):
                continue
            if isinstance(node, exp.Column):
                if node.args.get("db"):
                    # `main.sales.id` cannot name a derived table: the table's alias alone still does.
                    node.set("db", None)
                    node.set("catalog", None)
                continue
            if isinstance(node, (exp.From, exp.Join)) and not isinstance(node.this, _SOURCES):
                raise Forbidden(f"'{node.this.sql(self.p.dialect)[:60]}' cannot be used as a table under a row policy; "
                                "query the datasource's tables directly.")
            if isinstance(node, exp.Lateral) and not isinstance(node.this, exp.Subquery):
                raise Forbidden(_table_function_message(node.this, self.p.dialect))
            with_ = node.args.get("with_")
            if isinstance(with_, exp.With):
                scope = self._with(with_, scope, stack)
            stack.extend((c, scope) for c in node.iter_expressions() if c is not with_)

    def _with(self, with_: exp.With, scope: dict, stack: list) -> dict:
        """Rename the clause's CTEs, queue their bodies with the names each may see, and return
        the scope of the query the clause belongs to."""
        ctes = with_.expressions
        names = [cte.alias_or_name.lower() for cte in ctes]
        if len(set(names)) < len(names):
            raise Invalid("A WITH clause defines the same name twice; give each query its own name.")
        fresh = {name: self.p.fresh(name) for name in names}
        recursive = bool(with_.args.get("recursive"))
        for cte, name in zip(ctes, names):
            own = fresh[name] if recursive else scope.get(name)
            stack.append((cte.this, {**scope, **fresh, name: own}))
            cte.args["alias"].set("this", exp.to_identifier(fresh[name]))
        return {**scope, **fresh}

    def _table(self, table: exp.Table, scope: dict) -> None:
        p = self.p
        if isinstance(table.this, exp.Dot):  # four or more name parts: another server or catalog
            raise Forbidden(f"Only tables of this datasource can be queried; '{table.sql(p.dialect)}' is outside it.")
        if not isinstance(table.this, exp.Identifier):
            raise Forbidden(_table_function_message(table.this or table, p.dialect))
        name, db, catalog = table.name.lower(), table.text("db").lower(), table.text("catalog").lower()
        if not db and not catalog and name in scope:
            if scope[name] is not None:
                _point_at_cte(table, scope[name])
                return
            if p.resolve(table.this) is None:
                raise Invalid(f"The WITH query '{table.name}' refers to itself; write WITH RECURSIVE to define a recursive query.")
        if db in CATALOG_SCHEMAS or catalog in CATALOG_SCHEMAS or name.startswith(CATALOG_PREFIXES):
            raise Forbidden(f"System catalogs such as '{_qualified(table)}' cannot be queried under a row policy.")
        if catalog or (db and db not in p.schemas):
            raise Forbidden(f"Only tables of this datasource can be queried; '{_qualified(table)}' is outside it.")
        if not db and name == "dual" and p.dialect in ("mysql", "oracle"):
            return
        real = p.resolve(table.this)
        if real is None:
            raise Invalid(f"The table '{table.name}' does not exist in this datasource; check its name.")
        if real in p.views:
            self._view(table, real)
        elif real not in p.visible:
            raise Forbidden(f"You are not permitted to query the table '{table.name}'.")
        elif p.filters.get(real) or p.everywhere or real in p.columns:
            base = _detached(table)
            conditions = p.conditions(p.filters.get(real, []) + p.everywhere)
            _replace_with_derived(table, _derived(base, base.this, conditions, p.columns.get(real), p.dialect))

    def _view(self, table: exp.Table, name: str) -> None:
        if self.depth >= MAX_VIEW_DEPTH:
            raise Invalid(f"The view '{table.name}' nests other views too deeply (or refers to itself) to be checked.")
        body = _parsed_view(self.p.views[name], self.p.dialect).copy()
        try:
            _Rewriter(self.p, self.depth + 1).rewrite(body)  # a view sees none of the query's CTEs
        except Forbidden:
            raise Forbidden(f"You are not permitted to query the view '{table.name}': it reads a table your role "
                            "may not see.") from None
        if not self.p.filters.get(name) and name not in self.p.columns:
            _replace_with_derived(table, body)
            return
        inner = exp.Subquery(this=body, alias=exp.TableAlias(this=table.this.copy()))
        conditions = self.p.conditions(self.p.filters.get(name, []))
        _replace_with_derived(table, _derived(inner, table.this, conditions, self.p.columns.get(name), self.p.dialect))


def _refuse_table_functions(tree: exp.Expression, dialect: str) -> None:
    for clause in tree.find_all(exp.From, exp.Join, exp.Lateral):
        source = clause.this
        if isinstance(clause, exp.Lateral) and not isinstance(source, exp.Subquery):
            raise Forbidden(_table_function_message(source, dialect))
        if isinstance(source, exp.Table) and not isinstance(source.this, (exp.Identifier, exp.Dot)):
            raise Forbidden(_table_function_message(source.this or source, dialect))


def _children(value) -> list:
    if isinstance(value, exp.Expression):
        return [value]
    return [v for v in value if isinstance(v, exp.Expression)] if isinstance(value, list) else []


@lru_cache(maxsize=256)
def _parsed_view(sql: str, dialect: str) -> exp.Expression:
    return parse_read_only(sql, dialect)


def _qualified(table: exp.Table) -> str:
    return ".".join(part for part in (table.text("catalog"), table.text("db"), table.name) if part)


def _table_function_message(node: exp.Expression, dialect: str) -> str:
    name = node.sql(dialect).split("(")[0].strip()[:40] or "this"
    return f"Table functions such as {name}(...) cannot be used under a row policy; query the datasource's tables directly."


def _point_at_cte(table: exp.Table, fresh: str) -> None:
    if not table.args.get("alias"):
        table.set("alias", exp.TableAlias(this=table.this.copy()))
    table.set("this", exp.to_identifier(fresh))


def _detached(table: exp.Table) -> exp.Table:
    """The bare table of a reference: its name and table-level options, without alias or joins.
    The options move rather than being copied, so a subquery inside one is still rewritten."""
    args = {k: v for k, v in table.args.items() if v is not None and k != "alias" and k not in _MOVED_ARGS}
    args["this"] = table.this.copy()  # the derived table's alias is made from the original
    return exp.Table(**args)


def _derived(source: exp.Expression, qualifier: exp.Identifier, conditions: list[exp.Expression],
             columns: list[str] | None, dialect: str) -> exp.Select:
    """`SELECT <columns or *> FROM source [WHERE c1 AND c2 ... <fence>]`, each filter column qualified
    by `qualifier` so that a column the table lacks is an error rather than a silent reference to an
    outer query. Listing the readable columns leaves the hidden ones out of reach."""
    picked = [exp.column(exp.to_identifier(c, quoted=True)) for c in columns] if columns is not None else [exp.Star()]
    query = exp.Select(expressions=picked or [exp.Null()], from_=exp.From(this=source))
    if not conditions:
        return query
    parts = [_qualify(c, qualifier) for c in conditions]
    condition = parts[0] if len(parts) == 1 else exp.and_(*parts, copy=False)
    arg, node, value = _FENCES.get(dialect, _DEFAULT_FENCE)
    query.set("where", exp.Where(this=condition))
    query.set(arg, node(expression=exp.Literal.number(value)))
    return query


def _qualify(condition: exp.Expression, qualifier: exp.Identifier) -> exp.Expression:
    for column in list(condition.find_all(exp.Column)):
        if not column.table and not isinstance(column.this, exp.Star) and column.find_ancestor(exp.Select) is None:
            column.set("table", qualifier.copy())
    return exp.paren(condition, copy=False) if isinstance(condition, (exp.Or, exp.Connector)) else condition


def _replace_with_derived(table: exp.Table, query: exp.Expression) -> None:
    """Put `(query) AS <the reference's alias or name>` where `table` was; joins nested under the
    reference (a parenthesised join) move along."""
    alias = table.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.this is not None:
        alias = alias.copy()
    else:
        alias = exp.TableAlias(this=table.this.copy(), columns=[c.copy() for c in alias.columns] if alias else [])
    derived = exp.Subquery(this=query, alias=alias)
    for arg in _MOVED_ARGS:
        if table.args.get(arg):
            derived.set(arg, table.args[arg])
    table.replace(derived)
