"""A chat-completions client for any OpenAI-compatible server, with our own retry policy:
429 (honouring Retry-After), 5xx, timeouts, connection errors and garbage completions are
retried with backoff, then reported as one clear `Upstream` error. An optional requests-per-minute
limiter spaces calls for providers with an rpm budget."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletion

from tabletalk.core.errors import Upstream

log = logging.getLogger(__name__)
MAX_RETRY_AFTER = 20.0


@dataclass
class Completion:
    text: str
    model: str
    duration_s: float
    usage: dict = field(default_factory=dict)


class RateLimiter:
    """Spaces call starts so no more than `rpm` begin in any minute (0 = unlimited)."""

    def __init__(self, rpm: int):
        self.interval = 60.0 / rpm if rpm > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class LLMClient:
    def __init__(self, base_url: str | None, api_key: str | None, model: str, *, timeout: float = 30.0,
                 retries: int = 3, rpm: int = 0, backoff: float = 0.5):
        self.base_url = base_url
        self.model = model
        self.timeout = timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self.limiter = RateLimiter(rpm)
        # aiohttp transport: httpx's pool scans every connection per request, which costs O(n²) CPU
        # under hundreds of concurrent calls; aiohttp's connector does not.
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout,
                                          max_retries=0, http_client=openai.DefaultAioHttpClient(timeout=timeout))

    @property
    def host(self) -> str:
        return urlsplit(self.base_url or "https://api.openai.com").netloc or "the model server"

    async def complete(self, messages: list[dict], *, model: str | None = None, temperature: float = 0.0,
                       max_tokens: int | None = None) -> Completion:
        model = model or self.model
        last = "no answer"
        started = time.perf_counter()
        for attempt in range(1, self.retries + 1):
            await self.limiter.wait()
            attempt_started = time.perf_counter()
            delay = self.backoff * (2 ** (attempt - 1)) * (0.8 + 0.4 * random.random())
            try:
                kwargs = {"model": model, "messages": messages, "temperature": temperature}
                if max_tokens:
                    kwargs["max_tokens"] = max_tokens
                # The client's generic `post` skips the per-call TypedDict transform of `create(...)`,
                # which costs more CPU than the rest of a question under heavy concurrency.
                resp = await asyncio.wait_for(self._client.post("/chat/completions", body=kwargs, cast_to=ChatCompletion),
                                              self.timeout + 1)
                text = (resp.choices[0].message.content or "") if resp.choices else ""
                if not text.strip():
                    raise ValueError("the completion was empty")
                usage = resp.usage.model_dump() if getattr(resp, "usage", None) else {}
                return Completion(text, resp.model or model, time.perf_counter() - started, usage)
            except openai.RateLimitError as exc:
                last = "429 Too Many Requests"
                delay = max(delay, _retry_after(exc))
            except openai.APIStatusError as exc:
                last = f"{exc.status_code} {_reason(exc)}"
                if exc.status_code < 500 and exc.status_code not in (408, 409):
                    raise Upstream(f"The language model at {self.host} refused the request: {last}.") from None
            except (openai.APITimeoutError, asyncio.TimeoutError):
                # Some transports report a refused connection as a timeout: tell them apart by the clock.
                quick = time.perf_counter() - attempt_started < self.timeout / 2
                last = "connection failed" if quick else f"no answer within {self.timeout:g} s"
            except openai.APIConnectionError:
                last = "connection failed"
            except (openai.APIError, ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
                last = f"unusable answer ({type(exc).__name__})"
            log.info("LLM call attempt %d/%d failed: %s", attempt, self.retries, last)
            if attempt < self.retries:
                await asyncio.sleep(delay)
        raise Upstream(f"The language model at {self.host} did not answer after {self.retries} attempts (last error: {last}).")

    async def close(self) -> None:
        await self._client.close()


def _retry_after(exc: openai.APIStatusError) -> float:
    try:
        value = float(exc.response.headers.get("retry-after", "0"))
    except (TypeError, ValueError):
        value = 0.0
    return min(max(value, 0.0), MAX_RETRY_AFTER)


def _reason(exc: openai.APIStatusError) -> str:
    try:
        return exc.response.reason_phrase or "error"
    except AttributeError:
        return "error"
