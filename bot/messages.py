"""The neutral conversation model every door speaks: adapters build `IncomingMessage`s and render `Reply`s."""
from __future__ import annotations

from dataclasses import dataclass, field

from tabletalk.core.policy.principal import PLATFORM_USER, Principal


@dataclass
class IncomingMessage:
    bot_id: str
    platform: str                  # 'rest' | 'slack' | 'telegram' | 'feishu' | 'test'
    user: str                      # platform user id (REST: the API key id)
    chat: str                      # platform chat/channel id (REST: the chat id)
    text: str
    thread: str | None = None      # Slack thread_ts, Telegram topic id, Feishu thread/root id
    event_id: str | None = None    # platform delivery id, for deduplication
    is_group: bool = False         # asked in a shared channel/group (matters for group_privacy)
    attachments: list[dict] = field(default_factory=list)
    user_name: str | None = None
    is_admin: bool = False  # asked with an admin API key (REST): unrestricted unless a rule names it
    principal: Principal | None = None  # the REST caller's key (scope, bound role); platform users: a visitor

    @property
    def asker(self) -> Principal:
        """Who asks, for access decisions."""
        if self.principal is not None:
            return self.principal
        return Principal(scope="priv_admin") if self.is_admin else PLATFORM_USER

    @property
    def conversation_key(self) -> str:
        """One conversation per platform chat (+thread/topic)."""
        if self.platform == "rest":
            return f"rest:{self.chat}"
        return ":".join(p for p in (self.platform, self.bot_id, self.chat, self.thread or "") if p)


@dataclass
class Reply:
    text: str
    sql: str | None = None
    dataframe: dict | None = None          # {"columns": [...], "data": [[...]], "truncated": bool}
    chart: dict | None = None              # Vega-Lite spec
    chart_png: bytes | None = None
    suggestions: list[str] = field(default_factory=list)
    error: str | None = None               # set when the answer is a failure explanation
    private: bool = False                  # computed under a row filter: show only to the asker in groups
    chat_id: str | None = None             # stored chat the turn belongs to
    interpretation: str | None = None      # how the built-in engine read the question, in plain words
    message_id: str | None = None          # stored assistant message id
    silent: bool = False                   # nothing to say (group chatter with no question): send nothing

    @property
    def ok(self) -> bool:
        return self.error is None
