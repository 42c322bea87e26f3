"""Talking to Slack: slack_sdk's AsyncWebClient (pointed at `api_base_url` when set) with retries,
posts to interaction `response_url`s, file attachments, and the bot's own user id (auth.test)."""
from __future__ import annotations

import asyncio
import csv
import io
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tabletalk.adapters.delivery import identity_source, with_retries
from tabletalk.adapters.slack_render import needs_csv
from tabletalk.bot.messages import Reply
from tabletalk.core.errors import Invalid

FRIENDLY_ERROR = "Sorry, something went wrong while answering. Please try again in a moment."
RESPONSE_HOSTS = {"hooks.slack.com", "hooks.slack-gov.com"}


class ResponseUrlError(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"response_url answered {status}: {body[:100]}")
        self.status = status


def classify(exc: Exception) -> float | None:
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status == 429:
            return float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
        return 0.0 if status >= 500 else None
    if isinstance(exc, ResponseUrlError):
        return 1.0 if exc.status == 429 else 0.0 if exc.status >= 500 else None
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
        return 0.0
    return None


def client_for(channel) -> AsyncWebClient:
    base = channel.api_base_url or AsyncWebClient.BASE_URL
    return AsyncWebClient(token=channel.bot_token, base_url=base if base.endswith("/") else base + "/")


def caller():
    """call(fn, **kwargs): one Web API call, retried on rate limits and server errors."""
    return lambda fn, **kw: with_retries(lambda: fn(**kw), classify, what=f"slack {fn.__name__}")


def checked_response_url(channel, url) -> str:
    """A response_url we may post to: Slack's hooks host, or the host of the configured API base
    (a local Slack stand-in); anything else would make a signed form a way to reach other hosts."""
    host = urlsplit(url).hostname if isinstance(url, str) else None
    allowed = RESPONSE_HOSTS | ({urlsplit(channel.api_base_url).hostname} if channel.api_base_url else set())
    if not host or host not in allowed or not url.startswith(("https://", "http://")):
        raise Invalid("'response_url' must be a Slack hooks URL.")
    return url


async def respond(url: str, **payload) -> None:
    """Post a message to an interaction's response_url (valid 30 minutes, 5 posts)."""
    async def post():
        resp = await AsyncWebhookClient(url, timeout=10).send(**payload)
        if resp.status_code >= 400:
            raise ResponseUrlError(resp.status_code, resp.body or "")

    await with_retries(post, classify, what="slack response_url")


def csv_text(dataframe: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(dataframe["columns"])
    writer.writerows(dataframe["data"])
    return buf.getvalue()


async def attachments(call, client: AsyncWebClient, channel: str, thread: str | None, reply: Reply) -> None:
    if reply.chart_png:
        await call(client.files_upload_v2, channel=channel, thread_ts=thread, file=reply.chart_png,
                   filename="chart.png", title="Chart")
    if needs_csv(reply):
        await call(client.files_upload_v2, channel=channel, thread_ts=thread, content=csv_text(reply.dataframe),
                   filename="result.csv", title="Full result")


def _account(channel) -> str:
    return f"slack:{channel.bot_token}"


async def bot_user_id(app, channel) -> str:
    """The bot's own user id: how replies in its threads (and its own messages) are recognised."""
    return (await client_for(channel).auth_test())["user_id"]


identity_source("slack", _account, bot_user_id)
