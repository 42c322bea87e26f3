"""Tablepilot's own schema format, turned into the spec's column fields before validation.

Older Tablepilot schemas declare a top-level `sources` list (ai, list, linked, csv, parquet, files,
Kaggle or Hugging Face entries) and columns pick from it by `source` name. Each column then gets
the spec's `source_type`/`source_id`/`options`; file rows are read once (from allowed folders) and
kept with the table's sources, so generation never touches the file system again.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from tabletalk.core.errors import Invalid
from tabletalk.core.tables import files

FILE_KINDS = ("csv", "parquet", "files")
ListGen = Callable[[str, int], Awaitable[list[str]]]


def is_legacy(raw: dict) -> bool:
    return any(isinstance(c, dict) and c.get("source") for c in raw.get("columns") or [])


def _count_in(prompt: str, default: int = 20) -> int:
    m = re.search(r"\b(\d{1,4})\b", prompt)
    return max(1, min(int(m.group(1)), 500)) if m else default


def _local_mirror(source: dict, roots: list[Path]) -> tuple[str, list[str]]:
    """Where a Kaggle / Hugging Face source's files would be in the data folder (no downloads)."""
    name = source.get("name", "?")
    if source.get("kaggle"):
        ref = str(source["kaggle"]).strip("/")
        folder, what = f"kaggle/{ref}", f"the Kaggle dataset '{ref}'"
        patterns = [f"{folder}/{p}" for p in source.get("paths") or ["*.csv"]]
    else:
        hf = source["huggingface"] if isinstance(source["huggingface"], dict) else {"dataset": str(source["huggingface"])}
        ref = hf.get("dataset", "")
        folder = "/".join(p for p in ("huggingface", ref, hf.get("config", ""), hf.get("split", "")) if p)
        what = f"the Hugging Face dataset '{ref}'"
        patterns = [f"{folder}/*.parquet"]
    try:
        files.resolve(name, patterns, roots)
    except Invalid:
        raise Invalid(f"Source '{name}' needs {what} from the network, which this server does not download. "
                      f"Put its files in the data folder under {folder}/, or use a csv/parquet source with 'paths'.") from None
    return folder, patterns


async def convert(raw: dict, roots: list[Path], list_gen: ListGen) -> dict:
    """The schema with legacy `source` references resolved into spec column fields."""
    if not is_legacy(raw):
        return raw
    sources = {s.get("name"): s for s in raw.get("sources") or [] if isinstance(s, dict)}
    kept: list[dict] = []
    resolved: dict[str, dict] = {}
    for name, s in sources.items():
        kind = s.get("type", "")
        if s.get("kaggle") or s.get("huggingface"):
            _, patterns = _local_mirror(s, roots)
            kind = s.get("type") or "parquet"
            records = await asyncio.to_thread(files.read_records, name, kind, patterns, roots)
            resolved[name] = {"source_type": "file", "source_id": name}
            kept.append({**s, "records": records})
        elif kind == "list":
            resolved[name] = {"source_type": "options", "options": list(s.get("options") or [])}
            kept.append(s)
        elif kind == "ai":
            prompt = s.get("prompt") or name
            resolved[name] = {"source_type": "options", "options": await list_gen(prompt, _count_in(prompt))}
            kept.append({**s, "options": resolved[name]["options"]})
        elif kind == "linked":
            if not s.get("table"):
                raise Invalid(f"Linked source '{name}' needs a 'table'.")
            resolved[name] = {"source_type": "table", "source_id": s["table"]}
            kept.append(s)
        elif kind in FILE_KINDS:
            records = await asyncio.to_thread(files.read_records, name, kind, s.get("paths") or [], roots)
            resolved[name] = {"source_type": "file", "source_id": name}
            kept.append({**s, "records": records})
        else:
            raise Invalid(f"Source '{name}' has type '{kind}'; use ai, list, linked, csv, parquet or files.")
        for flag in ("random", "replacement"):
            if flag in s:
                resolved[name][flag] = s[flag]
    columns = []
    for c in raw.get("columns") or []:
        if isinstance(c, dict) and c.get("source"):
            ref = c["source"]
            if ref not in resolved:
                raise Invalid(f"Column '{c.get('name', '')}' picks from source '{ref}', which the schema does not declare.")
            defaults = {k: v for k, v in resolved[ref].items() if k in ("random", "replacement")}
            c = {"fill_mode": "pick", **defaults, **{k: v for k, v in c.items() if k != "source"},
                 **{k: v for k, v in resolved[ref].items() if k not in ("random", "replacement")}}
            # Tablepilot's sources never run out: they cycle.
            c.setdefault("repeat", 1)
            if c["repeat"] in (0, False):
                c["repeat"] = 1
        columns.append(c)
    return {**raw, "columns": columns, "sources": kept}


def public_sources(sources: list[dict]) -> list[dict]:
    """Sources as shown in a schema: without the stored file rows."""
    return [{k: v for k, v in s.items() if k != "records"} for s in sources]
