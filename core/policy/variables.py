"""Role variables: declared types, validation, and binding into row filters through the syntax tree.

A placeholder `{{name}}` in a row filter is swapped for a sentinel before parsing, and the sentinel
is then replaced by a literal node: a value is never spliced into SQL text, so `x' OR '1'='1` stays
one string literal in every dialect.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from tabletalk.core.errors import Invalid

PLACEHOLDER = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}")
_SENTINEL = "__ttvar{}__"
_SENTINEL_RE = re.compile(r"__ttvar(\d+)__")


@dataclass
class VariableSpec:
    name: str
    type: str = "string"  # 'string' | 'number' | 'list'
    required: bool = True


def _as_string(name: str, value):
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise Invalid(f"Role variable '{name}' must be a string; got {type(value).__name__}.")
    return str(value)


def _as_number(name: str, value):
    number = value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
        except ValueError:
            raise Invalid(f"Role variable '{name}' must be a number; got '{value}'.") from None
    if isinstance(number, bool) or not isinstance(number, (int, float, Decimal)) or not _finite(number):
        raise Invalid(f"Role variable '{name}' must be a finite number; got {value!r}.")
    return number


def _as_list(name: str, value):
    ok = isinstance(value, (list, tuple)) and value and all(
        isinstance(v, (str, int, float, Decimal)) and not isinstance(v, bool) and _finite(v) for v in value)
    if not ok:
        raise Invalid(f"Role variable '{name}' must be a non-empty list of strings or numbers, e.g. [\"north\", \"south\"].")
    return list(value)


_CHECKS = {"string": _as_string, "number": _as_number, "list": _as_list}


def _finite(v) -> bool:
    return not isinstance(v, (float, Decimal)) or math.isfinite(v)


def validate_variables(specs: list[VariableSpec], values: dict) -> dict:
    """Check the given values against the role's declarations; return the typed values of the
    declared variables (undeclared extras are dropped, absent optional ones left out)."""
    out = {}
    for spec in specs:
        check = _CHECKS.get(spec.type)
        if check is None:
            raise Invalid(f"Role variable '{spec.name}' has unknown type '{spec.type}'; use one of: {', '.join(_CHECKS)}.")
        if values.get(spec.name) in (None, ""):
            if spec.required:
                raise Invalid(f"Role variable '{spec.name}' is required but was not given.")
            continue
        out[spec.name] = check(spec.name, values[spec.name])
    return out


@lru_cache(maxsize=1024)
def _parse_template(row_filter: str, dialect: str) -> tuple[exp.Expression, tuple[str, ...]]:
    """The filter's tree with sentinels where the placeholders were, and the placeholder names by index."""
    names: list[str] = []

    def sentinel(match: re.Match) -> str:
        names.append(match.group(1))
        return _SENTINEL.format(len(names) - 1)

    try:
        tree = sqlglot.condition(PLACEHOLDER.sub(sentinel, row_filter), dialect=dialect)
    except SqlglotError as exc:
        raise Invalid(f"The row filter '{row_filter}' is not valid SQL: {str(exc).splitlines()[0]}") from None
    in_values = sum(len(_SENTINEL_RE.findall(n.this)) for n in tree.find_all(exp.Literal) if n.is_string)
    bare = sum(1 for n in tree.find_all(exp.Column) if _is_bare_placeholder(n))
    if in_values + bare != len(names):
        # e.g. a placeholder used as a table, column or function name: a value may only ever be a literal.
        raise Invalid(f"The row filter '{row_filter}' uses a placeholder where only a value may stand.")
    return tree, tuple(names)


def check_row_filter(row_filter: str, dialect: str) -> None:
    """Invalid unless the filter parses in `dialect` as one read-only condition whose placeholders
    stand where values do (called when a policy is stored, so a bad filter never reaches a query)."""
    from tabletalk.core.policy.readonly import check_read_only

    tree, _ = _parse_template(row_filter, dialect)
    if not isinstance(tree, exp.Condition) or isinstance(tree, (exp.Select, exp.Subquery, exp.Query)):
        raise Invalid(f"The row filter '{row_filter}' must be a condition such as region = '{{{{region}}}}'.")
    try:
        check_read_only(exp.select("1").where(tree.copy()), dialect)
    except Invalid as exc:
        raise Invalid(f"The row filter '{row_filter}' is refused: {exc.detail}") from None


def _is_bare_placeholder(node) -> bool:
    return isinstance(node, exp.Column) and not node.table and _SENTINEL_RE.fullmatch(node.name) is not None


def bind_filter(row_filter: str, values: dict, dialect: str) -> exp.Expression:
    """The row filter as an expression tree with every `{{name}}` bound to a literal (a list binds
    as `IN (...)`); raises Invalid naming a placeholder whose variable was not given."""
    template, names = _parse_template(row_filter, dialect)
    for name in names:
        if name not in values:
            raise Invalid(f"Role variable '{name}' is required by the row filter '{row_filter}' but was not given.")
    holder = exp.Paren(this=template.copy())  # gives the root a parent, so it can be replaced too
    for node in list(holder.this.walk()):
        if isinstance(node, exp.Literal) and node.is_string and "__ttvar" in node.this:
            whole = _SENTINEL_RE.fullmatch(node.this)
            if whole:
                _bind(node, values[names[int(whole.group(1))]])
            else:  # a placeholder inside longer text, e.g. '%{{name}}%': still one literal
                node.replace(exp.Literal.string(_SENTINEL_RE.sub(lambda m: _text(names[int(m.group(1))], values), node.this)))
        elif _is_bare_placeholder(node):
            _bind(node, values[names[int(_SENTINEL_RE.fullmatch(node.name).group(1))]])
    return holder.this


def _text(name: str, values: dict) -> str:
    value = values[name]
    if isinstance(value, (list, tuple, set, dict)):
        raise Invalid(f"Role variable '{name}' is a list and cannot be part of a longer text in a row filter.")
    return str(value)


def _literal(value) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float, Decimal)):
        if not _finite(value):
            raise Invalid(f"A role variable's value {value!r} is not a finite number.")
        return exp.Literal.number(value)
    if isinstance(value, (dict, list, tuple, set)):
        raise Invalid("A role variable holding nested values cannot be used in a row filter.")
    return exp.Literal.string(str(value))


def _bind(node: exp.Expression, value) -> None:
    if not isinstance(value, (list, tuple, set)):
        node.replace(_literal(value))
        return
    # An empty list matches nothing: IN (NULL) is never true, and neither is NOT IN (NULL).
    items = [_literal(v) for v in value] or [exp.Null()]
    parent = node.parent
    if isinstance(parent, (exp.EQ, exp.NEQ)):
        other = parent.left if parent.right is node else parent.right
        member = exp.In(this=other, expressions=items)
        parent.replace(member if isinstance(parent, exp.EQ) else exp.Not(this=member))
    elif isinstance(parent, exp.In) and any(e is node for e in parent.expressions):
        spliced = [new for e in parent.expressions for new in (items if e is node else [e])]
        parent.set("expressions", spliced)
    else:
        node.replace(exp.Tuple(expressions=items))
