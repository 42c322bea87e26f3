"""Workflow definitions in both formats, as one shape: `{type, name, description, payload}`.

The spec writes `"type": "create_table"` with fields under `payload`; the Tablepilot project writes
`"type": "CreateTable"`; older TableTalk steps put fields beside `type`. Values may hold Go-template
parts (`{{.var}}`, `{{.step1.table}}`), filled by plain substitution — no code runs.
"""
from __future__ import annotations

import base64
import re
from datetime import datetime, timezone

from tabletalk.core.errors import Invalid

STEP_TYPES = {  # every spelling -> the one canonical name
    "create_table": "create_table", "createtable": "create_table", "import": "import", "import_file": "import",
    "generate": "generate", "autofill": "autofill", "export": "export", "exporttable": "export",
    "export_table": "export", "createcolumn": "create_column", "create_column": "create_column",
    "deletecolumn": "delete_column", "delete_column": "delete_column", "deletetable": "delete_table",
    "delete_table": "delete_table",
}
META = ("type", "name", "description", "payload")
_VAR = re.compile(r"{{-?\s*\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*-?}}")
MAX_STEPS = 200


def step_type(raw) -> str | None:
    return STEP_TYPES.get(str(raw or "").replace(" ", "").lower())


def normalize_step(raw: dict, position: int) -> dict:
    if not isinstance(raw, dict):
        raise Invalid(f"Step {position} is not an object.")
    kind = step_type(raw.get("type"))
    if kind is None:
        raise Invalid(f"Step {position} has an unknown type '{raw.get('type')}'; use one of: "
                      "create_table, import, generate, autofill, export, create_column, delete_column, delete_table.")
    payload = raw.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise Invalid(f"Step {position} ({kind}): 'payload' must be an object.")
    flat = {k: v for k, v in raw.items() if k not in META}
    if kind == "create_table" and "table" in flat and isinstance(flat["table"], dict):
        flat["request"] = flat.pop("table")  # the older flat form: {"type": "create_table", "table": {...}}
    payload = {**flat, **(payload or {})}
    if kind == "create_table" and isinstance(payload.get("table"), dict):
        payload["request"] = payload.pop("table")
    step = {"type": kind, "name": str(raw.get("name") or ""), "description": str(raw.get("description") or ""),
            "payload": payload}
    _check(step, position)
    return step


def _check(step: dict, position: int) -> None:
    kind, p = step["type"], step["payload"]
    label = f"Step {position} ({step['name'] or kind})"
    if kind == "create_table":
        if not isinstance(p.get("request"), dict) and not p.get("schema_file"):
            raise Invalid(f"{label} needs 'payload.request' (a table schema) or 'payload.schema_file'.")
        if str(p.get("on_exists") or "error").lower() not in ("skip", "recreate", "error", "stop"):
            raise Invalid(f"{label}: on_exists must be skip, recreate or error.")
    elif not p.get("table"):
        raise Invalid(f"{label} needs 'payload.table'.")
    if kind == "import" and not p.get("file"):
        raise Invalid(f"{label} needs 'payload.file'.")
    if kind == "autofill" and not p.get("columns"):
        raise Invalid(f"{label} needs 'payload.columns'.")
    if kind == "delete_column" and not p.get("column"):
        raise Invalid(f"{label} needs 'payload.column'.")
    if kind == "create_column" and not (p.get("name") or isinstance(p.get("column"), dict)):
        raise Invalid(f"{label} needs 'payload.name' or 'payload.column'.")


def normalize(definition: dict) -> dict:
    steps = definition.get("steps")
    if not isinstance(steps, list) or not steps:
        raise Invalid("A workflow needs a non-empty 'steps' list.")
    if len(steps) > MAX_STEPS:
        raise Invalid(f"A workflow has at most {MAX_STEPS} steps.")
    variables = definition.get("variables") or []
    if not isinstance(variables, list) or not all(isinstance(v, dict) and v.get("name") for v in variables):
        raise Invalid("Workflow 'variables' must be a list of objects with a 'name'.")
    return {"variables": variables, "steps": [normalize_step(s, i + 1) for i, s in enumerate(steps)]}


def builtins() -> dict:
    now = datetime.now(timezone.utc)
    return {"date": now.strftime("%Y%m%d"), "time": now.strftime("%H%M%S"), "datetime": now.strftime("%Y%m%d%H%M%S")}


def _lookup(path: str, variables: dict):
    value = variables
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise Invalid(f"Workflow variable '{path}' has no value and no default.")
        value = value[part]
    return value


def render(value, variables: dict):
    """Substitute `{{.var}}` in every string (recursively); a string that is one placeholder keeps
    the variable's own value (a number stays a number, a file stays a file)."""
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    if not isinstance(value, str):
        return value
    whole = _VAR.fullmatch(value.strip())
    if whole:
        return _lookup(whole.group(1), variables)
    return _VAR.sub(lambda m: _text(_lookup(m.group(1), variables)), value)


def _text(value) -> str:
    if isinstance(value, dict) and "name" in value:
        return str(value["name"])
    return str(value)


def data_url_text(value: str) -> str | None:
    """The text of a data URL, or None when `value` is not one."""
    if not isinstance(value, str) or not value.startswith("data:"):
        return None
    header, _, payload = value.partition(",")
    try:
        raw = base64.b64decode(payload, validate=False) if header.endswith(";base64") else payload.encode()
        return raw.decode("utf-8-sig")
    except (ValueError, UnicodeDecodeError):
        raise Invalid("A file variable is not a readable UTF-8 data URL.") from None
