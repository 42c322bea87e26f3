"""Which canvas node runs are alive: a running node is leased by the instance running it (owner +
expiry on the node, renewed while the run lasts). A node still `running` after its lease expired was
left by an instance that died (kill -9, a lost machine): whoever reads it next marks it failed, so it
never stays `running` and its children can run once it is run again. With several instances on one
PostgreSQL, a live instance's runs keep their lease and are never touched. The same idea as chat
turns (bot/leases.py).
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from datetime import timedelta

from sqlalchemy import or_, update

from tabletalk.core.canvas.models import CanvasNode
from tabletalk.core.store.db import Store
from tabletalk.core.store.models import utcnow

log = logging.getLogger(__name__)
INTERRUPTED = "Interrupted by a restart; run it again."


class NodeRuns:
    def __init__(self, store: Store, lease: float):
        self.store = store
        self.seconds = max(float(lease), 1.0)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._active = 0
        self._heartbeat: asyncio.Task | None = None

    def lease(self) -> dict:
        """The fields that mark a node as run here, now; renewed while the run lasts."""
        return {"run_owner": self.owner, "run_until": utcnow() + timedelta(seconds=self.seconds)}

    def started(self) -> None:
        self._active += 1
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._renew(), name="canvas-node-leases")

    def ended(self) -> None:
        self._active -= 1

    async def _renew(self) -> None:
        while self._active > 0:  # renews this instance's running nodes every third of a lease
            await asyncio.sleep(self.seconds / 3)
            try:
                async with self.store.session() as s:
                    await s.exec(update(CanvasNode).where(CanvasNode.run_owner == self.owner, CanvasNode.status == "running")
                                 .values(run_until=self.lease()["run_until"]))
                    await s.commit()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store is down for a moment: try again next round
                log.warning("renewing canvas node leases failed", exc_info=True)

    async def settle(self, nodes: list[CanvasNode]) -> None:
        """Mark failed the nodes among `nodes` left `running` by a run that cannot be alive any more
        (lease expired or never taken); updates the given objects. Writes only when one is running."""
        running = [n.id for n in nodes if n.status == "running"]
        if not running:
            return
        now = utcnow()
        async with self.store.session() as s:
            # The expiry is checked in the UPDATE, so a lease renewed meanwhile is left alone.
            failed = set((await s.exec(update(CanvasNode)
                                       .where(CanvasNode.id.in_(running), CanvasNode.status == "running",
                                              or_(CanvasNode.run_until.is_(None), CanvasNode.run_until < now))
                                       .values(status="failed", error=INTERRUPTED, completed_at=now, run_owner=None)
                                       .returning(CanvasNode.id))).scalars().all())
            await s.commit()
        if failed:
            log.warning("canvas node(s) %s were left running by a stopped instance; marked failed", ", ".join(sorted(failed)))
        for n in nodes:
            if n.id in failed:
                n.status, n.error, n.completed_at, n.run_owner = "failed", INTERRUPTED, now, None

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
