"""Bot config files: YAML with ${ENV} interpolation, validated with errors naming file, line and field.

A file holds `bots:` (a list) and optionally `datasources:` (a list); a file that is a single
mapping with an `id` is one bot. Values are interpolated after parsing, so an environment
variable can never inject YAML structure.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tabletalk.bot.config import BotConfig, webhook_secret_problems

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class DatasourceDecl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    engine: str = Field(min_length=1)
    access_config: dict = Field(default_factory=dict)
    desc: str = ""
    sample_questions: list[str] = Field(default_factory=list)


class ConfigFileError(Exception):
    """A problem in a bot file, phrased as `file:line: field: message`."""


@dataclass
class BotFile:
    path: Path
    bots: list[BotConfig] = field(default_factory=list)
    datasources: list[DatasourceDecl] = field(default_factory=list)


def _line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location (best effort)."""
    best = node
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        best = node
    return None if best is None else best.start_mark.line + 1


def _interpolate(value, path: Path, node: yaml.Node | None, loc: tuple):
    if isinstance(value, dict):
        return {k: _interpolate(v, path, node, loc + (k,)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path, node, loc + (i,)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        line = _line_of(node, loc)
        raise ConfigFileError(f"{path}:{line}: {'.'.join(map(str, loc))}: environment variable {name} is not set "
                              f"(use ${{{name}:-default}} for a default)")

    return _ENV.sub(sub, value)


def load_bot_file(path: Path) -> BotFile:
    """Parse and validate one file; raise ConfigFileError naming file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigFileError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if raw is None:
        return BotFile(path)
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{path}:1: the file must be a mapping with 'bots:' (and optionally 'datasources:')")
    raw = _interpolate(raw, path, node, ())
    single = "id" in raw and "bots" not in raw
    sections = {"bots": [raw] if single else raw.get("bots") or [], "datasources": [] if single else raw.get("datasources") or []}
    unknown = set(raw) - {"bots", "datasources"} if not single else set()
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigFileError(f"{path}:{_line_of(node, (key,))}: {key}: unknown section (expected 'bots' or 'datasources')")
    out = BotFile(path)
    for section, model, target in (("datasources", DatasourceDecl, out.datasources), ("bots", BotConfig, out.bots)):
        items = sections[section]
        if not isinstance(items, list):
            raise ConfigFileError(f"{path}:{_line_of(node, (section,))}: {section}: must be a list")
        for i, item in enumerate(items):
            loc = () if single else (section, i)
            try:
                obj = model.model_validate(item)
            except ValidationError as exc:
                err = exc.errors()[0]
                full = loc + tuple(err["loc"])
                raise ConfigFileError(f"{path}:{_line_of(node, full)}: {'.'.join(map(str, full))}: {err['msg']}") from None
            if isinstance(obj, BotConfig):
                for where, sentence in webhook_secret_problems(obj):
                    full = loc + where
                    raise ConfigFileError(f"{path}:{_line_of(node, full)}: {'.'.join(map(str, full))}: {sentence}")
                obj.source_file = str(path)
            target.append(obj)
    return out


def bot_files(paths: list[Path]) -> list[Path]:
    """Every *.yaml / *.yml under the given files or folders, in a stable order."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml"))
        elif p.exists():
            found.append(p)
    return found
