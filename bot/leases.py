"""Acknowledged questions survive a crash: each pending turn is owned by one instance through a lease
in the metadata store (owner + expiry on the stored human message), renewed while that instance
lives. An instance reclaims only turns whose lease expired — its own from before a restart, or
those of an instance that died — so with several instances on one PostgreSQL a restart never
touches the turns another live instance is answering. The UPDATE that takes a lease re-checks the
expiry under the row lock, so two instances never take the same turn.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import select

from tabletalk.bot.messages import IncomingMessage
from tabletalk.core.policy.principal import Principal
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import Message, utcnow

log = logging.getLogger(__name__)


def turn_record(msg: IncomingMessage, role: str | None, variables: dict) -> dict:
    """What answering a turn again needs: the message and the access decided when it was accepted;
    `ref` (where the platform shows its progress, e.g. the Telegram message to edit) comes later."""
    return {"message": asdict(msg), "role": role, "variables": variables, "ref": {}}


def incoming_of(turn: dict) -> IncomingMessage:
    data = dict(turn["message"])
    if data.get("principal") is not None:
        data["principal"] = Principal(**data["principal"])
    return IncomingMessage(**data)


class TurnLeases:
    def __init__(self, store: Store, seconds: float):
        self.store = store
        self.seconds = max(float(seconds), 1.0)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._task: asyncio.Task | None = None

    def until(self):
        return utcnow() + timedelta(seconds=self.seconds)

    async def renew(self) -> None:
        async with self.store.session() as s:
            await s.exec(update(Message).where(Message.lease_owner == self.owner, Message.status == "pending")
                         .values(lease_until=self.until()))
            await s.commit()

    async def reclaim(self) -> list[Message]:
        """Take the pending questions whose lease expired (or that never had one), oldest first."""
        now = utcnow()
        async with self.store.session() as s:
            taken = (await s.exec(update(Message)
                                  .where(Message.status == "pending", Message.role == "human",
                                         or_(Message.lease_until.is_(None), Message.lease_until < now))
                                  .values(lease_owner=self.owner, lease_until=self.until())
                                  .returning(Message.id))).scalars().all()
            await s.commit()
            if not taken:
                return []
            rows = (await s.exec(select(Message).where(Message.id.in_(list(taken)))
                                 .order_by(Message.chat_id, Message.seq))).all()
        return list(rows)

    def keep_alive(self, on_reclaimed: Callable[[list[Message]], Awaitable[None]]) -> None:
        """Renew this instance's leases every third of their life, and take over expired ones."""

        async def loop():
            while True:
                await asyncio.sleep(self.seconds / 3)
                try:
                    await self.renew()
                    taken = await self.reclaim()
                    if taken:
                        await on_reclaimed(taken)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the store is down for a moment: try again next round
                    log.warning("renewing turn leases failed", exc_info=True)

        self._task = asyncio.create_task(loop(), name="turn-leases")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
