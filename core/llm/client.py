"""A chat-completions client for any OpenAI-compatible server, with our own retry policy.

It POSTs the OpenAI wire format with the small keep-alive client in `http.py`: the openai
package's request building, transport adapter and response models cost about four times the CPU
of the request itself, aiohttp's client about twice, and a question makes two calls.

429 (honouring Retry-After, capped), 5xx, timeouts, refused connections and unusable completions
are retried with exponential backoff inside one overall deadline, then reported as one `Upstream`
sentence naming the host and the last error. An optional requests-per-minute limiter keeps
concurrent callers (table generation batches) within a model's rpm budget.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tabletalk.core import jsoncodec
from tabletalk.core.errors import Upstream
from tabletalk.core.llm.http import BadAnswer, Endpoint
from tabletalk.core.pacing import turn

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 20.0  # a server asking for longer is treated as down for this request
# Client errors that retrying cannot fix, with what the operator should check.
REFUSAL_HINTS = {
    400: "the request was rejected",
    401: "check the API key",
    403: "the API key may not use this model",
    404: "check the base URL and the model name",
    422: "the request was rejected",
}
RETRYABLE_4XX = frozenset({408, 409, 425, 429})
# JSON that is not a completion shows up as ValueError (bad JSON), LookupError, AttributeError or TypeError.
_FAILURES = (OSError, BadAnswer, asyncio.TimeoutError, ValueError, LookupError, AttributeError, TypeError)

class _Status(Exception):
    """A non-2xx answer from the model server."""

    def __init__(self, status: int, reason: str, retry_after: str | None):
        super().__init__(f"{status} {reason}")
        self.status, self.reason, self.retry_after = status, reason, retry_after

@dataclass
class Completion:
    text: str
    model: str
    duration_s: float  # wall time of the whole call, retries and waits included
    usage: dict = field(default_factory=dict)
    attempts: int = 1

class RateLimiter:
    """Token bucket for call starts: `rpm` per minute on average, up to `burst` at once.

    The default burst is one second's share of the budget, because providers often enforce a
    per-minute limit per second. Waiters reserve their slot on arrival, so they start in order and
    sleep concurrently; concurrent callers (table generation batches) share the one budget.
    """

    def __init__(self, rpm: int, *, burst: int | None = None, per: float = 60.0):
        self.rpm = max(0, int(rpm or 0))
        self.rate = self.rpm / per  # tokens per second
        self.capacity = float(burst or max(1, int(self.rate)))
        self._tokens = self.capacity
        self._stamp = time.monotonic()

    async def wait(self) -> None:
        if not self.rate:
            return
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1.0  # below zero: a reservation on tokens still to come
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / self.rate)

class LLMClient:
    """One model endpoint. `timeout` bounds each attempt, `deadline` the whole call."""

    def __init__(self, base_url: str | None, api_key: str | None, model: str, *, timeout: float = 30.0,
                 retries: int = 3, rpm: int = 0, backoff: float = 0.5, deadline: float | None = None):
        self.base_url = (base_url or "https://api.openai.com/v1").rstrip("/")
        self.model = model
        self.timeout = timeout
        self.retries = max(1, retries)
        self.backoff = backoff
        self.deadline = deadline if deadline is not None else self.timeout * self.retries + 10.0
        self.limiter = RateLimiter(rpm)
        self._headers = {"Authorization": f"Bearer {api_key or 'not-needed'}", "Content-Type": "application/json"}
        self._endpoint: Endpoint | None = None
        self._loop = None  # connections belong to the event loop that opened them

    def __repr__(self) -> str:  # never the key
        return f"LLMClient(host={self.host!r}, model={self.model!r})"

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc or "the model server"

    async def complete(self, messages: list[dict], *, model: str | None = None, temperature: float = 0.0,
                       max_tokens: int | None = None) -> Completion:
        """The assistant's reply to `messages`, or Upstream once retries or the deadline run out."""
        model = model or self.model
        body = {"model": model, "messages": messages, "temperature": temperature}
        if max_tokens:
            body["max_tokens"] = max_tokens
        return await self._retrying(model, "/chat/completions", body,
                                    lambda resp, spent, attempt: _completion(resp, model, spent, attempt))

    async def embed(self, texts: list[str], *, model: str) -> list[list[float]]:
        """One embedding vector per text (same retry policy as completions)."""
        body = {"model": model, "input": texts}

        def parse(resp: dict, spent: float, attempt: int) -> list[list[float]]:
            vectors = [d["embedding"] for d in sorted(resp["data"], key=lambda d: d["index"])]
            if len(vectors) != len(texts):
                raise ValueError("the embedding count does not match the inputs")
            return vectors

        return await self._retrying(model, "/embeddings", body, parse)

    async def _retrying(self, model: str, path: str, body: dict, parse):
        started = time.monotonic()
        ends = started + self.deadline
        queued = 0.0  # time spent waiting for the rpm budget: neither the model's fault nor its time
        last = "no answer"
        attempt = 0
        while attempt < self.retries:
            attempt += 1
            t0 = time.monotonic()
            await self.limiter.wait()
            queued += time.monotonic() - t0
            ends += time.monotonic() - t0
            left = ends - time.monotonic()
            try:
                async with asyncio.timeout(min(self.timeout, left)):  # no extra task, unlike wait_for
                    resp = await self._post(path, body)
                return parse(resp, time.monotonic() - started - queued, attempt)
            except _Status as exc:
                last, wait = self._refusal_or_retry(exc)
            except _FAILURES as exc:
                last, wait = _failure(exc, min(self.timeout, left)), 0.0
            log.info("LLM call to %s (%s) attempt %d/%d failed: %s", self.host, model, attempt, self.retries, last)
            if attempt >= self.retries:
                break
            delay = max(wait, self.backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2))
            if time.monotonic() + delay >= ends:
                break  # waiting would outlive the deadline: fail now rather than late
            await asyncio.sleep(delay)
        within = "" if attempt >= self.retries else f" within {self.deadline:g} s"
        tries = f"{attempt} attempt" + ("s" if attempt != 1 else "")
        raise Upstream(f"The language model at {self.host} did not answer after {tries}{within} (last error: {last}).")

    def _refusal_or_retry(self, exc: _Status) -> tuple[str, float]:
        """What the status means and how long the server asked us to wait; raises if retrying cannot help."""
        last = f"{exc.status} {exc.reason}"
        if exc.status < 500 and exc.status not in RETRYABLE_4XX:
            hint = REFUSAL_HINTS.get(exc.status, "the request was rejected")
            raise Upstream(f"The language model at {self.host} refused the request ({last}): {hint}.") from None
        return last, _retry_after(exc.retry_after)

    async def _post(self, path: str, body: dict) -> dict:
        loop = asyncio.get_running_loop()
        if self._endpoint is None or self._loop is not loop:
            try:
                self._endpoint, self._loop = Endpoint(self.base_url), loop
            except ValueError:
                raise Upstream(f"The language model's base URL is not an http(s) URL: {self.base_url!r}.") from None
        resp = await self._endpoint.request("POST", path, self._headers, jsoncodec.dumps_bytes(body))
        if resp.status >= 300:
            raise _Status(resp.status, resp.reason or "error", resp.headers.get("retry-after"))
        await turn()  # model answers arriving together are worked on a few per loop iteration
        data = jsoncodec.loads(resp.body)
        if not isinstance(data, dict):
            raise TypeError("the answer is not a JSON object")
        return data

    async def close(self) -> None:
        if self._endpoint is not None:
            self._endpoint.close()
            self._endpoint = None

def _completion(resp: dict, model: str, duration: float, attempt: int) -> Completion:
    choices = resp.get("choices") or []
    text = (choices[0]["message"].get("content") or "") if choices else ""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the completion was empty")
    usage = resp.get("usage") if isinstance(resp.get("usage"), dict) else {}
    return Completion(text, resp.get("model") or model, duration, usage, attempt)

def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value or "0")
    except (TypeError, ValueError):  # an HTTP date: use our backoff
        seconds = 0.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)

# What a transport failure was, judged from the whole exception chain.
_TRANSPORT_CAUSES = (
    (("ConnectionRefusedError",), ("Connect call failed", "Connection refused"), "connection refused"),
    (("Disconnected", "ConnectionResetError", "BrokenPipeError"), ("Server disconnected",),
     "the server closed the connection"),
    (("SSLCertVerificationError",), ("CERTIFICATE_VERIFY_FAILED",), "its TLS certificate is not trusted"),
    (("gaierror", "SSLError"), ("Name or service not known",), "could not connect"),
    (("BadAnswer",), (), "the answer was not HTTP"),
)

def _failure(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (OSError, BadAnswer, asyncio.TimeoutError)):
        return _transport_error(exc, timeout)
    return f"unusable answer ({_short(exc)})"  # garbage JSON, no choices, empty content

def _transport_error(exc: BaseException, timeout: float) -> str:
    chain, seen = [], exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    for names, texts, meaning in _TRANSPORT_CAUSES:
        if any(type(e).__name__ in names or any(t in str(e) for t in texts) for e in chain):
            return meaning
    return f"no answer within {timeout:g} s"

def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:80] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
