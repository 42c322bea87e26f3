"""Bots as stored objects (REST) and as files (YAML, upserted at start; REST edits refused)."""
from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from tabletalk.bot.config import BotConfig, BotPatch, require_webhook_secrets
from tabletalk.config.bots import ConfigFileError, bot_files, load_bot_file
from tabletalk.core.cache import TtlCache
from tabletalk.core.errors import Conflict
from tabletalk.core.runtime import Core
from tabletalk.core.secrets import merge_secrets, redact
from tabletalk.core.store.models import Bot, Datasource, iso, utcnow

log = logging.getLogger(__name__)
_TTL = 10.0


def bot_view(bot: Bot) -> dict:
    """The public shape: channel secrets show as '***'."""
    return {"id": bot.id, "name": bot.name, "datasource_ids": bot.datasource_ids, "welcome_message": bot.welcome_message,
            "sample_questions": bot.sample_questions, "max_rows": bot.max_rows, "access": bot.access,
            "channels": redact(bot.channels), "group_privacy": bot.group_privacy, "source_file": bot.source_file,
            "webhooks": {p: f"/webhooks/{p}/{bot.id}" for p, c in bot.channels.items() if c},
            "created_at": iso(bot.created_at), "modified_at": iso(bot.modified_at)}


def public_bot_view(bot: Bot) -> dict:
    """What a non-admin key sees of a bot: never its access rules (who maps to which role) or channels."""
    return {"id": bot.id, "name": bot.name, "welcome_message": bot.welcome_message,
            "sample_questions": bot.sample_questions}


class BotService:
    def __init__(self, core: Core):
        self.core = core
        self.store = core.store
        # Read on every webhook before its ack: one load for all callers, the old value served meanwhile.
        self._cache: TtlCache[BotConfig] = TtlCache(_TTL)

    async def _resolve_datasources(self, refs: list[str]) -> list[str]:
        return [(await self.core.datasources.find(ref)).id for ref in refs]

    async def create(self, cfg: BotConfig, *, source_file: str | None = None) -> Bot:
        require_webhook_secrets(cfg)
        ids = await self._resolve_datasources(cfg.datasource_ids)
        async with self.store.session() as s:
            existing = await s.get(Bot, cfg.id)
            if existing is not None and source_file is None:
                raise Conflict(f"A bot with id '{cfg.id}' already exists.")
            bot = existing or Bot(id=cfg.id, name=cfg.name)
            data = cfg.model_dump(exclude={"source_file"})
            for k, v in data.items():
                if k == "channels":
                    v = self.core.box.seal({p: c for p, c in v.items() if c})
                setattr(bot, k, v)
            bot.datasource_ids = ids
            bot.source_file = source_file
            bot.modified_at = utcnow()
            s.add(bot)
            try:
                await s.commit()
            except IntegrityError:  # a concurrent create with the same id committed first
                raise Conflict(f"A bot with id '{cfg.id}' already exists.") from None
        self._cache.pop(cfg.id)
        return bot

    async def get_row(self, bot_id: str) -> Bot:
        return await self.store.fetch(Bot, bot_id, "Bot")

    async def config(self, bot_id: str) -> BotConfig:
        """The bot with decrypted channel secrets (for adapters), cached briefly."""
        return await self._cache.get(bot_id, lambda: self._load_config(bot_id))

    async def _load_config(self, bot_id: str) -> BotConfig:
        bot = await self.get_row(bot_id)
        cfg = BotConfig.model_validate({
            "id": bot.id, "name": bot.name, "datasource_ids": bot.datasource_ids, "welcome_message": bot.welcome_message,
            "sample_questions": bot.sample_questions, "max_rows": bot.max_rows, "access": bot.access,
            "channels": self.core.box.open(bot.channels), "group_privacy": bot.group_privacy})
        cfg.source_file = bot.source_file
        return cfg

    async def for_datasource(self, datasource_id: str) -> BotConfig:
        """How a chat on one datasource (no bot) is answered: a bot's defaults, with no access rules."""
        ds = await self.core.datasources.get(datasource_id)
        return BotConfig(id="datasource", name=ds.name, datasource_ids=[ds.id],
                         sample_questions=list(ds.sample_questions or []))

    async def list(self, allowed: list[str] | None = None) -> list[Bot]:
        async with self.store.session() as s:
            bots = list((await s.exec(select(Bot).order_by(Bot.created_at))).all())
        return bots if allowed is None else [b for b in bots if b.id in allowed]

    async def update(self, bot_id: str, patch: BotPatch) -> Bot:
        bot = await self.get_row(bot_id)
        if bot.source_file:
            raise Conflict(f"Bot '{bot_id}' is defined in {bot.source_file}; edit that file instead.")
        changes = patch.model_dump(exclude_unset=True)
        current = (await self.config(bot_id)).model_dump(exclude={"source_file"})
        if "channels" in changes and changes["channels"] is not None:
            changes["channels"] = merge_secrets(current["channels"], changes["channels"])
        merged = BotConfig.model_validate({**current, **{k: v for k, v in changes.items() if v is not None}})
        require_webhook_secrets(merged)
        async with self.store.session() as s:
            row = await s.get(Bot, bot_id)
            row.name, row.welcome_message, row.sample_questions = merged.name, merged.welcome_message, merged.sample_questions
            row.max_rows, row.group_privacy, row.access = merged.max_rows, merged.group_privacy, merged.model_dump()["access"]
            row.datasource_ids = await self._resolve_datasources(merged.datasource_ids)
            row.channels = self.core.box.seal({p: c for p, c in merged.model_dump()["channels"].items() if c})
            row.modified_at = utcnow()
            s.add(row)
            await s.commit()
        self._cache.pop(bot_id)
        return row

    async def delete(self, bot_id: str) -> None:
        bot = await self.get_row(bot_id)
        if bot.source_file:
            raise Conflict(f"Bot '{bot_id}' is defined in {bot.source_file}; remove it from that file instead.")
        async with self.store.session() as s:
            await s.delete(await s.get(Bot, bot_id))
            await s.commit()
        self._cache.pop(bot_id)

    async def load_files(self, paths: list[Path]) -> list[str]:
        """Upsert bots (and datasources) from YAML files. Returns error lines; a bad file is skipped."""
        errors = []
        for path in bot_files(paths):
            try:
                parsed = load_bot_file(path)
                for decl in parsed.datasources:
                    await self._upsert_datasource(decl, str(path))
                for cfg in parsed.bots:
                    await self.create(cfg, source_file=str(path))
                log.info("loaded %d bot(s) from %s", len(parsed.bots), path)
            except ConfigFileError as exc:
                errors.append(str(exc))
                log.error("skipping bot file: %s", exc)
            except Exception as exc:  # e.g. a bot naming an unknown datasource: report, skip, keep serving
                msg = f"{path}: {getattr(exc, 'detail', None) or exc}"
                errors.append(msg)
                log.error("skipping bot file: %s", msg)
        return errors

    async def _upsert_datasource(self, decl, source_file: str) -> None:
        async with self.store.session() as s:
            existing = (await s.exec(select(Datasource).where(Datasource.name == decl.name))).first()
        if existing is None:
            ds = await self.core.datasources.create(decl.name, decl.engine, decl.access_config, desc=decl.desc,
                                                    sample_questions=decl.sample_questions, source_file=source_file)
            await self.core.metadata.start_sync(ds.id)
        else:
            await self.core.datasources.update(existing.id, {"access_config": decl.access_config, "desc": decl.desc,
                                                             "sample_questions": decl.sample_questions},
                                               allow_file_owned=True)
