"""The providers/models registry shared by the query engine and table generation.

Providers are OpenAI-compatible endpoints with models (`alias`, `max_tokens`, `rpm`, `image`,
`default`). The environment provider (OPENAI_BASE_URL / OPENAI_API_KEY) is listed as not editable;
user providers are loaded from and exported to plain dicts (their storage lives elsewhere).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tabletalk.config.settings import Settings
from tabletalk.core.errors import Invalid, NotFound
from tabletalk.core.llm.client import LLMClient


@dataclass
class ModelInfo:
    model: str
    alias: str = ""
    client: str = ""  # provider name
    max_tokens: int = 4096
    rpm: int = 0
    image: bool = False
    default: bool = False


@dataclass
class Provider:
    id: int
    name: str
    base_url: str | None
    key: str | None = None
    type: str = "openaicompatible"
    editable: bool = True
    enabled: bool = True
    models: list[ModelInfo] = field(default_factory=list)

    def view(self) -> dict:
        """Public shape: the key is write-only."""
        data = asdict(self)
        data["key"] = "***" if self.key else ""
        return data


class ModelRegistry:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings
        self.providers: list[Provider] = []
        self._clients: dict[tuple[str, str], LLMClient] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> "ModelRegistry":
        reg = cls(settings)
        if settings.llm_configured:
            key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
            reg.providers.append(Provider(id=0, name="env", base_url=settings.openai_base_url, key=key, editable=False,
                                          models=[ModelInfo(model=settings.llm_model, client="env", default=True)]))
        return reg

    @property
    def available(self) -> bool:
        return any(p.enabled and p.models for p in self.providers)

    def models(self) -> list[ModelInfo]:
        return [m for p in self.providers if p.enabled for m in p.models]

    @property
    def default(self) -> ModelInfo | None:
        models = self.models()
        return next((m for m in models if m.default), models[0] if models else None)

    def resolve(self, name: str | None = None) -> tuple[LLMClient, ModelInfo]:
        """The client and model for a model name or alias (None = the default model)."""
        if not self.available:
            raise Invalid("No language model is configured (set OPENAI_BASE_URL / OPENAI_API_KEY or add a provider).")
        info = self.default if not name else next(
            (m for m in self.models() if name in (m.model, m.alias)), None)
        if info is None:
            raise NotFound(f"Model '{name}' is not configured. Available: {', '.join(m.alias or m.model for m in self.models())}.")
        provider = next(p for p in self.providers if p.name == info.client)
        key = (provider.name, info.model)
        client = self._clients.get(key)
        if client is None:
            s = self.settings
            client = LLMClient(provider.base_url, provider.key, info.model, timeout=s.llm_timeout if s else 30.0,
                               retries=s.llm_retries if s else 3, rpm=info.rpm)
            self._clients[key] = client
        return client, info

    def add_provider(self, data: dict) -> Provider:
        pid = max((p.id for p in self.providers), default=0) + 1
        provider = Provider(id=data.get("id", pid), name=data["name"], base_url=data.get("base_url"), key=data.get("key"),
                            enabled=data.get("enabled", True),
                            models=[ModelInfo(client=data["name"], **{k: v for k, v in m.items() if k != "client"})
                                    for m in data.get("models", [])])
        self.providers.append(provider)
        return provider

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
