"""User-defined OpenAI-compatible providers: stored (key encrypted), loaded into the one models
registry that both the query engine and table generation use."""
from __future__ import annotations

from sqlmodel import select

from tabletalk.core.errors import Conflict, Invalid, NotFound
from tabletalk.core.llm.registry import ModelRegistry
from tabletalk.core.secrets import MASK, SecretBox
from tabletalk.core.store.db import Store
from tabletalk.core.tables.models import ProviderRow

MODEL_FIELDS = ("model", "alias", "max_tokens", "rpm", "image", "default")


def _models(models: list[dict]) -> list[dict]:
    out = []
    for m in models or []:
        if not m.get("model"):
            raise Invalid("Every model of a provider needs a 'model' name.")
        out.append({k: m[k] for k in MODEL_FIELDS if k in m})
    return out


class ProviderService:
    def __init__(self, store: Store, registry: ModelRegistry, box: SecretBox):
        self.store, self.registry, self.box = store, registry, box

    async def load(self) -> None:
        async with self.store.session() as s:
            rows = (await s.exec(select(ProviderRow))).all()
        self.registry.providers = [p for p in self.registry.providers if not p.editable]
        for r in rows:
            self.registry.add_provider({"id": r.id, "name": r.name, "base_url": r.base_url, "key": self.box.decrypt(r.key) or None,
                                        "enabled": r.enabled, "models": r.models})

    def list(self) -> list[dict]:
        return [p.view() for p in self.registry.providers]

    async def create(self, data: dict) -> None:
        if data.get("type", "openaicompatible") != "openaicompatible":
            raise Invalid("Only 'openaicompatible' providers are supported.")
        if any(p.name == data["name"] for p in self.registry.providers):
            raise Conflict(f"A provider named '{data['name']}' already exists.")
        row = ProviderRow(name=data["name"], base_url=data.get("base_url", ""), enabled=data.get("enabled", True),
                          key=self.box.encrypt(data["key"]) if data.get("key") else "", models=_models(data.get("models")))
        async with self.store.session() as s:
            s.add(row)
            await s.commit()
        await self.load()

    async def update(self, provider_id: int, data: dict) -> None:
        async with self.store.session() as s:
            row = await s.get(ProviderRow, provider_id)
            if row is None:
                if any(p.id == provider_id and not p.editable for p in self.registry.providers):
                    raise Conflict("The provider from OPENAI_BASE_URL / OPENAI_API_KEY is not editable; change the environment.")
                raise NotFound(f"Provider '{provider_id}' does not exist.")
            if data.get("key") not in (None, "", MASK):
                row.key = self.box.encrypt(data["key"])
            for field in ("base_url", "enabled"):
                if field in data:
                    setattr(row, field, data[field])
            if "models" in data:
                row.models = _models(data["models"])
            s.add(row)
            await s.commit()
        await self.load()

    async def delete(self, provider_id: int) -> None:
        await self.store.remove(ProviderRow, provider_id, "Provider")
        await self.load()
