"""A complete chat adapter for tests (errbot's test-backend idea): it turns text into
`IncomingMessage`s for the real dispatcher and records every `Reply` it would send."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from tabletalk.bot.messages import IncomingMessage, Reply

_ids = itertools.count(1)


@dataclass
class Sent:
    message: IncomingMessage
    reply: Reply


@dataclass
class RecordingAdapter:
    dispatcher: object
    bot_id: str
    platform: str = "test"
    sent: list[Sent] = field(default_factory=list)

    async def receive(self, user: str, text: str, *, chat: str = "room-1", thread: str | None = None,
                      is_group: bool = False, principal=None) -> Reply:
        msg = IncomingMessage(bot_id=self.bot_id, platform=self.platform, user=user, chat=chat, text=text,
                              thread=thread, is_group=is_group, event_id=f"evt-{next(_ids)}", principal=principal)
        reply = await self.dispatcher.handle(msg)
        await self.send(msg, reply)
        return reply

    async def send(self, msg: IncomingMessage, reply: Reply) -> None:
        self.sent.append(Sent(msg, reply))
