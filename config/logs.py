"""No secret in any log line: every record is redacted as it is made, whichever library logs it.

Third-party clients print request URLs and headers (httpx logs every Telegram call as
`…/bot<token>/sendMessage` at INFO; slack_sdk and lark log headers at DEBUG). A log-record factory
rewrites the message and any traceback of every record before a handler sees it — a filter on
one handler would miss handlers added later (pytest's, a deployment's) — removing token-shaped
strings and every secret value the service has opened (`remember`). Installed once per process.
"""
from __future__ import annotations

import logging
import re
import threading

MASK = "***"
MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words
PATTERNS = [
    (re.compile(r"(/bot)\d+:[A-Za-z0-9_-]+"), r"\1" + MASK),  # Telegram Bot API URLs
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|token)?\s*)[^\s'\",}]+"), r"\1" + MASK),
    (re.compile(r"(?i)((?:x-telegram-bot-api-secret-token|x-api-key|api[_-]?key|app_secret|signing_secret|"
                r"encrypt_key|verification_token|secret_token|password|tenant_access_token|access_token)"
                r"['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"), r"\1" + MASK),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{6,}"), MASK),  # Slack tokens
    (re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"), MASK),  # OpenAI-style keys
    (re.compile(r"\btt_[A-Za-z0-9_-]{16,}"), MASK),  # TableTalk API keys
]
# Loggers that print a line per HTTP request (with its URL) at INFO.
QUIET = ("httpx", "httpcore", "urllib3", "hpack")

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False
_pattern: re.Pattern | None = None


def remember(*values: object) -> None:
    """Secrets opened by the service (tokens, keys, passwords): masked wherever they appear in a log line."""
    global _pattern
    fresh = {str(v) for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH} - _secrets
    if not fresh:
        return
    with _lock:
        _secrets.update(fresh)
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))


def redact_text(text: str) -> str:
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for regex, replacement in PATTERNS:
        text = regex.sub(replacement, text)
    return text


def install() -> None:
    """Redact every log record from now on, and quiet the per-request loggers (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it to the handler to report
            return record
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
