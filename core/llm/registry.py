"""The providers/models registry shared by the query engine and table generation.

A provider is an OpenAI-compatible endpoint (`base_url`, write-only `key`) offering models, each
with an `alias`, `max_tokens`, an `rpm` budget, `image` support and one `default`. The environment
provider (OPENAI_BASE_URL / OPENAI_API_KEY) is listed as "env" and is not editable. The registry is
in memory only: user providers are loaded from and exported to plain dicts by whoever stores them.

    registry = ModelRegistry.from_settings(settings)
    registry.load([{"name": "local", "base_url": "http://127.0.0.1:8000/v1", "models": [{"model": "qwen"}]}])
    client, info = registry.resolve("qwen")      # or an alias, or None for the default model
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from tabletalk.config.settings import Settings
from tabletalk.core.cache import keep
from tabletalk.core.errors import Invalid, NotFound
from tabletalk.core.llm.client import LLMClient
from tabletalk.core.secrets import MASK

PROVIDER_TYPES = ("openaicompatible",)


@dataclass
class ModelInfo:
    model: str
    alias: str = ""
    client: str = ""  # the provider's name
    max_tokens: int = 4096
    rpm: int = 0  # requests per minute allowed (0: no limit)
    image: bool = False
    default: bool = False

    @property
    def name(self) -> str:
        return self.alias or self.model


_MODEL_FIELDS = {f.name for f in fields(ModelInfo)} - {"client"}


@dataclass
class Provider:
    id: int
    name: str
    base_url: str | None
    key: str | None = field(default=None, repr=False)  # write-only: never shown, logged or repr'd
    type: str = "openaicompatible"
    editable: bool = True
    enabled: bool = True
    models: list[ModelInfo] = field(default_factory=list)

    def view(self) -> dict:
        """Public shape: the key is masked."""
        data = asdict(self)
        data["key"] = MASK if self.key else ""
        return data

    def export(self) -> dict:
        """Storage shape (key included, for the caller to encrypt); `load` reads it back."""
        data = asdict(self)
        for m in data["models"]:
            m.pop("client")
        return data


class ModelRegistry:
    """Providers change only through this class (`providers = …`, `add_provider`, `remove_provider`,
    `load`), never by editing a Provider in place: `resolve` remembers its answer per model name until
    they do (every LLM-path question resolves its model twice)."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings
        self._providers: list[Provider] = []
        # One client per (provider, model), rebuilt when its provider's endpoint or key changes.
        self._clients: dict[tuple[str, str], tuple[tuple, LLMClient]] = {}
        self._retired: list[LLMClient] = []
        self._resolved: dict[str | None, tuple[LLMClient, ModelInfo]] = {}

    @property
    def providers(self) -> list[Provider]:
        return self._providers

    @providers.setter
    def providers(self, value: list[Provider]) -> None:
        self._providers = value
        self._resolved.clear()

    @classmethod
    def from_settings(cls, settings: Settings) -> "ModelRegistry":
        reg = cls(settings)
        if settings.llm_configured:
            key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
            reg.providers = [Provider(id=0, name="env", base_url=settings.openai_base_url, key=key, editable=False,
                                      models=[ModelInfo(model=settings.llm_model, client="env", default=True)])]
        return reg

    # --- what is configured ------------------------------------------------------------------
    @property
    def available(self) -> bool:
        return bool(self.models())

    def models(self) -> list[ModelInfo]:
        """Every model of every enabled provider."""
        return [m for p in self.providers if p.enabled for m in p.models]

    def names(self) -> list[str]:
        """What a user may pass to `resolve`: each model's alias, or its name without one."""
        return [m.name for m in self.models()]

    @property
    def default(self) -> ModelInfo | None:
        """The model marked default by a user provider, else the environment's, else the first."""
        enabled = sorted((p for p in self.providers if p.enabled), key=lambda p: not p.editable)
        marked = next((m for p in enabled for m in p.models if m.default), None)
        models = self.models()
        return marked or (models[0] if models else None)

    def resolve(self, name: str | None = None) -> tuple[LLMClient, ModelInfo]:
        """The client and model for a model name, alias or "provider/model" (None: the default model)."""
        hit = self._resolved.get(name or None)
        if hit is not None:
            return hit
        if not self.available:
            raise Invalid("No language model is configured (set OPENAI_BASE_URL / OPENAI_API_KEY or add a provider).")
        info = self.default if not name else self._find(name)
        if info is None:
            raise NotFound(f"Model '{name}' is not configured. Available: {', '.join(self.names())}.")
        provider = next(p for p in self.providers if p.enabled and p.name == info.client)
        resolved = self._client(provider, info), info
        keep(self._resolved, name or None, resolved, 256)  # names that resolved; a typo raised above
        return resolved

    def _find(self, name: str) -> ModelInfo | None:
        models = self.models()
        hit = next((m for m in models if name == m.alias), None) or next((m for m in models if name == m.model), None)
        if hit is None and "/" in name:
            provider, model = name.split("/", 1)
            hit = next((m for m in models if m.client == provider and model in (m.model, m.alias)), None)
        return hit

    def _client(self, provider: Provider, info: ModelInfo) -> LLMClient:
        config = (provider.base_url, provider.key, info.rpm)
        cached = self._clients.get((provider.name, info.model))
        if cached and cached[0] == config:
            return cached[1]
        if cached:
            self._retired.append(cached[1])  # may still be serving a call; closed with the registry
        s = self.settings
        client = LLMClient(provider.base_url, provider.key, info.model, timeout=s.llm_timeout if s else 30.0,
                           retries=s.llm_retries if s else 3, rpm=info.rpm)
        self._clients[(provider.name, info.model)] = (config, client)
        return client

    # --- changing providers ------------------------------------------------------------------
    def add_provider(self, data: dict) -> Provider:
        """Add a user provider from its dict shape (as `export` writes it); returns it."""
        name = (data.get("name") or "").strip()
        if not name:
            raise Invalid("A provider needs a 'name'.")
        if (data.get("type") or "openaicompatible") not in PROVIDER_TYPES:
            raise Invalid(f"Provider type must be one of: {', '.join(PROVIDER_TYPES)}.")
        if any(p.name == name for p in self.providers):
            raise Invalid(f"A provider named '{name}' is already registered.")
        models = []
        for m in data.get("models") or []:
            if not m.get("model"):
                raise Invalid(f"Every model of provider '{name}' needs a 'model' name.")
            models.append(ModelInfo(client=name, **{k: v for k, v in m.items() if k in _MODEL_FIELDS}))
        pid = data.get("id")
        if pid is None:
            pid = max((p.id for p in self.providers), default=0) + 1
        provider = Provider(id=pid, name=name, base_url=data.get("base_url"), key=data.get("key") or None,
                            editable=data.get("editable", True), enabled=data.get("enabled", True), models=models)
        self.providers.append(provider)
        self._resolved.clear()
        return provider

    def remove_provider(self, provider_id: int) -> None:
        before = len(self.providers)
        self.providers = [p for p in self.providers if p.id != provider_id or not p.editable]
        if len(self.providers) == before:
            raise NotFound(f"No editable provider has id {provider_id}.")

    def load(self, providers: list[dict]) -> None:
        """Replace the user providers with `providers` (the environment provider stays)."""
        self.providers = [p for p in self.providers if not p.editable]
        for data in providers:
            self.add_provider(data)

    def export(self) -> list[dict]:
        """The user providers as plain dicts, keys included: for storage, never for display."""
        return [p.export() for p in self.providers if p.editable]

    def view(self) -> list[dict]:
        """Every provider as shown to users (keys masked)."""
        return [p.view() for p in self.providers]

    async def close(self) -> None:
        for client in [c for _, c in self._clients.values()] + self._retired:
            await client.close()
        self._clients.clear()
        self._retired.clear()
        self._resolved.clear()
