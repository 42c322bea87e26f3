"""A bot's configuration, validated the same way whether it comes from REST or a YAML file."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tabletalk.core.errors import Invalid

SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccessDefault(Strict):
    role: str | None = None  # role id or name
    variables: dict = Field(default_factory=dict)


class AccessRule(Strict):
    platform: str = Field("*", pattern=r"^(\*|[a-z]+)$")  # slack | telegram | feishu | rest | *
    user: str = Field(min_length=1)  # platform user id; for REST an API key id or name
    role: str | None = None
    variables: dict = Field(default_factory=dict)


class Access(Strict):
    default: AccessDefault | None = None
    users: list[AccessRule] = Field(default_factory=list)


class SlackChannel(Strict):
    bot_token: str = Field(min_length=1)
    signing_secret: str = Field(min_length=1)
    api_base_url: str | None = None
    slash_command: str = Field("/tabletalk", pattern=r"^/[a-z0-9_-]{1,31}$")  # as registered in the Slack app


class TelegramChannel(Strict):
    token: str = Field(min_length=1)
    secret_token: str | None = None  # required (see require_webhook_secrets): Telegram sends it on every update
    api_base_url: str | None = None
    bot_username: str | None = None


class FeishuChannel(Strict):
    app_id: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    verification_token: str | None = None
    encrypt_key: str | None = None
    domain: str = "feishu"  # feishu | lark | a base URL


class Channels(Strict):
    slack: SlackChannel | None = None
    telegram: TelegramChannel | None = None
    feishu: FeishuChannel | None = None


class BotConfig(Strict):
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1)
    datasource_ids: list[str] = Field(min_length=1)
    welcome_message: str = "Hi! Ask me a question about your data, or type /help."
    sample_questions: list[str] = Field(default_factory=list)
    max_rows: int = Field(50, ge=1, le=10_000)
    access: Access = Field(default_factory=Access)
    channels: Channels = Field(default_factory=Channels)
    # How an answer a row filter shaped is delivered in a group or channel: `private` (the default:
    # Slack ephemeral, Telegram and Feishu a direct message), `ephemeral`, `dm`, or `thread` (public).
    group_privacy: Literal["private", "thread", "ephemeral", "dm"] = "private"
    source_file: str | None = Field(None, exclude=True)


class BotPatch(Strict):
    name: str | None = Field(None, min_length=1)
    datasource_ids: list[str] | None = Field(None, min_length=1)
    welcome_message: str | None = None
    sample_questions: list[str] | None = None
    max_rows: int | None = Field(None, ge=1, le=10_000)
    access: Access | None = None
    channels: Channels | None = None
    group_privacy: Literal["private", "thread", "ephemeral", "dm"] | None = None


def webhook_secret_problems(cfg: BotConfig) -> list[tuple[tuple, str]]:
    """(field location, sentence) for each channel whose webhook could be forged: anyone who knows the
    URL could otherwise post deliveries as any user. Slack's signing secret is required by its model."""
    problems = []
    telegram, feishu = cfg.channels.telegram, cfg.channels.feishu
    if telegram is not None and not (telegram.secret_token or "").strip():
        problems.append((("channels", "telegram", "secret_token"),
                         "a Telegram channel needs a secret_token (sent by Telegram on every update, checked here)"))
    if feishu is not None and not ((feishu.verification_token or "").strip() or (feishu.encrypt_key or "").strip()):
        problems.append((("channels", "feishu", "verification_token"),
                         "a Feishu channel needs a verification_token or an encrypt_key to authenticate its events"))
    return problems


def require_webhook_secrets(cfg: BotConfig) -> None:
    """Invalid (a 400 over REST) naming the first channel field that is missing."""
    for loc, sentence in webhook_secret_problems(cfg):
        raise Invalid(f"Invalid bot: '{'.'.join(loc)}': {sentence}.")
