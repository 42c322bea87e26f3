"""`Core`: every engine service wired together from Settings. Built once per app; no globals."""
from __future__ import annotations

import logging
from pathlib import Path

from tabletalk.config import logs
from tabletalk.config.settings import Settings
from tabletalk.core.auth import KeyService
from tabletalk.core.canvas.service import CanvasService
from tabletalk.core.datasources.service import DatasourceService
from tabletalk.core.llm.registry import ModelRegistry
from tabletalk.core.demo import DESCRIPTIONS, SAMPLE_QUESTIONS, build_demo
from tabletalk.core.metadata.service import MetadataService
from tabletalk.core.nlq.history import QueryHistory
from tabletalk.core.nlq.pipeline import Pipeline
from tabletalk.core.nlq.training import TrainingService
from tabletalk.core.policy.asktable_map import SharedPolicies
from tabletalk.core.policy.principal import Principal
from tabletalk.core.policy.service import PolicyService
from tabletalk.core.secrets import SecretBox
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import QueryRecord
from tabletalk.core.tables.providers import ProviderService
from tabletalk.core.tables.service import TableService

log = logging.getLogger(__name__)


class Core:
    def __init__(self, settings: Settings):
        self.settings = settings
        logs.install()
        logs.remember(*(secret.get_secret_value() for secret in (settings.admin_key, settings.secret_key,
                                                                 settings.openai_api_key) if secret))
        self.home: Path = settings.home.resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.resolved_database_url)
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        self.box = SecretBox.from_home(self.home, secret)
        self.policies = PolicyService(self.store)
        self.keys = KeyService(self.store, self.policies)
        self.datasources = DatasourceService(self.store, self.box, self.home)
        self.metadata = MetadataService(self.store, self.datasources, value_cap=settings.value_index_cap)
        self.metadata.embed = self._embedder()
        self.training = TrainingService(self.store, self.policies, self.metadata)
        self.shared_policies = SharedPolicies(self.store, self.policies, self.datasources, self.metadata)
        self.llm = ModelRegistry.from_settings(settings)
        self.pipeline = Pipeline(metadata=self.metadata, datasources=self.datasources, policies=self.policies,
                                 training=self.training, llm=self.llm, settings=settings)
        self.history = QueryHistory(self.store)
        self.canvas = CanvasService(self.store, self.pipeline, self.datasources, lease=settings.turn_lease)
        self.tables = TableService(self.store, self.llm)
        self.providers = ProviderService(self.store, self.llm, self.box)
        self.generated_admin_key: str | None = None

    async def start(self) -> None:
        await self.store.migrate()
        admin = self.settings.admin_key.get_secret_value() if self.settings.admin_key else None
        self.generated_admin_key = await self.keys.bootstrap_admin(admin)
        await self.providers.load()
        if self.settings.demo:
            await self.ensure_demo()

    async def ensure_demo(self) -> None:
        """A fresh home gets the demo shop once; deleting it later is respected."""
        marker = self.home / ".demo-created"
        if marker.exists():
            return
        if (await self.datasources.list(size=1))[1]:
            # A metadata database that already has datasources (e.g. shared PostgreSQL) is not fresh.
            marker.write_text("skipped: the metadata database already had datasources")
            return
        path = build_demo(self.home / "demo" / "shop.db")
        ds = await self.datasources.create("Demo shop", "sqlite", {"database": str(path)},
                                           desc="A small demo shop: customers, products, orders and order items.",
                                           sample_questions=SAMPLE_QUESTIONS)
        await self.metadata.sync(ds.id)
        await self.metadata.put_meta(ds.id, {"main": {"tables": {t: {"description": d} for t, d in DESCRIPTIONS.items()}}})
        marker.write_text(ds.id)
        log.info("created the demo datasource %s (%s)", ds.id, path)

    def _embedder(self):
        """Embeds texts with TABLETALK_EMBEDDING_MODEL on the default provider, when both are configured."""
        if not self.settings.embedding_model:
            return None

        async def embed(texts: list[str]) -> list[list[float]]:
            client, _ = self.llm.resolve(None)
            return await client.embed(texts, model=self.settings.embedding_model)

        return embed

    async def remember_result(self, result_id: str, kind: str, datasource_id: str, question: str, result: dict,
                              *, owner_key_id: str | None) -> None:
        async with self.store.session() as s:
            s.add(QueryRecord(id=result_id, kind=kind, datasource_id=datasource_id, question=question, result=result,
                              owner_key_id=owner_key_id))
            await s.commit()

    async def recall_result(self, result_id: str, principal: Principal) -> dict | None:
        """A kept result, for the key that asked and administrators; None for anyone else (the id
        alone, e.g. a shared chart link, is not a credential)."""
        async with self.store.session() as s:
            record = await s.get(QueryRecord, result_id)
        if record is None:
            return None
        mine = record.owner_key_id is not None and record.owner_key_id == principal.key_id
        return record.result if mine or principal.admin else None

    async def close(self) -> None:
        await self.history.close()
        await self.llm.close()
        await self.canvas.close()
        await self.metadata.close()
        await self.datasources.close()
        await self.store.close()


