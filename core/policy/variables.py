"""Role variables: declared types, validation, and binding into row filters through the AST.

A placeholder `{{name}}` in a row filter is swapped for a sentinel before parsing, and the
sentinel is then replaced by a literal node: a value is never spliced into SQL text, so
`x' OR '1'='1` stays one string literal.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from tabletalk.core.errors import Invalid

PLACEHOLDER = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}")
_SENTINEL = "__ttvar_{}__"
_SENTINEL_RE = re.compile(r"__ttvar_([A-Za-z_][A-Za-z0-9_]*?)__")


@dataclass
class VariableSpec:
    name: str
    type: str = "string"  # string | number | list
    required: bool = True


def _check(spec: VariableSpec, value):
    if spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise Invalid(f"Role variable '{spec.name}' must be a number.")
        try:
            return value if isinstance(value, (int, float)) else (int(value) if re.fullmatch(r"-?\d+", value.strip()) else float(value))
        except ValueError:
            raise Invalid(f"Role variable '{spec.name}' must be a number, got '{value}'.") from None
    if spec.type == "list":
        items = value if isinstance(value, list) else None
        if items is None or not items or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in items):
            raise Invalid(f"Role variable '{spec.name}' must be a non-empty list of strings or numbers.")
        return items
    if isinstance(value, (dict, list)) or isinstance(value, bool) or value is None:
        raise Invalid(f"Role variable '{spec.name}' must be a string.")
    return str(value)


def validate_variables(specs: list[VariableSpec], values: dict) -> dict:
    """Check the given values against the role's declarations; returns the typed values."""
    out = {}
    for spec in specs:
        if spec.name not in values or values[spec.name] in (None, ""):
            if spec.required:
                raise Invalid(f"Role variable '{spec.name}' is required but was not given.")
            continue
        out[spec.name] = _check(spec, values[spec.name])
    return out


@lru_cache(maxsize=1024)
def _parse_template(row_filter: str, dialect: str) -> exp.Expression:
    text = PLACEHOLDER.sub(lambda m: _SENTINEL.format(m.group(1)), row_filter)
    try:
        return sqlglot.condition(text, dialect=dialect)
    except ParseError as exc:
        raise Invalid(f"The row filter '{row_filter}' is not valid SQL: {str(exc).splitlines()[0]}") from None


def _literal(value) -> exp.Expression:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def _value(name: str, values: dict, row_filter: str):
    if name not in values:
        raise Invalid(f"Role variable '{name}' is required by the row filter '{row_filter}' but was not given.")
    return values[name]


def bind_filter(row_filter: str, values: dict, dialect: str) -> exp.Expression:
    """The row filter as an expression tree with every placeholder bound to a literal."""
    holder = exp.Paren(this=_parse_template(row_filter, dialect).copy())  # gives the root a parent to be replaced in
    for node in list(holder.this.walk()):
        if isinstance(node, exp.Literal) and node.is_string and "__ttvar_" in node.this:
            whole = _SENTINEL_RE.fullmatch(node.this)
            if whole:
                _replace(node, _value(whole.group(1), values, row_filter))
            else:  # a placeholder inside a longer string, e.g. '%{{name}}%': still one literal
                text = _SENTINEL_RE.sub(lambda m: str(_value(m.group(1), values, row_filter)), node.this)
                node.replace(exp.Literal.string(text))
        elif isinstance(node, exp.Column) and not node.table and _SENTINEL_RE.fullmatch(node.name):
            _replace(node, _value(_SENTINEL_RE.fullmatch(node.name).group(1), values, row_filter))
    return holder.this


def _replace(node: exp.Expression, value) -> None:
    if not isinstance(value, list):
        node.replace(_literal(value))
        return
    items = [_literal(v) for v in value]
    parent = node.parent
    if isinstance(parent, exp.EQ):
        other = parent.left if parent.right is node else parent.right
        parent.replace(exp.In(this=other.copy(), expressions=items))
    elif isinstance(parent, exp.NEQ):
        other = parent.left if parent.right is node else parent.right
        parent.replace(exp.Not(this=exp.In(this=other.copy(), expressions=items)))
    elif isinstance(parent, exp.In) and node in parent.expressions:
        idx = parent.expressions.index(node)
        parent.set("expressions", parent.expressions[:idx] + items + parent.expressions[idx + 1:])
    else:
        node.replace(exp.Tuple(expressions=items))
