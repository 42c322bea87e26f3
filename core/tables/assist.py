"""Model-assisted helpers of table generation: list generation, naming `{}` columns, image import.
Each has an offline answer where one makes sense (no model configured)."""
from __future__ import annotations

import json

from pydantic import ValidationError

from tabletalk.core.errors import Invalid, Upstream
from tabletalk.core.nlq.parse import extract_json
from tabletalk.core.tables.offline import OfflineFiller
from tabletalk.core.tables.schema import ColumnSpec, TableSpec

MAX_ATTEMPTS = 3
MAX_LIST = 500


class AssistMixin:
    """Needs `llm` and `create` / `_store_batch` from TableService."""

    async def list_gen(self, prompt: str, count: int, existing: list[str], model: str | None = None) -> list[str]:
        """New list items for a prompt, none of them in `existing`."""
        count = max(1, min(count, MAX_LIST))
        if not self.llm.available:
            return OfflineFiller().list_items(prompt, count, existing)
        client, info = self.llm.resolve(model)
        messages = [{"role": "system", "content": "Answer with a JSON array of strings only."},
                    {"role": "user", "content": f"{prompt}\nGive {count} items. Do not repeat any of: {json.dumps(existing, ensure_ascii=False)}"}]
        for _ in range(MAX_ATTEMPTS):
            data = extract_json((await client.complete(messages, model=info.model, temperature=0.8)).text)
            if isinstance(data, list):
                items = [str(x) for x in data if str(x) not in existing]
                return list(dict.fromkeys(items))[:count]
        raise Upstream("The model did not return a JSON list.")

    async def name_columns(self, spec: TableSpec) -> TableSpec:
        """Fill in the columns a schema left for the model to define (`{}` or `"name": ""`)."""
        taken = [c.name for c in spec.columns if c.name]
        slots = spec.unnamed
        ideas = None
        if self.llm.available:
            client, info = self.llm.resolve(spec.model or None)
            ask = (f"A table '{spec.name}' ({spec.description}) has the columns {json.dumps(taken, ensure_ascii=False)}. "
                   f"Propose {len(slots)} more useful columns. Answer with a JSON array only: "
                   "[{\"name\": str, \"description\": str, \"type\": \"string|integer|number|boolean|date|array\"}]")
            for _ in range(MAX_ATTEMPTS):
                data = extract_json((await client.complete([{"role": "user", "content": ask}], model=info.model)).text)
                if isinstance(data, list) and len(data) >= len(slots) and all(isinstance(d, dict) and d.get("name") for d in data):
                    ideas = [{**d, "fill_mode": "ai"} for d in data if d["name"] not in taken][:len(slots)]
                    if len(ideas) == len(slots):
                        break
                ideas = None
        if ideas is None:
            ideas = OfflineFiller(0).column_ideas(f"{spec.name} {spec.description}", taken, len(slots))
        columns = list(spec.columns)
        for slot, idea in zip(slots, ideas):
            given = columns[slot].model_dump(exclude_defaults=True)
            try:
                columns[slot] = ColumnSpec.model_validate({**idea, **{k: v for k, v in given.items() if k != "name"}})
            except ValidationError:
                columns[slot] = ColumnSpec(name=str(idea["name"])[:100])
        return spec.model_copy(update={"columns": columns})

    async def import_image(self, image_url: str, *, name: str | None = None, prompt: str = "",
                           model: str | None = None):
        """Build a table (schema and rows) from a picture of one, with a vision-capable model."""
        vision = [m for m in self.llm.models() if m.image]
        if not vision:
            raise Invalid("Image import needs a vision-capable model (a provider model with \"image\": true); none is configured.")
        client, info = self.llm.resolve(model or (vision[0].alias or vision[0].model))
        if not info.image:
            raise Invalid(f"Model '{info.alias or info.model}' cannot read images.")
        ask = ("Read the table in this image. Answer with JSON only: {\"name\": snake_case, \"description\": str, "
               "\"columns\": [{\"name\": snake_case, \"type\": \"string|integer|number|boolean|date|array\", \"description\": str}], "
               "\"rows\": [{column: value}]}." + (f" {prompt}" if prompt else ""))
        messages = [{"role": "user", "content": [{"type": "text", "text": ask}, {"type": "image_url", "image_url": {"url": image_url}}]}]
        for _ in range(MAX_ATTEMPTS):
            data = extract_json((await client.complete(messages, model=info.model)).text)
            if isinstance(data, dict) and isinstance(data.get("columns"), list) and data["columns"]:
                break
        else:
            raise Upstream("The model did not describe the image as a table.")
        try:
            spec = TableSpec.model_validate({"name": name or data.get("name") or "imported_table",
                                             "description": data.get("description", ""),
                                             "columns": [{k: c.get(k) for k in ("name", "type", "description") if c.get(k)}
                                                         for c in data["columns"] if isinstance(c, dict)]})
        except ValidationError as exc:
            raise Upstream(f"The model described the image as an unusable table ({exc.errors()[0].get('msg')}).") from None
        table = await self.create(spec)
        rows = [r for r in data.get("rows") or [] if isinstance(r, dict)]
        await self._store_batch(table, table.columns, rows, {"next": 0})
        return table, len(rows)
